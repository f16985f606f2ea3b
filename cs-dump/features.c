/*
 * The features of a dump (lib/imgfeatures.h): which image semantics this
 * dump used, read from what was collected and written, so that the
 * inventory names exactly those, and a cs-restore that does not know one
 * refuses the images instead of restoring them in part.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_PREFIX "features: "
#include "log.h"
#include "util.h"
#include "imgfeatures.h"
#include "sk-rawopts.h"
#include "dump.h"
#include "inventory.pb-c.h"

static int sums_have(const struct img_sums *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->names[i], name))
			return 1;
	return 0;
}

/* The fd-borne features of one process, or-ed into *f (bits of enum cs_feature). */
static void fd_features(const struct dump_ctx *p, uint32_t *f)
{
	for (size_t i = 0; i < p->nr_fds; i++) {
		const FdEntry *e = p->fds[i];

		if (e->type == 26 || e->type == 27)	/* FD_PTY_MASTER, FD_PTY_SLAVE */
			*f |= 1u << CS_FEAT_PTY;
		if (e->type == 180)	/* FD_PIDFD */
			*f |= 1u << CS_FEAT_PIDFD;
		if (e->type == 200)	/* FD_NETLINK */
			*f |= 1u << CS_FEAT_NETLINK;
		if (e->type == 220)	/* FD_PACKET */
			*f |= 1u << CS_FEAT_PACKET;
		if (e->usk && e->usk->has_ext_peer)
			*f |= 1u << CS_FEAT_EXT_UNIX_SK;
		if (e->usk && (e->usk->n_icons || e->usk->has_icon_listener))
			*f |= 1u << CS_FEAT_UNIX_ICONS;
		if (e->usk && e->usk->xproc)
			*f |= 1u << CS_FEAT_UNIX_XPROC;
		if (e->sk && e->sk->tcp) {
			*f |= 1u << CS_FEAT_TCP_ESTABLISHED;
			if (e->sk->tcp->our_fin || e->sk->tcp->peer_fin)
				*f |= 1u << CS_FEAT_TCP_HALF_CLOSED;
		}
		/* an older cs-restore would make a UDP or TCP socket of them */
		if (e->sk && sk_rawkind(e->sk->family, e->sk->type, e->sk->proto))
			*f |= 1u << CS_FEAT_RAW_SOCKETS;
		if (e->sk && e->sk->has_closed_rcvq)
			*f |= 1u << CS_FEAT_TCP_HALF_CLOSED;
	}
}

int dump_features(struct dump_ctx *c, InventoryEntry *inv)
{
	static char *names[CS_FEAT_NR + 1];
	const char *extra = getenv("CS_TEST_FEATURE");
	uint32_t f = 0;
	size_t n = 0;

	if (inv->has_pidns && inv->pidns)
		f |= 1u << CS_FEAT_PIDNS;
	if (inv->netlock_table)
		f |= 1u << CS_FEAT_NETLOCK;
	if (inv->parent)
		f |= 1u << CS_FEAT_INCREMENTAL;
	if (sums_have(&c->sums, "cgroup.img"))
		f |= 1u << CS_FEAT_CGROUP;
	if (sums_have(&c->sums, "timens.img"))
		f |= 1u << CS_FEAT_TIMENS;
	if (sums_have(&c->sums, "shmem.img"))
		f |= 1u << CS_FEAT_SHMEM;
	for (size_t i = 0; c->tree && i < c->tree->nr; i++) {
		const struct dump_ctx *p = c->tree->n[i].c;

		if (!p)
			continue;	/* a zombie holds nothing */
		if (p->nr_ghosts)
			f |= 1u << CS_FEAT_GHOST_FILES;
		for (size_t g = 0; g < p->nr_ghosts; g++)
			if (p->ghosts[g]->n_vmas || p->ghosts[g]->exe)
				f |= 1u << CS_FEAT_GHOST_MAPS;
		for (size_t g = 0; g < p->nr_ghosts; g++)
			if (p->ghosts[g]->link_remap)
				f |= 1u << CS_FEAT_LINK_REMAP;	/* linkremap.c */
		if (p->nr_locks)
			f |= 1u << CS_FEAT_FILE_LOCKS;
		for (size_t k = 0; p->cores && p->proc && k < p->proc->n_threads; k++)
			if (p->cores[k] && p->cores[k]->creds)
				f |= 1u << CS_FEAT_THREAD_CREDS;
		fd_features(p, &f);
	}
	for (size_t i = 0; i < CS_FEAT_NR; i++)
		if (f & (1u << i))
			names[n++] = (char *)cs_features[i].name;
	/* test hook: a feature this checksync does not know, as a newer one would write */
	if (extra && *extra) {
		pr_warn("CS_TEST_FEATURE: the inventory names feature '%s' too", extra);
		names[n++] = (char *)extra;
	}
	inv->features = names;
	inv->n_features = n;
	{
		char list[512] = "";
		size_t l = 0;

		for (size_t i = 0; i < n && l < sizeof(list); i++)
			l += snprintf(list + l, sizeof(list) - l, "%s%s", i ? " " : "", names[i]);
		pr_info("the images need: %s", n ? list : "no feature");
	}
	return 0;
}
