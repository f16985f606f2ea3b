/*
 * The network lock on the restore side (--network-lock, lib/netlock.h).
 *
 * Between the check phase and the moment the connections exist again, a
 * packet from a peer finds no socket and is answered with a RST. The dump's
 * table covers that on the host that dumped; on another host (a failover)
 * nothing does, so cs-restore takes a lock of its own on every kept
 * connection before it creates anything, and removes it, together with the
 * dump's table when it is on this host, once the connections are out of
 * repair mode. A restore that fails removes its own table only: the dump's
 * stays, holding the peers, for the next try.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define LOG_PREFIX "netlock: "
#include "log.h"
#include "util.h"
#include "restore.h"
#include "sockets.h"
#include "netlock.h"

int rst_netlock_take(struct rst_tree *t, struct netlock **out)
{
	struct netlock *nl = NULL;
	char what[64];

	*out = NULL;
	for (size_t i = 0; i < t->nr; i++) {
		struct rst_ctx *p = t->p[i];

		if (p->proc->zombie)
			continue;
		for (size_t j = 0; j < p->nr_fds; j++) {
			const FdEntry *e = p->fds[j];
			const InetSkEntry *s = e->sk;
			size_t alen = s && s->family == AF_INET ? 4 : 16;

			if (!is_tcp_est(e))
				continue;
			if (s->src_addr.len != alen || s->dst_addr.len != alen || s->src_port > 65535 ||
			    s->dst_port > 65535) {
				netlock_remove(nl);
				return pr_err("process %d fd %u: the image holds a malformed TCP address", p->pid, e->fd);
			}
			if (!nl && !(nl = netlock_create('r')))
				return -1;
			snprintf(what, sizeof(what), "process %d fd %u (TCP connection)", p->pid, e->fd);
			if (netlock_add(nl, s->family, s->src_addr.data, s->src_port, s->dst_addr.data, s->dst_port,
					what)) {
				netlock_remove(nl);
				return -1;
			}
		}
	}
	if (nl)
		pr_info("table inet %s holds %zu connection(s) while they are made", netlock_name(nl),
			netlock_count(nl));
	*out = nl;
	return 0;
}

int rst_netlock_release(struct netlock *own, const InventoryEntry *inv, int done)
{
	int r;

	/* on the host that dumped: both in one transaction, when the dump's is here */
	if (done && own && inv->netlock_table && netlock_name_ok(inv->netlock_table) &&
	    netlock_remove_with(own, inv->netlock_table) == 0) {
		pr_info("the dump's table inet %s is removed", inv->netlock_table);
		return 0;
	}
	r = netlock_remove(own);
	if (!done || !inv->netlock_table)
		return r;
	switch (netlock_remove_named(inv->netlock_table)) {
	case 1:
		pr_info("the dump's table inet %s is removed", inv->netlock_table);
		break;
	case 0:
		pr_info("the dump's table inet %s is not on this host", inv->netlock_table);
		break;
	default:
		r = -1;
	}
	return r;
}
