/*
 * tcp.c - established TCP connections with data in flight, for
 * cs-dump/cs-restore --tcp-established.
 *
 *   tcp READY_FILE [self]
 *   tcp READY_FILE peer
 *   tcp READY_FILE client PORT4 PORT6
 *   tcp READY_FILE halfclosed
 *
 * self (the default): a listener at 127.0.0.1 and one at [::1], a client
 * connection to each and its accepted end, all in this process. On the IPv4
 * pair each end writes until its send buffer is full and nobody reads:
 * unread data in both receive queues, and data never sent (the peer's window
 * is closed) in both send queues. On the IPv6 pair a few thousand bytes wait
 * each way, unread, and the client is corked.
 * Options: TCP_NODELAY, SO_KEEPALIVE with TCP_KEEPIDLE/INTVL/CNT, fixed
 * buffer sizes, TCP_USER_TIMEOUT, SO_LINGER, TCP_CORK; on both listeners,
 * the IPv4 client and the IPv6 accepted end, the options of xopts.h (IP_TOS,
 * IPV6_TCLASS, SO_BINDTODEVICE, TCP_DEFER_ACCEPT, TCP_FASTOPEN, ...). The
 * IPv4 client is also dup'ed to a second fd.
 *
 * peer: the other end for client mode, a separate process that is not
 * dumped: listens at 127.0.0.1 and [::1], writes "PORT4 PORT6" to
 * READY_FILE.ports, then the ready file, accepts one connection on each,
 * writes 40000 bytes on the IPv4 one (the client writes until full: data
 * never sent in the client), 3000 on the IPv6 one, and creates
 * READY_FILE.filled.
 * client PORT4 PORT6: connects to the peer and does its half; SIGUSR1
 * (instead of SIGUSR2) makes it hand its connections to a child that holds
 * them for 60 s and exit (see wait_usr2_or_hand_over).
 *
 * Every stream is a known sequence (byte i of stream k is tcp_pat(k, i), never
 * 0xff). After SIGUSR2 each end sends 0xff and the number of bytes it has
 * written, then 20000 new bytes, 0xff and the count again; it reads the
 * same from its peer, checking every byte in order and both counts. Then
 * it checks value by value: local and peer addresses, options, the
 * options negotiated at the handshake (TCP_INFO: SACK, timestamps, window
 * scales) and the MSS, and (self) that both listeners accept a new client.
 *
 * halfclosed: an IPv4 pair in this process where the accepted end shut
 * down writing (client in CLOSE-WAIT, accepted end in FIN-WAIT-2), for the
 * refusal test; after SIGUSR2 it checks that the states are the same and
 * the client can still send.
 *
 * CS_TEST_CORRUPT: stream (a queued byte read), extra (one byte written
 * that the count leaves out), opts (TCP_NODELAY cleared), addr (the IPv6
 * client replaced by another connection), listen (the IPv4 listener
 * replaced by an unbound socket), xopts (the IPv4 listener's IP_TOS).
 */
#define _GNU_SOURCE
#include <poll.h>
#include <time.h>
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "tprog.h"
#include "tcpprog.h"
#include "xopts.h"

#define WARMUP	10000
#define V6DATA	3000
#define NEWDATA	20000
#define MARK	0xff

static const char *const modes[] = { "stream", "extra", "opts", "addr", "listen", "xopts", NULL };
static unsigned nchecked;

/* What is recorded of one connected socket, and compared after the restore. */
struct rec {
	struct sockaddr_storage name, peer;
	int nodelay, keepalive, keepidle, keepintvl, keepcnt, sndbuf, rcvbuf, user_timeout, cork, maxseg, reuseaddr;
	struct linger lg;
	unsigned tcpi_options, snd_wscale, rcv_wscale;
};

/* One end of a connection: its streams and what the check does with them. */
struct ep {
	const char *name;
	int fd, out_k, in_k;
	uint64_t sent, rcvd;		/* pattern bytes written / read and checked */
	struct rec r;
	/* after SIGUSR2 */
	uint8_t *out;
	size_t out_len, out_off;
	int marks, mark_bytes, bad;
	uint64_t mark_val;
};

static struct ep eps[4];
static int nep;
static int l4 = -1, l6 = -1, c4dup = -1;
static struct sockaddr_storage l4name, l6name;

static int geti(int fd, int level, int name)
{
	int v = -1;
	socklen_t l = sizeof(v);

	if (getsockopt(fd, level, name, &v, &l))
		return -1000 - errno;
	return v;
}

/* Returns 0, or -1 (errno) when the socket has no name or no peer. */
static int record(int fd, struct rec *r)
{
	socklen_t l = sizeof(r->name);
	struct tcp_info ti;

	memset(r, 0, sizeof(*r));
	if (getsockname(fd, (struct sockaddr *)&r->name, &l))
		return -1;
	l = sizeof(r->peer);
	if (getpeername(fd, (struct sockaddr *)&r->peer, &l))
		return -1;
	r->nodelay = geti(fd, IPPROTO_TCP, TCP_NODELAY);
	r->keepalive = geti(fd, SOL_SOCKET, SO_KEEPALIVE);
	r->keepidle = geti(fd, IPPROTO_TCP, TCP_KEEPIDLE);
	r->keepintvl = geti(fd, IPPROTO_TCP, TCP_KEEPINTVL);
	r->keepcnt = geti(fd, IPPROTO_TCP, TCP_KEEPCNT);
	r->sndbuf = geti(fd, SOL_SOCKET, SO_SNDBUF);
	r->rcvbuf = geti(fd, SOL_SOCKET, SO_RCVBUF);
	r->user_timeout = geti(fd, IPPROTO_TCP, TCP_USER_TIMEOUT);
	r->cork = geti(fd, IPPROTO_TCP, TCP_CORK);
	r->maxseg = geti(fd, IPPROTO_TCP, TCP_MAXSEG);
	r->reuseaddr = geti(fd, SOL_SOCKET, SO_REUSEADDR);
	l = sizeof(r->lg);
	getsockopt(fd, SOL_SOCKET, SO_LINGER, &r->lg, &l);
	l = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l))
		tp_die("TCP_INFO");
	r->tcpi_options = ti.tcpi_options & (TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE);
	r->snd_wscale = ti.tcpi_snd_wscale;
	r->rcv_wscale = ti.tcpi_rcv_wscale;
	return 0;
}

static void record_all(void)
{
	for (int i = 0; i < nep; i++)
		if (record(eps[i].fd, &eps[i].r))
			tp_die("%s: no address or no peer", eps[i].name);
}

static void check_val(const struct ep *e, const char *what, long long got, long long want)
{
	char n[128];

	nchecked++;
	if (got != want) {
		snprintf(n, sizeof(n), "%s: %s", e->name, what);
		tp_differs(n, "got %lld want %lld", got, want);
	}
}

static void addr_str(const struct sockaddr_storage *a, char *buf, size_t len)
{
	char s[INET6_ADDRSTRLEN] = "?";

	if (a->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, s, sizeof(s));
		snprintf(buf, len, "%s:%u", s, ntohs(((const struct sockaddr_in *)a)->sin_port));
	} else if (a->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, s, sizeof(s));
		snprintf(buf, len, "[%s]:%u", s, ntohs(((const struct sockaddr_in6 *)a)->sin6_port));
	} else {
		snprintf(buf, len, "family %d", a->ss_family);
	}
}

static void check_addr(const struct ep *e, const char *what, const struct sockaddr_storage *got,
		       const struct sockaddr_storage *want)
{
	char g[80], w[80], n[128];

	nchecked++;
	addr_str(got, g, sizeof(g));
	addr_str(want, w, sizeof(w));
	if (strcmp(g, w)) {
		snprintf(n, sizeof(n), "%s: %s", e->name, what);
		tp_differs(n, "got %s want %s", g, w);
	}
}

static void check_rec(const struct ep *e)
{
	struct rec now;
	const struct rec *r = &e->r;

	if (record(e->fd, &now)) {
		nchecked++;
		tp_differs(e->name, "is no connection: %s", strerror(errno));
		return;
	}
	check_addr(e, "local address", &now.name, &r->name);
	check_addr(e, "peer address", &now.peer, &r->peer);
	check_val(e, "TCP_NODELAY", now.nodelay, r->nodelay);
	check_val(e, "SO_KEEPALIVE", now.keepalive, r->keepalive);
	check_val(e, "TCP_KEEPIDLE", now.keepidle, r->keepidle);
	check_val(e, "TCP_KEEPINTVL", now.keepintvl, r->keepintvl);
	check_val(e, "TCP_KEEPCNT", now.keepcnt, r->keepcnt);
	check_val(e, "SO_SNDBUF", now.sndbuf, r->sndbuf);
	check_val(e, "SO_RCVBUF", now.rcvbuf, r->rcvbuf);
	check_val(e, "TCP_USER_TIMEOUT", now.user_timeout, r->user_timeout);
	check_val(e, "TCP_CORK", now.cork, r->cork);
	/* the MSS in use is a cache the kernel computes again from the route,
	 * the clamp and the largest window seen: not below what it was, and
	 * not the 536/1220-byte default of a new connection */
	nchecked++;
	if (now.maxseg < r->maxseg) {
		char n[128];

		snprintf(n, sizeof(n), "%s: TCP_MAXSEG", e->name);
		tp_differs(n, "got %d, below the %d in use before", now.maxseg, r->maxseg);
	}
	check_val(e, "SO_REUSEADDR", now.reuseaddr, r->reuseaddr);
	check_val(e, "SO_LINGER on", now.lg.l_onoff, r->lg.l_onoff);
	check_val(e, "SO_LINGER seconds", now.lg.l_linger, r->lg.l_linger);
	check_val(e, "negotiated options (tcpi_options)", now.tcpi_options, r->tcpi_options);
	check_val(e, "send window scale", now.snd_wscale, r->snd_wscale);
	check_val(e, "receive window scale", now.rcv_wscale, r->rcv_wscale);
}

static struct ep *add_ep(const char *name, int fd, int out_k, int in_k)
{
	struct ep *e = &eps[nep++];

	memset(e, 0, sizeof(*e));
	e->name = name;
	e->fd = fd;
	e->out_k = out_k;
	e->in_k = in_k;
	return e;
}

static void set_nonblock(int fd)
{
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK))
		tp_die("O_NONBLOCK");
}

/* Write pattern bytes until n are written (n == 0: until the buffer is full). */
static void fill(struct ep *e, uint64_t n)
{
	tcp_fill(e->fd, e->out_k, &e->sent, n, e->name);
}

/* Read and check pattern bytes until n were read in all. */
static void drain(struct ep *e, uint64_t n)
{
	uint8_t buf[4096];

	while (e->rcvd < n) {
		size_t want = n - e->rcvd < sizeof(buf) ? n - e->rcvd : sizeof(buf);
		ssize_t r;

		poll(&(struct pollfd){ e->fd, POLLIN, 0 }, 1, 5000);
		r = recv(e->fd, buf, want, MSG_DONTWAIT);
		if (r < 0 && errno == EAGAIN)
			continue;
		if (r <= 0)
			tp_die("%s: recv during set-up", e->name);
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != tcp_pat(e->in_k, e->rcvd + i))
				tp_die("%s: set-up stream corrupt at %llu", e->name, (unsigned long long)(e->rcvd + i));
		e->rcvd += r;
	}
}

/* Wait until nothing moves on the connection any more (queues settled). */
static void settle(int fd)
{
	tcp_settle(fd, 500, 10);
}

static int unsent(int fd)
{
	int n = 0;

	ioctl(fd, SIOCOUTQNSD, &n);
	return n;
}

static int listener(int family, struct sockaddr_storage *name)
{
	socklen_t al;

	return tcp_listener(family, (struct in_addr){ htonl(INADDR_LOOPBACK) }, 1, 16, name, &al);
}

static int port_of(const struct sockaddr_storage *a)
{
	return ntohs(a->ss_family == AF_INET ? ((const struct sockaddr_in *)a)->sin_port :
		     ((const struct sockaddr_in6 *)a)->sin6_port);
}

static int connect_to(int family, int port)
{
	struct sockaddr_storage a;
	socklen_t al = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int fd = socket(family, SOCK_STREAM, 0);

	if (fd < 0)
		tp_die("socket");
	memset(&a, 0, sizeof(a));
	a.ss_family = family;
	if (family == AF_INET) {
		((struct sockaddr_in *)&a)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		((struct sockaddr_in *)&a)->sin_port = htons(port);
	} else {
		((struct sockaddr_in6 *)&a)->sin6_addr = in6addr_loopback;
		((struct sockaddr_in6 *)&a)->sin6_port = htons(port);
	}
	/* fixed buffers, set before the handshake fixes the window scale */
	tcp_seti(fd, SOL_SOCKET, SO_SNDBUF, 65536, "SO_SNDBUF");
	tcp_seti(fd, SOL_SOCKET, SO_RCVBUF, 65536, "SO_RCVBUF");
	if (connect(fd, (struct sockaddr *)&a, al))
		tp_die("connect to port %d", port);
	return fd;
}

static int accept_one(int l)
{
	int fd = accept(l, NULL, NULL);

	if (fd < 0)
		tp_die("accept");
	return fd;
}

/* The options of a client end and of an accepted end. */
static void client_opts(int fd, int v6)
{
	tcp_seti(fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
	tcp_seti(fd, IPPROTO_TCP, TCP_KEEPIDLE, v6 ? 99 : 77, "TCP_KEEPIDLE");
	tcp_seti(fd, IPPROTO_TCP, TCP_KEEPINTVL, 11, "TCP_KEEPINTVL");
	tcp_seti(fd, IPPROTO_TCP, TCP_KEEPCNT, 5, "TCP_KEEPCNT");
	tcp_seti(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
}

static void accepted_opts(int fd)
{
	struct linger lg = { 1, 7 };

	tcp_seti(fd, SOL_SOCKET, SO_SNDBUF, 65536, "SO_SNDBUF");
	tcp_seti(fd, SOL_SOCKET, SO_RCVBUF, 65536, "SO_RCVBUF");
	/* long: a zero window for longer aborts the connection (tcp(7)) */
	tcp_seti(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, 600000, "TCP_USER_TIMEOUT");
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)))
		tp_die("SO_LINGER");
}

/* Warm-up on a pair of ends in this process: data written and read both ways. */
static void warm_up_pair(struct ep *a, struct ep *b)
{
	fill(a, WARMUP);
	drain(b, WARMUP);
	fill(b, WARMUP);
	drain(a, WARMUP);
}

/* ---- after SIGUSR2 ------------------------------------------------------ */

static void put_mark(uint8_t *p, uint64_t count)
{
	p[0] = MARK;
	memcpy(p + 1, &count, 8);
}

/* What each end sends: mark+count, NEWDATA new bytes, mark+count. */
static void prepare(struct ep *e)
{
	e->out_len = 9 + NEWDATA + 9;
	e->out = malloc(e->out_len);
	if (!e->out)
		tp_die("malloc");
	put_mark(e->out, e->sent);
	for (size_t i = 0; i < NEWDATA; i++)
		e->out[9 + i] = tcp_pat(e->out_k, e->sent + i);
	put_mark(e->out + 9 + NEWDATA, e->sent + NEWDATA);
}

/* Take r received bytes: pattern bytes, marks and counts. */
static void take(struct ep *e, const uint8_t *buf, ssize_t r)
{
	for (ssize_t i = 0; i < r && !e->bad; i++) {
		if (e->mark_bytes) {
			((uint8_t *)&e->mark_val)[8 - e->mark_bytes] = buf[i];
			if (--e->mark_bytes == 0) {
				char n[128];

				snprintf(n, sizeof(n), "%s: bytes received before mark %d", e->name, e->marks);
				nchecked++;
				if (e->mark_val != e->rcvd) {
					tp_differs(n, "got %llu, the peer wrote %llu", (unsigned long long)e->rcvd,
						   (unsigned long long)e->mark_val);
					e->bad = 1;
				}
			}
			continue;
		}
		if (buf[i] == MARK) {
			if (e->marks == 2) {
				tp_differs(e->name, "a third mark arrived");
				e->bad = 1;
			}
			e->marks++;
			e->mark_bytes = 8;
			e->mark_val = 0;
			continue;
		}
		if (buf[i] != tcp_pat(e->in_k, e->rcvd)) {
			char n[128];

			snprintf(n, sizeof(n), "%s: received stream byte %llu", e->name, (unsigned long long)e->rcvd);
			tp_differs(n, "got 0x%02x want 0x%02x", buf[i], tcp_pat(e->in_k, e->rcvd));
			e->bad = 1;
		}
		e->rcvd++;
	}
}

static int done(const struct ep *e)
{
	return e->bad || (e->marks == 2 && !e->mark_bytes && e->out_off == e->out_len);
}

static int any_bad(void)
{
	for (int i = 0; i < nep; i++)
		if (eps[i].bad)
			return 1;
	return 0;
}

/* Every end sends its part and reads its peer's, all at once (both send
 * queues may be full: neither could finish writing before the other reads). */
static void exchange(void)
{
	time_t end = time(NULL) + 30;

	for (int i = 0; i < nep; i++) {
		set_nonblock(eps[i].fd);
		prepare(&eps[i]);
	}
	for (;;) {
		struct pollfd p[4];
		int all = 1;

		for (int i = 0; i < nep; i++) {
			p[i].fd = eps[i].fd;
			p[i].events = done(&eps[i]) ? 0 : POLLIN | (eps[i].out_off < eps[i].out_len ? POLLOUT : 0);
			all &= done(&eps[i]);
		}
		if (all || any_bad())	/* a broken stream stalls its peer: stop */
			break;
		if (time(NULL) > end) {
			for (int i = 0; i < nep; i++)
				if (!done(&eps[i]))
					tp_differs(eps[i].name, "stream stalled: %zu of %zu bytes sent, %d marks and "
						   "%llu bytes received in 30 s", eps[i].out_off, eps[i].out_len,
						   eps[i].marks, (unsigned long long)eps[i].rcvd);
			return;
		}
		poll(p, nep, 1000);
		for (int i = 0; i < nep; i++) {
			struct ep *e = &eps[i];
			uint8_t buf[65536];
			ssize_t r;

			if (done(e))
				continue;
			if (e->out_off < e->out_len) {
				r = send(e->fd, e->out + e->out_off, e->out_len - e->out_off, MSG_DONTWAIT | MSG_NOSIGNAL);
				if (r > 0)
					e->out_off += r;
				else if (r < 0 && errno != EAGAIN) {
					tp_differs(e->name, "send after the restore failed: %s", strerror(errno));
					e->bad = 1;
				}
			}
			r = recv(e->fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (r > 0)
				take(e, buf, r);
			else if (r == 0 || errno != EAGAIN) {
				tp_differs(e->name, "the connection %s", r == 0 ? "was closed by the peer" : strerror(errno));
				e->bad = 1;
			}
		}
	}
}

/* A new client on listener l is accepted, and a byte goes through. */
static void check_accepts(int l, int family, const struct sockaddr_storage *want, const char *name)
{
	struct sockaddr_storage now;
	socklen_t al = sizeof(now);
	struct ep fake = { .name = name };
	int c, a;
	char b = 0;

	if (getsockname(l, (struct sockaddr *)&now, &al)) {
		tp_differs(name, "getsockname failed: %s", strerror(errno));
		return;
	}
	check_addr(&fake, "listening address", &now, want);
	c = socket(family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	nchecked++;
	if (connect(c, (struct sockaddr *)want, al) && errno != EINPROGRESS) {
		tp_differs(name, "a new client cannot connect: %s", strerror(errno));
		return;
	}
	/* the byte first: TCP_DEFER_ACCEPT holds the connection back until data comes */
	poll(&(struct pollfd){ c, POLLOUT, 0 }, 1, 5000);
	if (send(c, "x", 1, 0) != 1) {
		tp_differs(name, "a new client cannot send: %s", strerror(errno));
		close(c);
		return;
	}
	if (poll(&(struct pollfd){ l, POLLIN, 0 }, 1, 5000) != 1 || (a = accept(l, NULL, NULL)) < 0) {
		tp_differs(name, "accepts no new client");
		close(c);
		return;
	}
	if (recv(a, &b, 1, 0) != 1 || b != 'x')
		tp_differs(name, "a byte from a new client did not arrive");
	close(a);
	close(c);
}

static void check_all(int self)
{
	/* the IPv6 client is corked: its options are compared first */
	for (int i = 0; i < nep; i++)
		check_rec(&eps[i]);
	for (int i = 0; i < nep; i++)
		if (eps[i].r.cork > 0)
			tcp_seti(eps[i].fd, IPPROTO_TCP, TCP_CORK, 0, "TCP_CORK off");
	exchange();
	if (self) {
		struct stat a, b;

		/* a dup of a connection still shares it */
		nchecked++;
		if (fstat(eps[0].fd, &a) || fstat(c4dup, &b) || a.st_ino != b.st_ino)
			tp_differs("IPv4 client dup", "it is not the same socket as the IPv4 client");
		nchecked += xo_check();	/* before check_accepts: a new client moves nothing, but first is first */
		check_accepts(l4, AF_INET, &l4name, "IPv4 listener");
		check_accepts(l6, AF_INET6, &l6name, "IPv6 listener");
	}
}

/* ---- set-up --------------------------------------------------------------- */

static void corrupt(void)
{
	if (tp_corrupting("stream")) {
		char b;

		if (recv(eps[1].fd, &b, 1, 0) != 1)
			tp_die("corrupt: recv");
	}
	if (tp_corrupting("extra")) {
		uint8_t b = tcp_pat(eps[2].out_k, eps[2].sent);

		/* written, but left out of the count sent after SIGUSR2 */
		if (send(eps[2].fd, &b, 1, 0) != 1)
			tp_die("corrupt: send");
	}
	if (tp_corrupting("opts"))
		tcp_seti(eps[0].fd, IPPROTO_TCP, TCP_NODELAY, 0, "TCP_NODELAY");
	if (tp_corrupting("addr")) {
		int c = connect_to(AF_INET6, port_of(&l6name));

		if (dup2(c, eps[2].fd) < 0)
			tp_die("dup2");
		close(c);
	}
	if (tp_corrupting("xopts"))
		xo_corrupt();
	if (tp_corrupting("listen")) {
		int s = socket(AF_INET, SOCK_STREAM, 0);

		if (s < 0 || dup2(s, l4) < 0)
			tp_die("corrupt: replace the listener");
		close(s);
	}
}

static void set_up_self(void)
{
	struct ep *c4, *a4, *c6, *a6;
	int fd;

	l4 = listener(AF_INET, &l4name);
	l6 = listener(AF_INET6, &l6name);
	fd = connect_to(AF_INET, port_of(&l4name));
	c4 = add_ep("IPv4 client", fd, 1, 2);
	c4dup = dup(fd);	/* two fds, one socket */
	if (c4dup < 0)
		tp_die("dup");
	a4 = add_ep("IPv4 accepted", accept_one(l4), 2, 1);
	fd = connect_to(AF_INET6, port_of(&l6name));
	c6 = add_ep("IPv6 client", fd, 3, 4);
	a6 = add_ep("IPv6 accepted", accept_one(l6), 4, 3);
	client_opts(c4->fd, 0);
	client_opts(c6->fd, 1);
	accepted_opts(a4->fd);
	accepted_opts(a6->fd);
	/* more options (xopts.h): both listeners, one end of each connection */
	xo_set("IPv4 listener", l4, AF_INET, XO_LISTEN, 1);
	xo_set("IPv6 listener", l6, AF_INET6, XO_LISTEN, 1);
	xo_set("IPv4 client", c4->fd, AF_INET, XO_EST, 1);
	xo_set("IPv6 accepted", a6->fd, AF_INET6, XO_EST, 1);
	warm_up_pair(c4, a4);
	warm_up_pair(c6, a6);
	/* IPv4: both ways until full, nobody reads */
	fill(c4, 0);
	fill(a4, 0);
	settle(c4->fd);
	settle(a4->fd);
	fill(c4, 0);
	fill(a4, 0);
	settle(c4->fd);
	if (!unsent(c4->fd) || !unsent(a4->fd))
		tp_die("no data left unsent on the IPv4 pair (%d, %d)", unsent(c4->fd), unsent(a4->fd));
	/* IPv6: some bytes each way, unread; the client corked (a corked
	 * short write goes out after 200 ms anyway: tcp(7)) */
	fill(a6, a6->sent + V6DATA);
	tcp_seti(c6->fd, IPPROTO_TCP, TCP_NODELAY, 0, "TCP_NODELAY");
	fill(c6, c6->sent + V6DATA);
	tcp_seti(c6->fd, IPPROTO_TCP, TCP_CORK, 1, "TCP_CORK");
	fill(c6, c6->sent + 100);
	settle(c6->fd);
	settle(a6->fd);
	record_all();
}

/* client or peer: this process holds one end of each connection. */
static void set_up_half(int peer, int p4, int p6, const char *ready)
{
	struct ep *e4, *e6;

	if (peer) {
		char buf[64];

		l4 = listener(AF_INET, &l4name);
		l6 = listener(AF_INET6, &l6name);
		snprintf(buf, sizeof(buf), "%d %d\n", port_of(&l4name), port_of(&l6name));
		tcp_note(ready, "ports", buf);
		tp_write_ready(ready);
		e4 = add_ep("peer IPv4", accept_one(l4), 2, 1);
		e6 = add_ep("peer IPv6", accept_one(l6), 4, 3);
		close(l4);
		close(l6);
		accepted_opts(e4->fd);
		accepted_opts(e6->fd);
	} else {
		e4 = add_ep("IPv4 client", connect_to(AF_INET, p4), 1, 2);
		e6 = add_ep("IPv6 client", connect_to(AF_INET6, p6), 3, 4);
		client_opts(e4->fd, 0);
		client_opts(e6->fd, 1);
	}
	/* warm-up: both write, then both read */
	fill(e4, WARMUP);
	fill(e6, WARMUP);
	drain(e4, WARMUP);
	drain(e6, WARMUP);
	/*
	 * Then the client writes until full, and the peer 40000 bytes, which
	 * the client's receive buffer holds: nobody reads. A peer facing a
	 * closed window would probe it, and a probe arriving between the kill
	 * and the restore is answered with a reset unless the network lock
	 * holds it (cs-restore(8), LIMITATIONS); the client's own closed
	 * window is probed by its own kernel while it is alive only.
	 */
	for (int i = 0; i < 3; i++) {
		fill(e4, peer ? WARMUP + 40000 : 0);
		fill(e6, e6->sent < WARMUP + V6DATA ? WARMUP + V6DATA : e6->sent);
		settle(e4->fd);
	}
	if (!peer && !unsent(e4->fd))
		tp_die("no data left unsent on the IPv4 connection");
	record_all();
	if (peer)
		tcp_note(ready, "filled", "");
}

static void halfclosed(const char *ready)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);
	int c, a;
	char b;

	l4 = listener(AF_INET, &l4name);
	c = connect_to(AF_INET, port_of(&l4name));
	a = accept_one(l4);
	if (shutdown(a, SHUT_WR))
		tp_die("shutdown");
	settle(c);
	tp_write_ready(ready);
	tp_wait_usr2();
	getsockopt(c, IPPROTO_TCP, TCP_INFO, &ti, &l);
	check_val(&(struct ep){ .name = "client" }, "TCP state", ti.tcpi_state, TCP_CLOSE_WAIT);
	l = sizeof(ti);
	getsockopt(a, IPPROTO_TCP, TCP_INFO, &ti, &l);
	check_val(&(struct ep){ .name = "accepted" }, "TCP state", ti.tcpi_state, TCP_FIN_WAIT2);
	nchecked++;
	if (send(c, "y", 1, 0) != 1 || recv(a, &b, 1, 0) != 1 || b != 'y')
		tp_differs("client", "a byte to the half-closed end did not arrive");
	tp_finish(nchecked);
}

/*
 * client mode: SIGUSR1 instead of SIGUSR2 hands the connections over to a
 * child (its PID in READY_FILE.holder) that holds them, idle, for 60 s, and
 * exits: the connections exist while this PID is free.
 */
static void wait_usr2_or_hand_over(const char *ready)
{
	sigset_t s;
	pid_t child;

	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	sigaddset(&s, SIGUSR2);
	if (sigprocmask(SIG_BLOCK, &s, NULL))
		tp_die("sigprocmask");
	for (;;) {
		int sig = sigwaitinfo(&s, NULL);

		if (sig == SIGUSR2)
			return;
		if (sig == SIGUSR1)
			break;
	}
	child = fork();
	if (child < 0)
		tp_die("fork");
	if (child == 0) {
		char path[4200], buf[32];
		int fd, n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());

		snprintf(path, sizeof(path), "%s.holder", ready);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, buf, n) != n || close(fd))
			_exit(2);
		sleep(60);
		_exit(0);
	}
	exit(0);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 2 ? argv[2] : "self";
	int self = !strcmp(mode, "self");

	tp_init("tcp", argc, argv);
	tp_block_usr2();
	tp_corrupt_check_mode(modes);
	if (!strcmp(mode, "halfclosed"))
		halfclosed(argv[1]);
	if (self) {
		set_up_self();
		corrupt();
		tp_write_ready(argv[1]);
	} else if (!strcmp(mode, "peer")) {
		set_up_half(1, 0, 0, argv[1]);
	} else if (!strcmp(mode, "client") && argc > 4) {
		set_up_half(0, atoi(argv[3]), atoi(argv[4]), argv[1]);
		tp_write_ready(argv[1]);
	} else {
		errno = EINVAL;
		tp_die("unknown mode %s", mode);
	}
	if (!strcmp(mode, "client"))
		wait_usr2_or_hand_over(argv[1]);
	else
		tp_wait_usr2();
	check_all(self);
	tp_finish(nchecked);
}
