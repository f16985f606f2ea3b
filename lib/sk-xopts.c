/* More options of inet sockets: see sk-xopts.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#define LOG_PREFIX "sk-xopts: "
#include "log.h"
#include "util.h"
#include "sk-xopts.h"
#include "sk-rawopts.h"

#ifndef SO_BUSY_POLL
#define SO_BUSY_POLL 46
#endif
#ifndef SO_INCOMING_CPU
#define SO_INCOMING_CPU 49
#endif
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif
#ifndef IP_MULTICAST_ALL
#define IP_MULTICAST_ALL 49
#endif

/* which sockets an option is read from */
#define K_LISTEN 1	/* TCP listener */
#define K_EST	 2	/* established TCP connection (--tcp-established) */
#define K_UDP	 4
#define K_TCP	 (K_LISTEN | K_EST)
#define K_ALL	 (K_TCP | K_UDP)

/* flags */
#define F_PRE	1	/* before bind(2) */
#define F_BOOL	2	/* 0 or 1 */
#define F_ECN	4	/* stream sockets: the low two bits are the kernel's (ECN) */

struct xopt {
	int level, name;
	const char *what;
	int kinds, flags;
	size_t has, val;	/* offsets in InetSkEntry: has_X, X (a 32-bit field) */
};

#define X(level, name, kinds, flags, field) \
	{ level, name, #name, kinds, flags, offsetof(InetSkEntry, has_##field), offsetof(InetSkEntry, field) }

/*
 * Order matters at restore: IP_TOS sets SO_PRIORITY too (sk_opts_apply
 * comes after); TCP_WINDOW_CLAMP is set once the connection is out of
 * repair mode, with its saved window in place (tcp_est_finish).
 */
static const struct xopt xopts[] = {
	X(IPPROTO_IP, IP_TRANSPARENT, K_ALL, F_PRE | F_BOOL, ip_transparent),
	X(IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, K_ALL, F_PRE | F_BOOL, ip_bind_address_no_port),
	X(IPPROTO_IP, IP_TOS, K_ALL, F_ECN, ip_tos),
	X(IPPROTO_IP, IP_TTL, K_ALL, 0, ip_ttl),
	X(IPPROTO_IP, IP_MTU_DISCOVER, K_ALL, 0, ip_mtu_discover),
	X(IPPROTO_IP, IP_RECVERR, K_ALL, F_BOOL, ip_recverr),
	X(IPPROTO_IP, IP_PKTINFO, K_ALL, F_BOOL, ip_pktinfo),
	X(IPPROTO_IP, IP_RECVTOS, K_ALL, F_BOOL, ip_recvtos),
	X(IPPROTO_IP, IP_RECVTTL, K_ALL, F_BOOL, ip_recvttl),
	X(IPPROTO_IP, IP_MULTICAST_TTL, K_UDP, 0, ip_multicast_ttl),
	X(IPPROTO_IP, IP_MULTICAST_LOOP, K_UDP, F_BOOL, ip_multicast_loop),
	X(IPPROTO_IP, IP_MULTICAST_ALL, K_UDP, F_BOOL, ip_multicast_all),
	X(IPPROTO_IPV6, IPV6_TCLASS, K_ALL, 0, ipv6_tclass),
	X(IPPROTO_IPV6, IPV6_UNICAST_HOPS, K_ALL, 0, ipv6_unicast_hops),
	X(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, K_UDP, 0, ipv6_multicast_hops),
	X(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, K_UDP, F_BOOL, ipv6_multicast_loop),
	X(IPPROTO_IPV6, IPV6_RECVPKTINFO, K_ALL, F_BOOL, ipv6_recvpktinfo),
	X(IPPROTO_IPV6, IPV6_RECVERR, K_ALL, F_BOOL, ipv6_recverr),
	X(IPPROTO_IPV6, IPV6_MTU_DISCOVER, K_ALL, 0, ipv6_mtu_discover),
	X(IPPROTO_IPV6, IPV6_RECVTCLASS, K_ALL, F_BOOL, ipv6_recvtclass),
	X(SOL_SOCKET, SO_TIMESTAMPNS_OLD, K_ALL, F_BOOL, timestampns),
	X(SOL_SOCKET, SO_DONTROUTE, K_ALL, F_BOOL, dontroute),
	X(SOL_SOCKET, SO_INCOMING_CPU, K_LISTEN, 0, incoming_cpu),
	X(SOL_SOCKET, SO_BUSY_POLL, K_ALL, 0, busy_poll),
	X(IPPROTO_TCP, TCP_DEFER_ACCEPT, K_LISTEN, 0, tcp_defer_accept),
	X(IPPROTO_TCP, TCP_FASTOPEN, K_LISTEN, 0, tcp_fastopen),
	X(IPPROTO_TCP, TCP_SYNCNT, K_TCP, 0, tcp_syncnt),
	X(IPPROTO_TCP, TCP_LINGER2, K_TCP, 0, tcp_linger2),
	X(IPPROTO_TCP, TCP_WINDOW_CLAMP, K_TCP, 0, tcp_window_clamp),
};

static int kind_of(const InetSkEntry *s)
{
	if (s->type == SOCK_DGRAM || s->type == SOCK_RAW)
		return K_UDP;	/* and raw, ping and UDP-Lite sockets (sk-rawopts.h) */
	if (s->tcp)
		return K_EST;
	if (s->has_backlog)
		return K_LISTEN;
	return 0;	/* an unconnected TCP socket: nothing yet */
}

/* Whether option x is read from (and set on) s. */
static int applies(const struct xopt *x, const InetSkEntry *s)
{
	if (!(x->kinds & kind_of(s)))
		return 0;
	/* IP_* options act on IPv6 sockets too (IPv4-mapped traffic); IPV6_* only there */
	return x->level != IPPROTO_IPV6 || s->family == AF_INET6;
}

static int get(int sk, const struct xopt *x, int stream, int *v)
{
	socklen_t l = sizeof(*v);

	*v = 0;
	if (getsockopt(sk, x->level, x->name, v, &l))
		return -1;
	if (x->flags & F_BOOL)
		*v = !!*v;
	if ((x->flags & F_ECN) && stream)
		*v &= ~3;
	return 0;
}

static int get_dev(int sk, char *dev)
{
	socklen_t l = IFNAMSIZ;

	memset(dev, 0, IFNAMSIZ + 1);
	return getsockopt(sk, SOL_SOCKET, SO_BINDTODEVICE, dev, &l);
}

/*
 * What a new socket of a family and type has, read once per process
 * (cs-dump runs while the target is frozen: a socket() and some thirty
 * getsockopt calls per socket would add up in a process with thousands).
 */
struct fresh {
	int family, type, proto, valid;
	int ok[ARRAY_SIZE(xopts)], v[ARRAY_SIZE(xopts)];
	int sndbuf, rcvbuf;
};

/*
 * proto: 0, but for raw and ping sockets (a raw socket needs one; a ping
 * socket's defaults differ from UDP's in nothing we save, and one can be
 * made only by a group in net.ipv4.ping_group_range: UDP's stand in then).
 */
static const struct fresh *fresh_of(int family, int type, int proto, const char *what)
{
	static struct fresh cache[16];
	static size_t next;	/* all taken (raw sockets of many protocols): replaced in turn */
	struct fresh *f = NULL;
	socklen_t l;
	int sk;

	for (size_t i = 0; i < ARRAY_SIZE(cache) && !f; i++)
		if (!cache[i].valid || (cache[i].family == family && cache[i].type == type && cache[i].proto == proto))
			f = &cache[i];
	if (!f) {
		f = &cache[next++ % ARRAY_SIZE(cache)];
		f->valid = 0;
	}
	if (f->valid)
		return f;
	sk = socket(family, type | SOCK_CLOEXEC, proto);
	if (sk < 0 && type == SOCK_DGRAM && proto)
		sk = socket(family, type | SOCK_CLOEXEC, 0);
	if (sk < 0) {
		pr_perror("%s: cannot make a new socket to compare its options with", what);
		return NULL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(xopts); i++)
		f->ok[i] = get(sk, &xopts[i], type == SOCK_STREAM, &f->v[i]) == 0;
	l = sizeof(f->sndbuf);
	if (getsockopt(sk, SOL_SOCKET, SO_SNDBUF, &f->sndbuf, &l))
		f->sndbuf = -1;
	l = sizeof(f->rcvbuf);
	if (getsockopt(sk, SOL_SOCKET, SO_RCVBUF, &f->rcvbuf, &l))
		f->rcvbuf = -1;
	close(sk);
	f->family = family;
	f->type = type;
	f->proto = proto;
	f->valid = 1;
	return f;
}

int sk_xopts_save(int sk, InetSkEntry *s, const char *what)
{
	int stream = s->type == SOCK_STREAM, a;
	const struct fresh *f;
	char dev[IFNAMSIZ + 1];

	if (!kind_of(s))
		return 0;
	f = fresh_of(s->family, s->type, s->type == SOCK_RAW || sk_rawkind(s->family, s->type, s->proto) == SK_PING ?
		    (int)s->proto : 0, what);
	if (!f)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(xopts); i++) {
		const struct xopt *x = &xopts[i];

		if (!applies(x, s) || !f->ok[i] || get(sk, x, stream, &a) || a == f->v[i])
			continue;
		*(protobuf_c_boolean *)((char *)s + x->has) = 1;
		*(int32_t *)((char *)s + x->val) = a;
		pr_debug("%s: %s %d (new socket: %d)", what, x->what, a, f->v[i]);
	}
	/*
	 * A listener's buffer sizes as a new socket's are the host's defaults:
	 * set again (SO_SNDBUFFORCE) they would lock the sizes (socket(7)) of
	 * every connection it accepts, which then get no autotuning.
	 */
	if (kind_of(s) == K_LISTEN && s->opts) {
		if (s->opts->has_sndbuf && (int)s->opts->sndbuf == f->sndbuf)
			s->opts->has_sndbuf = 0;
		if (s->opts->has_rcvbuf && (int)s->opts->rcvbuf == f->rcvbuf)
			s->opts->has_rcvbuf = 0;
	}
	if (get_dev(sk, dev) == 0 && dev[0]) {
		s->bindtodevice = xstrdup(dev);
		if (!s->bindtodevice)
			return -1;
	}
	return 0;
}

int sk_xopts_apply(int sk, const InetSkEntry *s, int pre_bind, char *err, size_t len)
{
	int stream = s->type == SOCK_STREAM, cur;

	if (pre_bind && s->bindtodevice && *s->bindtodevice) {
		char dev[IFNAMSIZ + 1];

		if ((get_dev(sk, dev) || strcmp(dev, s->bindtodevice)) &&
		    setsockopt(sk, SOL_SOCKET, SO_BINDTODEVICE, s->bindtodevice, strlen(s->bindtodevice))) {
			snprintf(err, len, "cannot set SO_BINDTODEVICE to %s: %m", s->bindtodevice);
			return -1;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(xopts); i++) {
		const struct xopt *x = &xopts[i];
		int want;

		if (!(x->flags & F_PRE) != !pre_bind || !*(const protobuf_c_boolean *)((const char *)s + x->has))
			continue;
		want = *(const int32_t *)((const char *)s + x->val);
		if (get(sk, x, stream, &cur) == 0 && cur == want)
			continue;
		if (setsockopt(sk, x->level, x->name, &want, sizeof(want))) {
			snprintf(err, len, "cannot set %s to %d: %m", x->what, want);
			return -1;
		}
	}
	return 0;
}

int sk_xopts_check(const InetSkEntry *s, char *err, size_t len)
{
	if (s->bindtodevice && *s->bindtodevice && !if_nametoindex(s->bindtodevice)) {
		snprintf(err, len, "bound to network interface %s (SO_BINDTODEVICE), which does not exist here",
			 s->bindtodevice);
		return -1;
	}
	return 0;
}
