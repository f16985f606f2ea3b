/*
 * xopts.h - the inet socket options of cs-dump's lib/sk-xopts.c, set to
 * values a new socket does not have, recorded as getsockopt reads them
 * back (TCP_DEFER_ACCEPT is rounded to retransmission steps), and checked
 * one by one after the restore. Shared by tcp.c (listeners, established
 * connections) and sockets.c (UDP). CS_TEST_CORRUPT=xopts: IP_TOS or
 * IPV6_TCLASS of the first socket changed after it was recorded.
 */
#ifndef CS_TEST_XOPTS_H
#define CS_TEST_XOPTS_H

#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include "tprog.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif
#ifndef IP_MULTICAST_ALL
#define IP_MULTICAST_ALL 49
#endif

#define XO_LISTEN 1
#define XO_EST	  2
#define XO_UDP	  4
#define XO_TCP	  (XO_LISTEN | XO_EST)
#define XO_ALL	  (XO_TCP | XO_UDP)

struct xo_opt {
	int fam;	/* AF_INET, AF_INET6 or 0: both */
	int kinds, level, name, val;
	const char *what;
	int optional;	/* not settable here (no CONFIG_NET_RX_BUSY_POLL ...): not checked */
};

#define XO(fam, kinds, level, name, val) { fam, kinds, level, name, val, #name, 0 }
static const struct xo_opt xo_opts[] = {
	XO(AF_INET, XO_ALL, IPPROTO_IP, IP_TRANSPARENT, 1),
	XO(AF_INET, XO_ALL, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1),
	XO(AF_INET, XO_ALL, IPPROTO_IP, IP_TOS, 0x20),
	XO(AF_INET, XO_ALL, IPPROTO_IP, IP_TTL, 33),
	XO(AF_INET, XO_ALL, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE),
	XO(AF_INET, XO_ALL, IPPROTO_IP, IP_RECVERR, 1),
	XO(AF_INET, XO_ALL, IPPROTO_IP, IP_PKTINFO, 1),
	XO(AF_INET, XO_ALL, IPPROTO_IP, IP_RECVTOS, 1),
	XO(AF_INET, XO_ALL, IPPROTO_IP, IP_RECVTTL, 1),
	XO(AF_INET, XO_UDP, IPPROTO_IP, IP_MULTICAST_TTL, 7),
	XO(AF_INET, XO_UDP, IPPROTO_IP, IP_MULTICAST_LOOP, 0),
	XO(AF_INET, XO_UDP, IPPROTO_IP, IP_MULTICAST_ALL, 0),
	XO(AF_INET6, XO_ALL, IPPROTO_IPV6, IPV6_TCLASS, 0x28),
	XO(AF_INET6, XO_ALL, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 17),
	XO(AF_INET6, XO_UDP, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 9),
	XO(AF_INET6, XO_UDP, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0),
	XO(AF_INET6, XO_ALL, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1),
	XO(AF_INET6, XO_ALL, IPPROTO_IPV6, IPV6_RECVERR, 1),
	XO(AF_INET6, XO_ALL, IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_PROBE),
	XO(AF_INET6, XO_ALL, IPPROTO_IPV6, IPV6_RECVTCLASS, 1),
	XO(0, XO_ALL, SOL_SOCKET, SO_TIMESTAMPNS, 1),
	XO(0, XO_ALL, SOL_SOCKET, SO_DONTROUTE, 1),
	XO(0, XO_LISTEN, SOL_SOCKET, SO_INCOMING_CPU, 1),
	{ 0, XO_ALL, SOL_SOCKET, SO_BUSY_POLL, 50, "SO_BUSY_POLL", 1 },
	XO(0, XO_LISTEN, IPPROTO_TCP, TCP_DEFER_ACCEPT, 5),
	XO(0, XO_LISTEN, IPPROTO_TCP, TCP_FASTOPEN, 17),
	XO(0, XO_TCP, IPPROTO_TCP, TCP_SYNCNT, 3),
	XO(0, XO_TCP, IPPROTO_TCP, TCP_LINGER2, 11),
	/* on a connection the kernel moves it with the receive buffer (measured:
	 * 40000 became 128512 without any dump): checked on listeners only */
	XO(0, XO_LISTEN, IPPROTO_TCP, TCP_WINDOW_CLAMP, 40000),
	/* socket(7) options of listeners (lib/sk-opts.c), after IP_TOS which sets the priority too */
	XO(0, XO_LISTEN, SOL_SOCKET, SO_PRIORITY, 3),
	XO(AF_INET6, XO_LISTEN, SOL_SOCKET, SO_RCVBUF, 50000),
};
#define XO_N (sizeof(xo_opts) / sizeof(xo_opts[0]))

/* One socket: its options as read back after set-up. */
struct xo_sock {
	const char *name;
	int fd, fam, kind;
	int val[XO_N];
	char set[XO_N];
	char dev[IFNAMSIZ + 1];
};

static struct xo_sock xo_socks[8];
static int xo_nsocks;

static int xo_applies(const struct xo_opt *o, int fam, int kind)
{
	return (o->kinds & kind) && (!o->fam || o->fam == fam);
}

static int xo_get(int fd, const struct xo_opt *o, int *v)
{
	socklen_t l = sizeof(*v);

	*v = 0;
	return getsockopt(fd, o->level, o->name, v, &l);
}

/*
 * xo_set - set every option that applies to socket fd (family fam, kind
 * XO_*) and SO_BINDTODEVICE "lo" (dev != 0), and record them. name names
 * the socket in messages.
 */
static inline void xo_set(const char *name, int fd, int fam, int kind, int dev)
{
	struct xo_sock *s = &xo_socks[xo_nsocks++];

	s->name = name;
	s->fd = fd;
	s->fam = fam;
	s->kind = kind;
	for (size_t i = 0; i < XO_N; i++) {
		const struct xo_opt *o = &xo_opts[i];

		if (!xo_applies(o, fam, kind))
			continue;
		if (setsockopt(fd, o->level, o->name, &o->val, sizeof(o->val))) {
			if (o->optional)
				continue;
			tp_die("%s: setsockopt %s %d", name, o->what, o->val);
		}
		if (xo_get(fd, o, &s->val[i]))
			tp_die("%s: getsockopt %s", name, o->what);
		s->set[i] = 1;
	}
	if (dev) {
		socklen_t l = IFNAMSIZ;

		if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, "lo", 2) ||
		    getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, s->dev, &l))
			tp_die("%s: SO_BINDTODEVICE lo", name);
	}
}

/* xo_corrupt - CS_TEST_CORRUPT=xopts: the first socket's IP_TOS/IPV6_TCLASS changed. */
static inline void xo_corrupt(void)
{
	int v = 0x48;

	if (!xo_nsocks)
		return;
	if (setsockopt(xo_socks[0].fd, xo_socks[0].fam == AF_INET ? IPPROTO_IP : IPPROTO_IPV6,
		       xo_socks[0].fam == AF_INET ? IP_TOS : IPV6_TCLASS, &v, sizeof(v)))
		tp_die("corrupt: IP_TOS");
}

/* xo_check - every recorded option of every socket, value by value; returns the number checked. */
static inline unsigned xo_check(void)
{
	unsigned n = 0;

	for (int k = 0; k < xo_nsocks; k++) {
		struct xo_sock *s = &xo_socks[k];
		char what[160], dev[IFNAMSIZ + 1] = "";
		socklen_t l = IFNAMSIZ;
		int v;

		for (size_t i = 0; i < XO_N; i++) {
			if (!s->set[i])
				continue;
			n++;
			snprintf(what, sizeof(what), "%s: %s", s->name, xo_opts[i].what);
			if (xo_get(s->fd, &xo_opts[i], &v))
				tp_differs(what, "getsockopt: %s", strerror(errno));
			else if (v != s->val[i])
				tp_differs(what, "got %d want %d", v, s->val[i]);
		}
		n++;
		snprintf(what, sizeof(what), "%s: SO_BINDTODEVICE", s->name);
		if (getsockopt(s->fd, SOL_SOCKET, SO_BINDTODEVICE, dev, &l))
			tp_differs(what, "getsockopt: %s", strerror(errno));
		else
			tp_check_str(what, dev, s->dev);
	}
	return n;
}

#endif
