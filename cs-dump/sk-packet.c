/*
 * Packet sockets (packet(7)): DHCP clients' LPF sockets, lldpd, keepalived,
 * arping. What the kernel keeps for one is its type, its protocol
 * (ethertype), the interface it is bound to, a few PACKET_* options, its
 * multicast list, its fanout group and its socket filter: all of it is read
 * here, from sock_diag's PACKET_DIAG (lib/sockdiag.h) and getsockopt(2) on
 * our pidfd_getfd copy, and made again by cs-restore/sk-packet.c. The
 * interface is saved by name too: another host numbers its interfaces
 * otherwise.
 *
 * Refused, naming the fd: memory-mapped rings (PACKET_RX_RING/TX_RING), an
 * eBPF filter (SO_ATTACH_BPF: no original program to read back), a fanout
 * group steered by a BPF program (PACKET_FANOUT_CBPF/EBPF), an interface
 * that is gone, a socket of another network namespace. Packets not read
 * yet are dropped with a warning, as a frame lost on the wire: see
 * cs-dump(8).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <linux/filter.h>

#define LOG_PREFIX "packet: "
#include "log.h"
#include "util.h"
#include "sockdiag.h"
#include "sk-opts.h"
#include "dump.h"
#include "sockets.h"

#define FANOUT_TYPE(v) (((v) >> 16) & 0xff)

static int pk_int(int sk, int name, int *v)
{
	socklen_t l = sizeof(*v);

	*v = 0;
	return getsockopt(sk, SOL_PACKET, name, v, &l);
}

/* An int option of SOL_PACKET into has and val; one this kernel lacks (ENOPROTOOPT) is left out. */
static void pk_u32(int sk, int name, protobuf_c_boolean *has, uint32_t *val)
{
	int v;

	if (pk_int(sk, name, &v))
		return;
	*has = 1;
	*val = v;
}

static void pk_bool(int sk, int name, protobuf_c_boolean *has, protobuf_c_boolean *val)
{
	int v;

	if (pk_int(sk, name, &v))
		return;
	*has = 1;
	*val = !!v;
}

/*
 * The classic BPF program into p->filter: from PACKET_DIAG_FILTER, or from
 * SO_GET_FILTER (its length is counted in instructions, socket(7)) when the
 * diag did not give it. An eBPF program has no original to read back
 * (sk_get_filter: EACCES). 0 or -1 (logged).
 */
static int save_filter(int sk, const struct pk_diag *d, PacketSkEntry *p, const char *what)
{
	socklen_t n = 0;
	struct sock_filter *f = NULL;
	int v;

	if (getsockopt(sk, SOL_SOCKET, SO_GET_FILTER, NULL, &n) < 0) {
		if (errno == EACCES)
			return pr_err("%s) has an eBPF socket filter (SO_ATTACH_BPF), which cannot be read back: "
				      "not supported", what);
		return pr_perror("cannot read the socket filter of %s)", what);
	}
	/* with no room given, the kernel answers the length as the option's value */
	if (n == 0)
		return 0;
	if (d->has_filter && d->n_filter == n) {
		f = (struct sock_filter *)d->filter;
	} else {
		socklen_t m = n;

		f = xmalloc(n * sizeof(*f));
		if (!f)
			return -1;
		if (getsockopt(sk, SOL_SOCKET, SO_GET_FILTER, f, &m) < 0 || m != n) {
			free(f);
			return pr_perror("cannot read the socket filter of %s) (%u instructions)", what, n);
		}
	}
	p->filter = xzalloc(n * sizeof(*p->filter));
	if (!p->filter)
		goto fail;
	for (socklen_t i = 0; i < n; i++) {
		SockFilterInsn *x = xmalloc(sizeof(*x));

		if (!x)
			goto fail;
		sock_filter_insn__init(x);
		x->code = f[i].code;
		x->jt = f[i].jt;
		x->jf = f[i].jf;
		x->k = f[i].k;
		p->filter[p->n_filter++] = x;
	}
	if ((uint64_t *)f != d->filter)
		free(f);
	if (getsockopt(sk, SOL_SOCKET, SO_LOCK_FILTER, &v, &(socklen_t){ sizeof(v) }) == 0) {
		p->has_lock_filter = 1;
		p->lock_filter = !!v;
	}
	return 0;
fail:
	if ((uint64_t *)f != d->filter)
		free(f);
	return -1;
}

/* The multicast list into p->mclist, each interface by name. 0 or -1 (logged). */
static int save_mclist(const struct pk_diag *d, PacketSkEntry *p, const char *what)
{
	if (!d->n_mc)
		return 0;
	p->mclist = xzalloc(d->n_mc * sizeof(*p->mclist));
	if (!p->mclist)
		return -1;
	for (size_t i = 0; i < d->n_mc; i++) {
		PacketMclistEntry *m = xmalloc(sizeof(*m));
		char name[IF_NAMESIZE];

		if (!m)
			return -1;
		packet_mclist_entry__init(m);
		p->mclist[p->n_mclist++] = m;
		if (!if_indextoname(d->mc[i].ifindex, name))
			return pr_err("%s) has a membership (PACKET_ADD_MEMBERSHIP type %u) on interface index %u, "
				      "which has no name here: not supported", what, d->mc[i].type, d->mc[i].ifindex);
		m->ifname = xstrdup(name);
		if (!m->ifname)
			return -1;
		m->ifindex = d->mc[i].ifindex;
		m->type = d->mc[i].type;
		m->count = d->mc[i].count;
		if (d->mc[i].alen) {
			m->has_addr = 1;
			m->addr.len = d->mc[i].alen;
			m->addr.data = xmalloc(d->mc[i].alen);
			if (!m->addr.data)
				return -1;
			memcpy(m->addr.data, d->mc[i].addr, d->mc[i].alen);
		}
	}
	return 0;
}

static int dump_packet_diag(PacketSkEntry *p, int sk, const struct pk_diag *d, const char *what, int leave_running)
{
	int v;

	if (d->has_ring)
		return pr_err("%s) has a memory-mapped ring (PACKET_RX_RING/PACKET_TX_RING): not supported", what);
	if (d->num != ntohs(p->protocol))
		return pr_err("%s): sock_diag says protocol 0x%04x, getsockname 0x%04x", what, d->num,
			      ntohs(p->protocol));
	if (d->has_info) {
		p->has_copy_thresh = 1;
		p->copy_thresh = d->copy_thresh;
	}
	/* the diag's attribute says whether it is in a group (getsockopt's 0 is
	 * also group 0 of type PACKET_FANOUT_HASH); getsockopt gives the flags */
	if (d->has_fanout) {
		if (pk_int(sk, PACKET_FANOUT, &v))
			return pr_perror("cannot read the fanout group of %s)", what);
		unsigned type = FANOUT_TYPE(v);

		if (type == PACKET_FANOUT_CBPF || type == PACKET_FANOUT_EBPF)
			return pr_err("%s) is in fanout group %u of type %s, steered by a BPF program that cannot "
				      "be read back: not supported", what, v & 0xffff,
				      type == PACKET_FANOUT_CBPF ? "PACKET_FANOUT_CBPF" : "PACKET_FANOUT_EBPF");
		p->has_fanout = 1;
		p->fanout = v;
	}
	if (save_mclist(d, p, what) || save_filter(sk, d, p, what))
		return -1;
	if (d->rmem && leave_running)
		pr_warn("%s): %u bytes of packets not read yet are left to the running process, not in the image",
			what, d->rmem);
	else if (d->rmem)
		pr_warn("%s): %u bytes of packets not read yet are dropped (not in the image), as frames lost on "
			"the wire would be", what, d->rmem);
	return 0;
}

int dump_packet(struct dump_ctx *c, int fd, FdEntry *e, int sk)
{
	PacketSkEntry *p = xzalloc(sizeof(*p));
	struct sockaddr_ll a;
	socklen_t al = sizeof(a);
	struct pk_diag d;
	char what[80], name[IF_NAMESIZE];
	int type, r;

	if (!p)
		return -1;
	packet_sk_entry__init(p);
	e->pksk = p;
	if (getsockopt(sk, SOL_SOCKET, SO_TYPE, &type, &(socklen_t){ sizeof(type) }))
		return pr_perror("cannot read the type of fd %d (packet socket)", fd);
	if (type != SOCK_RAW && type != SOCK_DGRAM)
		return pr_err("fd %d (packet socket) is of type %d (SOCK_PACKET, obsolete): only SOCK_RAW and "
			      "SOCK_DGRAM packet sockets are supported", fd, type);
	p->type = type;
	if (getsockopt(sk, SOL_SOCKET, SO_PROTOCOL, &r, &(socklen_t){ sizeof(r) }) == 0) {
		p->has_sk_protocol = 1;
		p->sk_protocol = r;
	}
	memset(&a, 0, sizeof(a));
	if (getsockname(sk, (struct sockaddr *)&a, &al))
		return pr_perror("cannot read the address of fd %d (packet socket)", fd);
	p->protocol = a.sll_protocol;
	snprintf(what, sizeof(what), "fd %d (packet socket, %s, protocol 0x%04x", fd,
		 type == SOCK_DGRAM ? "SOCK_DGRAM" : "SOCK_RAW", ntohs(a.sll_protocol));
	if (a.sll_ifindex < 0)
		return pr_err("%s) was bound to an interface that is gone: not supported", what);
	if (a.sll_ifindex > 0) {
		if (!if_indextoname(a.sll_ifindex, name))
			return pr_err("%s) is bound to interface index %d, which has no name here: not supported",
				      what, a.sll_ifindex);
		p->has_ifindex = 1;
		p->ifindex = a.sll_ifindex;
		p->ifname = xstrdup(name);
		if (!p->ifname)
			return -1;
		snprintf(what, sizeof(what), "fd %d (packet socket, %s, protocol 0x%04x on %s", fd,
			 type == SOCK_DGRAM ? "SOCK_DGRAM" : "SOCK_RAW", ntohs(a.sll_protocol), name);
	}

	r = sockdiag_packet(e->ino, &d);
	if (r < 0)
		return -1;
	if (r > 0)
		return pr_err("%s) is not found by sock_diag in this network namespace (made in another one?): "
			      "not supported", what);
	r = dump_packet_diag(p, sk, &d, what, c->leave_running);
	pk_diag_free(&d);
	if (r)
		return -1;

	pk_u32(sk, PACKET_VERSION, &p->has_version, &p->version);
	pk_u32(sk, PACKET_RESERVE, &p->has_reserve, &p->reserve);
	pk_bool(sk, PACKET_AUXDATA, &p->has_auxdata, &p->auxdata);
	pk_bool(sk, PACKET_ORIGDEV, &p->has_origdev, &p->origdev);
	pk_u32(sk, PACKET_VNET_HDR_SZ, &p->has_vnet_hdr_sz, &p->vnet_hdr_sz);
	if (!p->has_vnet_hdr_sz) {
		/* before 6.2: only on or off, on meaning struct virtio_net_hdr (10 bytes) */
		pk_u32(sk, PACKET_VNET_HDR, &p->has_vnet_hdr_sz, &p->vnet_hdr_sz);
		if (p->vnet_hdr_sz)
			p->vnet_hdr_sz = 10;
	}
	pk_u32(sk, PACKET_TIMESTAMP, &p->has_timestamp, &p->timestamp);
	pk_bool(sk, PACKET_LOSS, &p->has_loss, &p->loss);
	pk_bool(sk, PACKET_QDISC_BYPASS, &p->has_qdisc_bypass, &p->qdisc_bypass);
	pk_bool(sk, PACKET_IGNORE_OUTGOING, &p->has_ignore_outgoing, &p->ignore_outgoing);
	pk_bool(sk, PACKET_TX_HAS_OFF, &p->has_tx_has_off, &p->tx_has_off);
	/* as for inet sockets: SO_PASSCRED/SO_PASSSEC are EOPNOTSUPP here since 6.16 */
	p->opts = sk_opts_save(sk, 1);
	if (!p->opts)
		return pr_err("cannot read the options of %s)", what);
	pr_info("%s): %zu membership(s), fanout 0x%x, %zu filter instruction(s)", what, p->n_mclist, p->fanout,
		p->n_filter);
	return 0;
}
