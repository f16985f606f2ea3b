/* sock_diag through libnl (unix, netlink and packet sockets): see sockdiag.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <linux/inet_diag.h>	/* INET_DIAG_NOCOOKIE */
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <linux/netlink.h>
#include <linux/netlink_diag.h>
#include <linux/packet_diag.h>
#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>

#define LOG_PREFIX "sockdiag: "
#include "log.h"
#include "util.h"
#include "sockdiag.h"

/* Send one SOCK_DIAG_BY_FAMILY request (a dump when flags has NLM_F_DUMP)
 * and run cb on every answer. Returns 0, or -1 (logged); ENOENT from an
 * exact lookup is 1. */
static int diag_request(void *req, size_t len, int flags, nl_recvmsg_msg_cb_t cb, void *arg)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct nl_msg *msg = NULL;
	int ret = -1, err;

	if (!sk)
		return pr_err("cannot allocate a netlink socket");
	if ((err = nl_connect(sk, NETLINK_SOCK_DIAG)) < 0) {
		pr_err("cannot connect to sock_diag: %s", nl_geterror(err));
		goto out;
	}
	msg = nlmsg_alloc_simple(SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | flags);
	if (!msg || nlmsg_append(msg, req, len, NLMSG_ALIGNTO) < 0) {
		pr_err("cannot build a sock_diag request");
		goto out;
	}
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, cb, arg);
	if ((err = nl_send_auto(sk, msg)) < 0 || (err = nl_recvmsgs_default(sk)) < 0) {
		/* an exact lookup of a socket that does not exist answers ENOENT */
		if (err == -NLE_OBJ_NOTFOUND && !(flags & NLM_F_DUMP)) {
			ret = 1;
			goto out;
		}
		pr_err("sock_diag request failed: %s", nl_geterror(err));
		goto out;
	}
	ret = 0;
out:
	nlmsg_free(msg);
	nl_socket_free(sk);
	return ret;
}

struct ulookup {
	struct unix_diag *out;
	int found, err;
	uint64_t dev, ino;	/* sockdiag_unix_bound_at */
	int64_t owner;
};

/* Parse one UNIX_DIAG answer into *u. Returns 0, or -1 when malformed. */
static int parse_unix(struct nlmsghdr *h, struct unix_diag *u)
{
	struct unix_diag_msg *m = nlmsg_data(h);
	struct nlattr *tb[UNIX_DIAG_MAX + 1];

	if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || nlmsg_datalen(h) < (int)sizeof(*m) ||
	    nlmsg_parse(h, sizeof(*m), tb, UNIX_DIAG_MAX, NULL) < 0)
		return -1;
	memset(u, 0, sizeof(*u));
	u->type = m->udiag_type;
	u->state = m->udiag_state;
	u->ino = m->udiag_ino;
	if (tb[UNIX_DIAG_NAME]) {
		int l = nla_len(tb[UNIX_DIAG_NAME]);

		if (l > (int)sizeof(u->name))
			return -1;
		memcpy(u->name, nla_data(tb[UNIX_DIAG_NAME]), l);
		u->name_len = l;
	}
	if (tb[UNIX_DIAG_VFS] && nla_len(tb[UNIX_DIAG_VFS]) >= (int)sizeof(struct unix_diag_vfs)) {
		struct unix_diag_vfs *v = nla_data(tb[UNIX_DIAG_VFS]);

		u->has_vfs = 1;
		u->vfs_dev = v->udiag_vfs_dev;
		u->vfs_ino = v->udiag_vfs_ino;
	}
	if (tb[UNIX_DIAG_PEER])
		u->peer = nla_get_u32(tb[UNIX_DIAG_PEER]);
	if (tb[UNIX_DIAG_SHUTDOWN])
		u->shutdown = nla_get_u8(tb[UNIX_DIAG_SHUTDOWN]);
	if (tb[UNIX_DIAG_RQLEN] && nla_len(tb[UNIX_DIAG_RQLEN]) >= (int)sizeof(struct unix_diag_rqlen)) {
		struct unix_diag_rqlen *r = nla_data(tb[UNIX_DIAG_RQLEN]);

		u->rqueue = r->udiag_rqueue;
		u->wqueue = r->udiag_wqueue;
	}
	return 0;
}

static int on_unix(struct nl_msg *msg, void *arg)
{
	struct ulookup *l = arg;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	struct nlattr *tb[UNIX_DIAG_MAX + 1];

	if (parse_unix(h, l->out)) {
		l->err = 1;
		return NL_OK;
	}
	nlmsg_parse(h, sizeof(struct unix_diag_msg), tb, UNIX_DIAG_MAX, NULL);
	if (tb[UNIX_DIAG_ICONS]) {
		size_t n = nla_len(tb[UNIX_DIAG_ICONS]) / sizeof(uint32_t);

		l->out->icons = xmalloc((n + 1) * sizeof(uint32_t));
		if (!l->out->icons) {
			l->err = 1;
			return NL_OK;
		}
		memcpy(l->out->icons, nla_data(tb[UNIX_DIAG_ICONS]), n * sizeof(uint32_t));
		l->out->n_icons = n;
	}
	l->found = 1;
	return NL_OK;
}

int sockdiag_unix(uint64_t ino, struct unix_diag *out)
{
	struct unix_diag_req req;
	struct ulookup l = { .out = out };
	int r;

	memset(&req, 0, sizeof(req));
	req.sdiag_family = AF_UNIX;
	req.udiag_states = ~0u;
	req.udiag_ino = ino;
	req.udiag_cookie[0] = req.udiag_cookie[1] = INET_DIAG_NOCOOKIE;
	req.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS |
			 UDIAG_SHOW_RQLEN;
	r = diag_request(&req, sizeof(req), 0, on_unix, &l);
	if (r)
		return r;
	if (l.err)
		return pr_err("malformed UNIX_DIAG answer for socket inode %llu", (unsigned long long)ino);
	return l.found ? 0 : 1;
}

static int on_unix_vfs(struct nl_msg *msg, void *arg)
{
	struct ulookup *l = arg;
	struct unix_diag u;

	if (parse_unix(nlmsg_hdr(msg), &u) == 0 && u.has_vfs && u.vfs_dev == l->dev && u.vfs_ino == l->ino)
		l->owner = u.ino;
	return NL_OK;
}

int64_t sockdiag_unix_bound_at(uint64_t dev, uint64_t ino)
{
	struct unix_diag_req req;
	struct ulookup l = { .dev = dev, .ino = ino };

	memset(&req, 0, sizeof(req));
	req.sdiag_family = AF_UNIX;
	req.udiag_states = ~0u;
	req.udiag_show = UDIAG_SHOW_VFS;
	if (diag_request(&req, sizeof(req), NLM_F_DUMP, on_unix_vfs, &l))
		return -1;
	return l.owner;
}

#ifndef NDIAG_SHOW_RING_CFG
#define NDIAG_SHOW_RING_CFG 0x4
#endif

struct nlookup {
	struct nl_diag *out;
	uint64_t ino;
	int found, err;
};

static int on_netlink(struct nl_msg *msg, void *arg)
{
	struct nlookup *l = arg;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	struct netlink_diag_msg *m = nlmsg_data(h);
	struct nlattr *tb[NETLINK_DIAG_MAX + 1];
	struct nl_diag *d = l->out;

	if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || nlmsg_datalen(h) < (int)sizeof(*m) ||
	    nlmsg_parse(h, sizeof(*m), tb, NETLINK_DIAG_MAX, NULL) < 0) {
		l->err = 1;
		return NL_OK;
	}
	/* a bound member of a group comes twice, from the hash table and from
	 * the group list (seen on 6.18): the first answer is taken */
	if (m->ndiag_ino != l->ino || l->found)
		return NL_OK;
	memset(d, 0, sizeof(*d));
	d->type = m->ndiag_type;
	d->protocol = m->ndiag_protocol;
	d->state = m->ndiag_state;
	d->portid = m->ndiag_portid;
	d->dst_portid = m->ndiag_dst_portid;
	d->dst_group = m->ndiag_dst_group;
	if (tb[NETLINK_DIAG_GROUPS]) {
		size_t len = nla_len(tb[NETLINK_DIAG_GROUPS]);

		d->groups_cut = len > sizeof(d->groups);
		if (len > sizeof(d->groups))
			len = sizeof(d->groups);
		memcpy(d->groups, nla_data(tb[NETLINK_DIAG_GROUPS]), len);
		d->n_groups = len / sizeof(uint32_t);
	}
	if (tb[NETLINK_DIAG_FLAGS])
		d->flags = nla_get_u32(tb[NETLINK_DIAG_FLAGS]);
	if (tb[NETLINK_DIAG_MEMINFO] && nla_len(tb[NETLINK_DIAG_MEMINFO]) > (int)(SK_MEMINFO_RMEM_ALLOC * 4))
		d->rmem = ((uint32_t *)nla_data(tb[NETLINK_DIAG_MEMINFO]))[SK_MEMINFO_RMEM_ALLOC];
	d->has_ring = tb[NETLINK_DIAG_RX_RING] || tb[NETLINK_DIAG_TX_RING];
	l->found = 1;
	return NL_OK;
}

int sockdiag_netlink(int protocol, uint64_t ino, struct nl_diag *out)
{
	struct netlink_diag_req req;
	struct nlookup l = { .out = out, .ino = ino };

	memset(&req, 0, sizeof(req));
	req.sdiag_family = AF_NETLINK;
	req.sdiag_protocol = protocol;
	req.ndiag_show = NDIAG_SHOW_GROUPS | NDIAG_SHOW_FLAGS | NDIAG_SHOW_MEMINFO | NDIAG_SHOW_RING_CFG;
	if (diag_request(&req, sizeof(req), NLM_F_DUMP, on_netlink, &l))
		return -1;
	if (l.err)
		return pr_err("malformed NETLINK_DIAG answer (protocol %d)", protocol);
	return l.found ? 0 : 1;
}

const char *netlink_proto_name(int protocol)
{
	static const char *names[] = {
		[NETLINK_ROUTE] = "route", [NETLINK_USERSOCK] = "usersock", [NETLINK_SOCK_DIAG] = "sock_diag",
		[NETLINK_NFLOG] = "nflog", [NETLINK_XFRM] = "xfrm", [NETLINK_SELINUX] = "selinux",
		[NETLINK_ISCSI] = "iscsi", [NETLINK_AUDIT] = "audit", [NETLINK_FIB_LOOKUP] = "fib_lookup",
		[NETLINK_CONNECTOR] = "connector", [NETLINK_NETFILTER] = "netfilter",
		[NETLINK_KOBJECT_UEVENT] = "uevent", [NETLINK_GENERIC] = "generic",
		[NETLINK_SCSITRANSPORT] = "scsitransport", [NETLINK_ECRYPTFS] = "ecryptfs",
		[NETLINK_RDMA] = "rdma", [NETLINK_CRYPTO] = "crypto", [NETLINK_SMC] = "smc",
	};
	static char buf[32];

	if (protocol >= 0 && (size_t)protocol < ARRAY_SIZE(names) && names[protocol])
		return names[protocol];
	snprintf(buf, sizeof(buf), "protocol %d", protocol);
	return buf;
}

struct plookup {
	struct pk_diag *out;
	uint64_t ino;
	int found, err;
};

static int on_packet(struct nl_msg *msg, void *arg)
{
	struct plookup *l = arg;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	struct packet_diag_msg *m = nlmsg_data(h);
	struct nlattr *tb[PACKET_DIAG_MAX + 1];
	struct pk_diag *d = l->out;

	if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || nlmsg_datalen(h) < (int)sizeof(*m) ||
	    nlmsg_parse(h, sizeof(*m), tb, PACKET_DIAG_MAX, NULL) < 0) {
		l->err = 1;
		return NL_OK;
	}
	if (m->pdiag_ino != l->ino || l->found)
		return NL_OK;
	memset(d, 0, sizeof(*d));
	d->type = m->pdiag_type;
	d->num = m->pdiag_num;
	if (tb[PACKET_DIAG_INFO] && nla_len(tb[PACKET_DIAG_INFO]) >= (int)sizeof(struct packet_diag_info)) {
		struct packet_diag_info *i = nla_data(tb[PACKET_DIAG_INFO]);

		d->has_info = 1;
		d->ifindex = i->pdi_index;
		d->version = i->pdi_version;
		d->reserve = i->pdi_reserve;
		d->copy_thresh = i->pdi_copy_thresh;
		d->tstamp = i->pdi_tstamp;
		d->flags = i->pdi_flags;
	}
	if (tb[PACKET_DIAG_MCLIST]) {
		size_t n = nla_len(tb[PACKET_DIAG_MCLIST]) / sizeof(struct packet_diag_mclist);
		struct packet_diag_mclist *mc = nla_data(tb[PACKET_DIAG_MCLIST]);

		if (n) {
			d->mc = calloc(n, sizeof(*d->mc));
			if (!d->mc) {
				l->err = 2;
				return NL_OK;
			}
		}
		for (size_t i = 0; i < n; i++) {
			d->mc[i].ifindex = mc[i].pdmc_index;
			d->mc[i].count = mc[i].pdmc_count;
			d->mc[i].type = mc[i].pdmc_type;
			d->mc[i].alen = mc[i].pdmc_alen > sizeof(d->mc[i].addr) ? sizeof(d->mc[i].addr) : mc[i].pdmc_alen;
			memcpy(d->mc[i].addr, mc[i].pdmc_addr, d->mc[i].alen);
		}
		d->n_mc = n;
	}
	d->has_ring = tb[PACKET_DIAG_RX_RING] || tb[PACKET_DIAG_TX_RING];
	if (tb[PACKET_DIAG_FANOUT] && nla_len(tb[PACKET_DIAG_FANOUT]) >= 4) {
		d->has_fanout = 1;
		d->fanout = nla_get_u32(tb[PACKET_DIAG_FANOUT]);
	}
	if (tb[PACKET_DIAG_MEMINFO] && nla_len(tb[PACKET_DIAG_MEMINFO]) > (int)(SK_MEMINFO_RMEM_ALLOC * 4))
		d->rmem = ((uint32_t *)nla_data(tb[PACKET_DIAG_MEMINFO]))[SK_MEMINFO_RMEM_ALLOC];
	if (tb[PACKET_DIAG_FILTER]) {
		size_t n = nla_len(tb[PACKET_DIAG_FILTER]) / 8;

		d->has_filter = 1;
		if (n) {
			d->filter = calloc(n, 8);
			if (!d->filter) {
				l->err = 2;
				return NL_OK;
			}
			memcpy(d->filter, nla_data(tb[PACKET_DIAG_FILTER]), n * 8);
		}
		d->n_filter = n;
	}
	l->found = 1;
	return NL_OK;
}

void pk_diag_free(struct pk_diag *d)
{
	free(d->mc);
	free(d->filter);
	d->mc = NULL;
	d->filter = NULL;
	d->n_mc = d->n_filter = 0;
}

int sockdiag_packet(uint64_t ino, struct pk_diag *out)
{
	struct packet_diag_req req;
	struct plookup l = { .out = out, .ino = ino };

	memset(out, 0, sizeof(*out));
	memset(&req, 0, sizeof(req));
	req.sdiag_family = AF_PACKET;
	req.pdiag_show = PACKET_SHOW_INFO | PACKET_SHOW_MCLIST | PACKET_SHOW_RING_CFG | PACKET_SHOW_FANOUT |
			 PACKET_SHOW_MEMINFO | PACKET_SHOW_FILTER;
	if (diag_request(&req, sizeof(req), NLM_F_DUMP, on_packet, &l)) {
		pk_diag_free(out);
		return -1;
	}
	if (l.err) {
		pk_diag_free(out);
		return l.err == 2 ? pr_err("out of memory reading PACKET_DIAG") : pr_err("malformed PACKET_DIAG answer");
	}
	return l.found ? 0 : 1;
}
