/*
 * Connections not accepted yet on a listening unix socket of the tree
 * (stream, seqpacket). connect(2) makes the server's end at once, an
 * "embryo" without an inode, and queues it on the listener until accept(2)
 * takes it; what the client sends meanwhile waits in the embryo's receive
 * queue. sock_diag lists, per listener, the inodes of the clients in accept
 * order (UNIX_DIAG_ICONS). A client of the tree is saved in its listener's
 * entry, so that cs-restore connects it again in the same order; a client
 * outside the tree is lost, with a warning, as the bytes it sent are.
 *
 * The embryo's queue can be read only by accepting it, which takes it from
 * the process for good: this is done only when the tree is killed after
 * the dump, as late as possible (unix_icons_take), and refused under -R.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define LOG_PREFIX "sockets: "
#include "log.h"
#include "util.h"
#include "sockdiag.h"
#include "sockets.h"

struct lsn {
	FdEntry *e;
	pid_t pid;
	int sk;			/* our copy of the listener, -1 once closed */
	uint32_t *icons;	/* client inodes, accept order */
	size_t n_icons;
	size_t *icon_of;	/* by place in icons: index in e->usk->icons + 1, 0: not saved */
	size_t need;		/* places to accept for their data: up to the last with data, 0: none */
	size_t taken;		/* places unix_icons_take accepted */
};
static struct lsn *lsns;
static size_t nr_lsns;

static const char *tname(unsigned type)
{
	return type == SOCK_STREAM ? "stream" : type == SOCK_SEQPACKET ? "seqpacket" : "dgram";
}

int unix_icons_listener(struct dump_ctx *c, int fd, FdEntry *e, const struct unix_diag *d, int sk)
{
	struct lsn *n, *l;

	if (!d->n_icons || d->type == SOCK_DGRAM)
		return 0;
	n = xrealloc(lsns, (nr_lsns + 1) * sizeof(*lsns));
	if (!n)
		return -1;
	lsns = n;
	l = &lsns[nr_lsns];
	memset(l, 0, sizeof(*l));
	l->e = e;
	l->pid = c->pid;
	l->icons = xmalloc(d->n_icons * sizeof(*l->icons));
	l->icon_of = xzalloc(d->n_icons * sizeof(*l->icon_of));
	if (!l->icons || !l->icon_of) {
		free(l->icons);
		free(l->icon_of);
		return -1;
	}
	memcpy(l->icons, d->icons, d->n_icons * sizeof(*l->icons));
	l->n_icons = d->n_icons;
	l->sk = fcntl(sk, F_DUPFD_CLOEXEC, 0);
	if (l->sk < 0) {
		free(l->icons);
		free(l->icon_of);
		return pr_perror("fd %d (unix %s listener): cannot keep a copy", fd, tname(d->type));
	}
	nr_lsns++;
	return 0;
}

/* The embryo's shutdown bits, as the client's shutdown(2) set them. */
static uint32_t mirror(uint32_t sd)
{
	return ((sd & 1) << 1) | ((sd & 2) >> 1);
}

int unix_icons_check(struct dump_ctx *root)
{
	for (size_t i = 0; i < nr_lsns; i++) {
		struct lsn *l = &lsns[i];
		UnixSkEntry *s = l->e->usk;
		uint32_t lost = 0;

		if (l->e->has_peer_fd || l->e->has_from_pid) {
			/* another fd of the same listener: that one's entry has them */
			l->n_icons = 0;
			continue;
		}
		for (size_t k = 0; k < l->n_icons; k++) {
			const struct unix_diag *cd;
			UnixIconEntry *ic, **arr;
			FdEntry *ce;
			pid_t cpid;

			ce = l->icons[k] ? unix_fd_by_ino(l->icons[k], &cd, &cpid) : NULL;
			if (!ce || cd->type != s->type || cd->state != TCP_ESTABLISHED || cd->peer ||
			    ce->usk->has_icon_listener) {
				lost++;
				continue;
			}
			if (cd->wqueue && root->leave_running)
				return pr_err("fd %u of process %d (unix %s socket, inode %llu) has sent data into its "
					      "connection to listener fd %u of process %d, which is not accepted yet: "
					      "it can be read only by accepting it: not supported with -R",
					      ce->fd, cpid, tname(cd->type), (unsigned long long)cd->ino, l->e->fd,
					      l->pid);
			ic = xzalloc(sizeof(*ic));
			arr = xrealloc(s->icons, (s->n_icons + 1) * sizeof(*arr));
			if (!ic || !arr) {
				free(ic);
				if (arr)
					s->icons = arr;
				return -1;
			}
			unix_icon_entry__init(ic);
			s->icons = arr;
			s->icons[s->n_icons++] = ic;
			l->icon_of[k] = s->n_icons;
			ic->client_ino = cd->ino;
			ic->client_fd = ce->fd;
			if (cd->shutdown) {
				ic->has_shutdown = 1;
				ic->shutdown = mirror(cd->shutdown);
			}
			if (cd->wqueue)
				l->need = k + 1;
			/* not a closed peer: a connection waiting to be accepted */
			ce->usk->has_peer_closed = ce->usk->peer_closed = 0;
			ce->usk->has_icon_listener = 1;
			ce->usk->icon_listener = l->e->ino;
			pr_info("fd %u of %d: connection %zu of %zu not accepted yet on listener fd %u of %d%s", ce->fd,
				cpid, k + 1, l->n_icons, l->e->fd, l->pid, cd->wqueue ? ", with data sent" : "");
		}
		if (lost) {
			s->has_icons_lost = 1;
			s->icons_lost = lost;
			pr_warn("fd %u of process %d (unix %s listener, inode %llu): %u connection(s) not accepted yet "
				"from clients outside the tree are not saved", l->e->fd, l->pid, tname(s->type),
				(unsigned long long)l->e->ino, lost);
		}
	}
	/* the copies serve unix_icons_take only, for a tree that is killed */
	for (size_t i = 0; i < nr_lsns; i++)
		if (root->leave_running && lsns[i].sk >= 0) {
			close(lsns[i].sk);
			lsns[i].sk = -1;
		}
	return 0;
}

/* Accept connection k of listener l into our table; -1 (logged) if it is not there. */
static int take_one(struct lsn *l, size_t k, struct unix_diag *ad)
{
	struct pollfd p = { .fd = l->sk, .events = POLLIN };
	struct stat st;
	int a, r;

	/* the listener's file may be blocking: accept only what is there */
	if (poll(&p, 1, 0) != 1 || !(p.revents & POLLIN))
		return pr_err("fd %u of process %d (unix listener): connection %zu of %zu not accepted yet is gone",
			      l->e->fd, l->pid, k + 1, l->n_icons);
	a = accept4(l->sk, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (a < 0)
		return pr_perror("fd %u of process %d (unix listener): cannot accept connection %zu to read it",
				 l->e->fd, l->pid, k + 1);
	l->taken = k + 1;
	if (fstat(a, &st)) {
		close(a);
		return pr_perror("cannot stat an accepted unix socket");
	}
	memset(ad, 0, sizeof(*ad));
	r = sockdiag_unix(st.st_ino, ad);
	free(ad->icons);
	if (r) {
		close(a);
		return r < 0 ? -1 : pr_err("accepted unix socket inode %llu is not found by sock_diag",
					   (unsigned long long)st.st_ino);
	}
	/* a client of the tree is frozen: its connection is where it was (one
	 * outside may have gone meanwhile, leaving its connection queued) */
	if (l->icon_of[k] && ad->peer != l->icons[k]) {
		close(a);
		return pr_err("fd %u of process %d (unix listener): connection %zu not accepted yet is from socket "
			      "inode %llu, not %u as listed", l->e->fd, l->pid, k + 1, (unsigned long long)ad->peer,
			      l->icons[k]);
	}
	return a;
}

int unix_icons_take(void)
{
	for (size_t i = 0; i < nr_lsns; i++) {
		struct lsn *l = &lsns[i];
		UnixSkEntry *s = l->e->usk;

		for (size_t k = 0; k < l->need; k++) {
			struct unix_diag ad;
			UnixIconEntry *ic;
			char what[160];
			int a = take_one(l, k, &ad);

			if (a < 0)
				return -1;
			if (!l->icon_of[k]) {
				close(a);	/* a client outside the tree: lost anyway */
				continue;
			}
			ic = s->icons[l->icon_of[k] - 1];
			snprintf(what, sizeof(what), "connection of fd %u (unix %s socket) not accepted yet on fd %u "
				 "of process %d", ic->client_fd, tname(s->type), l->e->fd, l->pid);
			ic->has_shutdown = !!ad.shutdown;
			ic->shutdown = ad.shutdown;
			if (sk_peek_queue(a, s->type != SOCK_STREAM, 0, s->type == SOCK_SEQPACKET && (ad.shutdown & 1),
					  what, &ic->queue, &ic->n_queue)) {
				close(a);
				return -1;
			}
			close(a);
			pr_info("%s: taken to read its %zu queued message(s)", what, ic->n_queue);
		}
	}
	for (size_t i = 0; i < nr_lsns; i++)
		if (lsns[i].sk >= 0) {
			close(lsns[i].sk);
			lsns[i].sk = -1;
		}
	return 0;
}

void unix_icons_failed(void)
{
	for (size_t i = 0; i < nr_lsns; i++)
		if (lsns[i].taken)
			pr_warn("fd %u of process %d (unix listener): %zu connection(s) not accepted yet were taken "
				"from it to read their data and are lost to it", lsns[i].e->fd, lsns[i].pid,
				lsns[i].taken);
}
