/*
 * Packet sockets (packet(7)), made again as cs-dump/sk-packet.c saved them.
 * Order matters: the socket is made with what SO_PROTOCOL read (0 on
 * Linux 6.18, measured, whatever socket(2) was given) behind a filter that
 * drops everything; its options are set; it is bound to the saved
 * protocol and to the interface of the saved name (its index may differ
 * here); only then does the saved filter replace ours, so that no packet
 * the saved filter would have refused is queued. Memberships are added as many times as they were (each counts),
 * the fanout group is joined (it needs a bound, running socket), and the
 * filter is locked last.
 *
 * The check phase refuses, naming the fd: no CAP_NET_RAW (socket(2) gives
 * EPERM), an interface of the saved name missing here, a filter this
 * kernel rejects. It makes the socket once, unbound, and closes it:
 * joining groups or the interface's promiscuous mode for a trial would be
 * seen by others on the host.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <linux/filter.h>

#define LOG_PREFIX "packet: "
#include "log.h"
#include "util.h"
#include "restore.h"
#include "sk-opts.h"
#include "sockets.h"

#define PK_MAX_FILTER 4096	/* BPF_MAXINSNS: the kernel takes no longer classic program */

static void pk_what(const FdEntry *e, char *what, size_t len)
{
	const PacketSkEntry *p = e->pksk;

	snprintf(what, len, "fd %u (packet socket, %s, protocol 0x%04x%s%s)", e->fd,
		 p->type == SOCK_DGRAM ? "SOCK_DGRAM" : "SOCK_RAW", ntohs(p->protocol), p->ifname ? " on " : "",
		 p->ifname ? p->ifname : "");
}

static int set_int(int sk, int name, int v, const char *oname, const char *what, char *err, size_t len)
{
	if (setsockopt(sk, SOL_PACKET, name, &v, sizeof(v)) == 0)
		return 0;
	snprintf(err, len, "%s: cannot set %s to %d: %m", what, oname, v);
	return -1;
}

/* The saved options, each only when it differs from a new socket's default. 0, or -1 with err. */
static int pk_options(int sk, const PacketSkEntry *p, const char *what, char *err, size_t len)
{
	char oe[200];

	if ((p->has_version && p->version && set_int(sk, PACKET_VERSION, p->version, "PACKET_VERSION", what, err, len)) ||
	    (p->has_reserve && p->reserve && set_int(sk, PACKET_RESERVE, p->reserve, "PACKET_RESERVE", what, err, len)) ||
	    (p->auxdata && set_int(sk, PACKET_AUXDATA, 1, "PACKET_AUXDATA", what, err, len)) ||
	    (p->origdev && set_int(sk, PACKET_ORIGDEV, 1, "PACKET_ORIGDEV", what, err, len)) ||
	    (p->has_timestamp && p->timestamp &&
	     set_int(sk, PACKET_TIMESTAMP, p->timestamp, "PACKET_TIMESTAMP", what, err, len)) ||
	    (p->loss && set_int(sk, PACKET_LOSS, 1, "PACKET_LOSS", what, err, len)) ||
	    (p->qdisc_bypass && set_int(sk, PACKET_QDISC_BYPASS, 1, "PACKET_QDISC_BYPASS", what, err, len)) ||
	    (p->ignore_outgoing && set_int(sk, PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING", what, err, len)) ||
	    (p->tx_has_off && set_int(sk, PACKET_TX_HAS_OFF, 1, "PACKET_TX_HAS_OFF", what, err, len)) ||
	    (p->has_copy_thresh && p->copy_thresh &&
	     set_int(sk, PACKET_COPY_THRESH, p->copy_thresh, "PACKET_COPY_THRESH", what, err, len)))
		return -1;
	if (p->has_vnet_hdr_sz && p->vnet_hdr_sz) {
		/* PACKET_VNET_HDR_SZ (6.2) takes 10 or 12; before it, PACKET_VNET_HDR means 10 */
		int v = p->vnet_hdr_sz;

		if (setsockopt(sk, SOL_PACKET, PACKET_VNET_HDR_SZ, &v, sizeof(v))) {
			if (errno != ENOPROTOOPT || v != 10) {
				snprintf(err, len, "%s: cannot set PACKET_VNET_HDR_SZ to %d: %m", what, v);
				return -1;
			}
			if (set_int(sk, PACKET_VNET_HDR, 1, "PACKET_VNET_HDR", what, err, len))
				return -1;
		}
	}
	if (sk_opts_apply(sk, p->opts, oe, sizeof(oe))) {
		snprintf(err, len, "%s: %s", what, oe);
		return -1;
	}
	return 0;
}

/* SO_ATTACH_FILTER with the saved classic program. 0, or -1 with err. */
static int pk_filter(int sk, const PacketSkEntry *p, const char *what, char *err, size_t len)
{
	struct sock_filter *f;
	struct sock_fprog prog;
	int r;

	if (!p->n_filter)
		return 0;
	if (p->n_filter > PK_MAX_FILTER) {
		snprintf(err, len, "%s: malformed socket filter (%zu instructions) in files.img", what, p->n_filter);
		return -1;
	}
	f = calloc(p->n_filter, sizeof(*f));
	if (!f) {
		snprintf(err, len, "%s: out of memory", what);
		return -1;
	}
	for (size_t i = 0; i < p->n_filter; i++) {
		f[i].code = p->filter[i]->code;
		f[i].jt = p->filter[i]->jt;
		f[i].jf = p->filter[i]->jf;
		f[i].k = p->filter[i]->k;
	}
	prog.len = p->n_filter;
	prog.filter = f;
	r = setsockopt(sk, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
	if (r)
		snprintf(err, len, "%s: cannot attach its socket filter (SO_ATTACH_FILTER, %zu instructions): %m", what,
			 p->n_filter);
	free(f);
	return r ? -1 : 0;
}

/* The interface named name here, or 0 with err. */
static unsigned pk_ifindex(const char *name, const char *what, const char *role, char *err, size_t len)
{
	unsigned i = if_nametoindex(name);

	if (!i)
		snprintf(err, len, "%s: no interface named %s here (%s): %m", what, name, role);
	return i;
}

/*
 * A socket with the saved type, socket(2) protocol and options, not bound
 * otherwise, behind a filter that drops everything: a socket made with a
 * protocol receives at once, on every interface (what came in before the
 * filter is read away), and one bound later receives from the bind on,
 * so that nothing the saved filter would have refused is queued before
 * packet_make puts the saved filter in its place. Returns it, or -1 with
 * err.
 */
static int pk_socket(const FdEntry *e, const char *what, char *err, size_t len)
{
	const PacketSkEntry *p = e->pksk;
	int sk;

	if (p->type != SOCK_RAW && p->type != SOCK_DGRAM) {
		snprintf(err, len, "%s: malformed socket type %u in files.img", what, p->type);
		return -1;
	}
	sk = socket(AF_PACKET, p->type | SOCK_CLOEXEC, p->has_sk_protocol ? (int)p->sk_protocol : 0);
	if (sk < 0) {
		snprintf(err, len, "%s: cannot create it: %m%s", what,
			 errno == EPERM ? " (needs CAP_NET_RAW)" : "");
		return -1;
	}
	{
		struct sock_filter drop = BPF_STMT(BPF_RET | BPF_K, 0);
		struct sock_fprog prog = { .len = 1, .filter = &drop };
		char b[1];

		if (setsockopt(sk, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog))) {
			snprintf(err, len, "%s: cannot attach a filter: %m", what);
			goto fail;
		}
		while (recv(sk, b, sizeof(b), MSG_DONTWAIT | MSG_TRUNC) >= 0)
			;
	}
	if (pk_options(sk, p, what, err, len))
		goto fail;
	return sk;
fail:
	close(sk);
	return -1;
}

int packet_make(const FdEntry *e, char *err, size_t len)
{
	const PacketSkEntry *p = e->pksk;
	char what[120];
	int sk;

	if (!p) {
		snprintf(err, len, "fd %u: malformed packet socket in files.img", e->fd);
		return -1;
	}
	pk_what(e, what, sizeof(what));
	sk = pk_socket(e, what, err, len);
	if (sk < 0)
		return -1;
	if (p->protocol || p->ifname) {
		struct sockaddr_ll a;

		memset(&a, 0, sizeof(a));
		a.sll_family = AF_PACKET;
		a.sll_protocol = p->protocol;
		if (p->ifname && !(a.sll_ifindex = pk_ifindex(p->ifname, what, "bound to it", err, len)))
			goto fail;
		if (bind(sk, (struct sockaddr *)&a, sizeof(a))) {
			snprintf(err, len, "%s: cannot bind: %m", what);
			goto fail;
		}
	}
	if (p->n_filter) {
		if (pk_filter(sk, p, what, err, len))
			goto fail;
	} else if (setsockopt(sk, SOL_SOCKET, SO_DETACH_FILTER, &(int){ 0 }, sizeof(int))) {	/* an int, or EINVAL */
		snprintf(err, len, "%s: cannot detach our filter: %m", what);
		goto fail;
	}
	for (size_t i = 0; i < p->n_mclist; i++) {
		const PacketMclistEntry *m = p->mclist[i];
		struct {
			int ifindex;
			unsigned short type, alen;
			unsigned char addr[32];
		} mr;

		memset(&mr, 0, sizeof(mr));
		if (m->has_addr && m->addr.len > sizeof(mr.addr)) {
			snprintf(err, len, "%s: malformed membership address in files.img", what);
			goto fail;
		}
		if (!(mr.ifindex = pk_ifindex(m->ifname, what, "a membership", err, len)))
			goto fail;
		mr.type = m->type;
		mr.alen = m->has_addr ? m->addr.len : 0;
		if (mr.alen)
			memcpy(mr.addr, m->addr.data, mr.alen);
		for (uint32_t n = 0; n < m->count && n < 65536; n++)
			if (setsockopt(sk, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr))) {
				snprintf(err, len, "%s: cannot add its membership of type %u on %s "
					 "(PACKET_ADD_MEMBERSHIP): %m", what, m->type, m->ifname);
				goto fail;
			}
	}
	if (p->has_fanout) {	/* group 0 of type PACKET_FANOUT_HASH reads 0 */
		/* an id the kernel chose (PACKET_FANOUT_FLAG_UNIQUEID) is given back as a chosen one */
		int v = p->fanout & ~(PACKET_FANOUT_FLAG_UNIQUEID << 16);

		if (setsockopt(sk, SOL_PACKET, PACKET_FANOUT, &v, sizeof(v))) {
			snprintf(err, len, "%s: cannot join fanout group %u (type %u, flags 0x%x): %m%s", what,
				 p->fanout & 0xffff, (p->fanout >> 16) & 0xff, p->fanout >> 24,
				 errno == EINVAL ? " (a group of that id with another type, interface or protocol?)" : "");
			goto fail;
		}
	}
	if (p->lock_filter && setsockopt(sk, SOL_SOCKET, SO_LOCK_FILTER, &(int){ 1 }, sizeof(int))) {
		snprintf(err, len, "%s: cannot set SO_LOCK_FILTER: %m", what);
		goto fail;
	}
	return sk;
fail:
	close(sk);
	return -1;
}

int check_packet(const FdEntry *e)
{
	const PacketSkEntry *p = e->pksk;
	char what[120], msg[400];
	int sk;

	if (!p)
		return pr_err("fd %u: malformed packet socket in files.img", e->fd);
	pk_what(e, what, sizeof(what));
	if (p->ifname && !pk_ifindex(p->ifname, what, "bound to it", msg, sizeof(msg)))
		return pr_err("%s", msg);
	for (size_t i = 0; i < p->n_mclist; i++)
		if (!pk_ifindex(p->mclist[i]->ifname, what, "a membership", msg, sizeof(msg)))
			return pr_err("%s", msg);
	sk = pk_socket(e, what, msg, sizeof(msg));
	if (sk < 0)
		return pr_err("%s", msg);
	if (pk_filter(sk, p, what, msg, sizeof(msg))) {
		close(sk);
		return pr_err("%s", msg);
	}
	close(sk);
	return 0;
}
