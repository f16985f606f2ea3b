/*
 * Netlink sockets (netlink(7)): rtnetlink and uevent listeners, generic
 * netlink clients. What the kernel keeps for one is its protocol and type,
 * its address (portid), its multicast groups, the address it is connected
 * to, a few flags and the usual socket options: all of it is read here,
 * from sock_diag's NETLINK_DIAG (lib/sockdiag.h) and from getsockopt(2) on
 * our pidfd_getfd copy, and made again by cs-restore/sk-netlink.c.
 *
 * What cannot be made again is refused, naming the fd: a dump the kernel
 * is in the middle of sending (NDIAG_FLAG_CB_RUNNING: its state lives in
 * the kernel's callback), unread messages in kill mode (nothing puts a
 * message from the kernel back into a queue, and without reading them
 * cs-dump cannot tell a multicast notification from a reply to one of the
 * process's own requests: see cs-dump(8)), memory-mapped rings, an
 * NFQUEUE queue or NFLOG group bound to the socket's portid.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/netlink_diag.h>

#define LOG_PREFIX "netlink: "
#include "log.h"
#include "util.h"
#include "sockdiag.h"
#include "sk-opts.h"
#include "dump.h"
#include "sockets.h"

#define NL_CONNECTED 1	/* sk_state after connect(2) (net/netlink/af_netlink.c NETLINK_CONNECTED) */

static int int_opt(int sk, int level, int name, int *v)
{
	socklen_t l = sizeof(*v);

	*v = 0;
	return getsockopt(sk, level, name, v, &l);
}

/*
 * A flag of the socket by getsockopt(SOL_NETLINK): they all read back
 * (netlink_getsockopt). NETLINK_DIAG_FLAGS lacks EXT_ACK and STRICT_CHK
 * on 6.18 (measured), so it is not used for them. An option this kernel
 * does not know (ENOPROTOOPT) is left out of the image.
 */
static void nl_flag(int sk, int name, protobuf_c_boolean *has, protobuf_c_boolean *val)
{
	int v;

	if (int_opt(sk, SOL_NETLINK, name, &v))
		return;
	*has = 1;
	*val = !!v;
}

/*
 * A netfilter socket that an NFQUEUE queue or an NFLOG group is bound to:
 * the kernel keeps the binding for the portid and drops it when the socket
 * closes (nfnetlink_queue.c and nfnetlink_log.c, NETLINK_URELEASE), so the
 * restored socket would have none. Their /proc files (per network
 * namespace) list each instance as "number portid ..." (instance_seq_show,
 * seq_show). Returns 0, or -1 (logged, naming the queue or group).
 */
static int nf_bound(pid_t pid, uint32_t portid, const char *what)
{
	static const struct { const char *file, *kind; } t[] = {
		{ "nfnetlink_queue", "NFQUEUE queue" },
		{ "nfnetlink_log", "NFLOG group" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		char path[96], line[256];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/net/netfilter/%s", pid, t[i].file);
		f = fopen(path, "re");
		if (!f)
			continue;	/* not built in or loaded: nothing can be bound */
		while (fgets(line, sizeof(line), f)) {
			unsigned num, peer;

			if (sscanf(line, "%u %u", &num, &peer) == 2 && peer == portid) {
				fclose(f);
				return pr_err("%s, portid %u) is bound to %s %u (%s): the kernel drops the binding "
					      "with the socket and cs-restore cannot make it again; not supported",
					      what, portid, t[i].kind, num, path);
			}
		}
		fclose(f);
	}
	return 0;
}

/* The group bitmap into n->groups, its trailing zero words left out. 0 or -1 (logged). */
static int save_groups(NetlinkSkEntry *n, const uint32_t *g, size_t words)
{
	while (words && !g[words - 1])
		words--;
	if (!words)
		return 0;
	n->groups = xmalloc(words * sizeof(uint32_t));
	if (!n->groups)
		return -1;
	memcpy(n->groups, g, words * sizeof(uint32_t));
	n->n_groups = words;
	return 0;
}

int dump_netlink(struct dump_ctx *c, int fd, FdEntry *e, int sk)
{
	NetlinkSkEntry *n = xzalloc(sizeof(*n));
	struct sockaddr_nl a;
	socklen_t al = sizeof(a);
	struct nl_diag d;
	int proto, type, r;
	char what[80];

	if (!n)
		return -1;
	netlink_sk_entry__init(n);
	e->nlsk = n;
	if (int_opt(sk, SOL_SOCKET, SO_PROTOCOL, &proto) || int_opt(sk, SOL_SOCKET, SO_TYPE, &type))
		return pr_perror("cannot read the protocol of fd %d (netlink socket)", fd);
	snprintf(what, sizeof(what), "fd %d (netlink %s socket", fd, netlink_proto_name(proto));
	n->protocol = proto;
	n->type = type;
	memset(&a, 0, sizeof(a));
	if (getsockname(sk, (struct sockaddr *)&a, &al))
		return pr_perror("cannot read the address of %s)", what);
	n->portid = a.nl_pid;

	r = sockdiag_netlink(proto, e->ino, &d);
	if (r < 0)
		return -1;
	if (r == 0) {
		if (d.portid != n->portid)
			return pr_err("%s): sock_diag says portid %u, getsockname %u", what, d.portid, n->portid);
		if (d.has_ring)
			return pr_err("%s, portid %u) has a memory-mapped ring (NETLINK_RX_RING/TX_RING): "
				      "not supported", what, n->portid);
		if (d.flags & NDIAG_FLAG_CB_RUNNING)
			return pr_err("%s, portid %u) is in the middle of a dump the kernel sends in parts "
				      "(NDIAG_FLAG_CB_RUNNING): its state is in the kernel and cannot be made "
				      "again; dump the process once it has read the whole answer", what, n->portid);
		if (d.groups_cut)
			return pr_err("%s, portid %u) is a member of a group above 1024: not supported",
				      what, n->portid);
		if (save_groups(n, d.groups, d.n_groups))
			return -1;
		if (proto == NETLINK_NETFILTER && n->portid && nf_bound(c->pid, n->portid, what))
			return -1;
		n->has_dst_portid = n->has_dst_group = n->has_connected = 1;
		n->dst_portid = d.dst_portid;
		n->dst_group = d.dst_group;
		n->connected = d.state == NL_CONNECTED;
		if (d.rmem && !c->leave_running)
			return pr_err("%s, portid %u) has %u bytes of messages not read yet "
				      "(SK_MEMINFO_RMEM_ALLOC): notifications or replies, which cannot be put back; "
				      "dump the process again once it has read them", what, n->portid, d.rmem);
		if (d.rmem)
			pr_warn("%s, portid %u): %u bytes of messages not read yet are left to the running "
				"process, not in the image", what, n->portid, d.rmem);
	} else {
		/* neither bound nor in a group: in no table NETLINK_DIAG walks.
		 * Not bound means never connected nor sent on (both bind it). */
		uint32_t g[32];
		socklen_t gl = sizeof(g);
		int member = 0;

		memset(g, 0, sizeof(g));
		if (getsockopt(sk, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, g, &gl) == 0)
			for (size_t i = 0; i < ARRAY_SIZE(g) && i < gl / 4; i++)
				member |= !!g[i];
		if (n->portid || member)
			return pr_err("%s, portid %u) is not found by sock_diag in this network namespace "
				      "(made in another one?): not supported", what, n->portid);
	}
	{
		char fwhat[96];

		snprintf(fwhat, sizeof(fwhat), "%s, portid %u)", what, n->portid);
		if (sk_opts_filter_refuse(sk, fwhat))
			return -1;
	}
	nl_flag(sk, NETLINK_PKTINFO, &n->has_pktinfo, &n->pktinfo);
	nl_flag(sk, NETLINK_BROADCAST_ERROR, &n->has_broadcast_error, &n->broadcast_error);
	nl_flag(sk, NETLINK_NO_ENOBUFS, &n->has_no_enobufs, &n->no_enobufs);
	nl_flag(sk, NETLINK_LISTEN_ALL_NSID, &n->has_listen_all_nsid, &n->listen_all_nsid);
	nl_flag(sk, NETLINK_CAP_ACK, &n->has_cap_ack, &n->cap_ack);
	nl_flag(sk, NETLINK_EXT_ACK, &n->has_ext_ack, &n->ext_ack);
	nl_flag(sk, NETLINK_GET_STRICT_CHK, &n->has_strict_chk, &n->strict_chk);
	n->opts = sk_opts_save(sk, 0);
	if (!n->opts)
		return pr_err("cannot read the options of %s)", what);
	pr_info("%s): portid %u, %zu group word(s), connected %d to %u/%u", what, n->portid, n->n_groups,
		n->connected, n->dst_portid, n->dst_group);
	return 0;
}
