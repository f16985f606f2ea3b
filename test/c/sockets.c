/*
 * sockets.c - unix and UDP sockets of every kind that cs-dump saves, with
 * data waiting in their queues.
 *
 *   sockets READY_FILE [MODE [NAME]]
 *
 * MODE all (the default) sets up, in the directory of READY_FILE (also the
 * working directory):
 *   - a unix stream socketpair with 100000 bytes queued one way and 9 the
 *     other, SO_PASSCRED on one end, SO_PEEK_OFF 5 on the other
 *   - a unix dgram socketpair with 4 datagrams queued one way (one of them
 *     empty, one of 5000 bytes) and 1 the other, SO_SNDBUF set
 *   - a unix seqpacket socketpair with 2 messages queued one way; the other
 *     end sent 1 and shut down for writing
 *   - a unix stream socket whose peer sent 3 bytes and was closed
 *   - a unix stream listener at the path listen.sock (mode 0640, backlog 7),
 *     one connection accepted from it, data queued both ways, SO_RCVTIMEO
 *   - a unix seqpacket listener at an abstract name (backlog 3)
 *   - a unix dgram socket at an abstract name with 2 datagrams queued: from
 *     a named socket of the process (which is then connected to it) and from
 *     an unnamed socket since closed; SO_PRIORITY set
 *   - a unix dgram socket bound to the relative path rel.sock
 *   - a UDP socket at 127.0.0.1 (SO_REUSEADDR) with 2 datagrams queued from
 *     a UDP socket connected to it; a UDP socket at [::1] (IPV6_V6ONLY,
 *     SO_RCVBUF) with 1 datagram queued from an unconnected one (IPv6 parts
 *     are left out when the kernel has no IPv6)
 * After SIGUSR2 it checks value by value: queued bytes and message
 * boundaries, datagram sources, bound names and peer names, options, the
 * backlogs (through sock_diag), the socket file's mode, that each pair still
 * connects both ways, that both listeners accept a fresh client, that the
 * shut-down end stays shut down, the UDP destinations, and that a datagram
 * sent to each bound UDP port now arrives.
 *
 * Modes for refusals (no check after SIGUSR2 beyond exiting 0):
 *   scm-rights        a stream socketpair with an fd queued (SCM_RIGHTS)
 *   mcast4, mcast6    a UDP socket in multicast group 239.1.2.3 / ff15::1234 on lo
 *   mcast46           an IPv6 UDP socket in IPv4 group 239.4.5.6 on lo
 *   peer-outside NAME connected to the abstract unix listener @NAME of
 *                     another process (not accepted)
 *   peer-server NAME  that other process: listens on @NAME, and accepts one
 *                     connection after the ready file is written
 *   path-server PATH  listens at PATH (a live socket in the way of a restore)
 *
 * CS_TEST_CORRUPT: stream (a queued byte read), dgram (a queued datagram
 * read), pair (a stream end replaced by another socket), listen (the
 * listener replaced by an unbound socket), name (the abstract dgram socket
 * replaced by one bound elsewhere), opts (SO_PASSCRED cleared), peekoff
 * (SO_PEEK_OFF moved), udp (a queued UDP datagram read), udpdst (the
 * connected UDP socket connected elsewhere), xopts (the IPv4 UDP socket's
 * IP_TOS: see xopts.h, whose options both bound UDP sockets have).
 */
#define _GNU_SOURCE
#include <limits.h>
#include <poll.h>
#include <arpa/inet.h>
#include <stddef.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include "tprog.h"
#include "xopts.h"

#define BIG	100000
#define MID	5000

static unsigned nchecked;

static const char *const modes[] = { "stream", "dgram", "pair", "listen", "name", "opts", "peekoff", "udp",
				     "udpdst", "xopts", NULL };

/* the objects, and what was recorded about them */
static int sp[2], dg[2], sq[2], pc[2], lis, acc, cli, sql, dsrv, dnam, rel;
static int u4, u4c, u6 = -1, u6c = -1;
static char dir[PATH_MAX], lpath[PATH_MAX + 32];
static struct sockaddr_un dname, nname, qname;
static socklen_t dname_len, nname_len, qname_len;
static struct sockaddr_storage u4addr, u4caddr, u6addr, u6caddr;
static int pattern_big[1];

static unsigned char big_byte(size_t i)
{
	return (unsigned char)(i * 7 + 3 + pattern_big[0]);
}

static void check(int ok, const char *what, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void check(int ok, const char *what, const char *fmt, ...)
{
	char line[600];
	va_list ap;

	nchecked++;
	if (ok)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	tp_differs(what, "%s", line);
}

static int sopt(int fd, int level, int name)
{
	int v = -12345;
	socklen_t l = sizeof(v);

	if (getsockopt(fd, level, name, &v, &l))
		return -12345;
	return v;
}

static void set(int fd, int level, int name, int v)
{
	if (setsockopt(fd, level, name, &v, sizeof(v)))
		tp_die("setsockopt %d/%d on fd %d", level, name, fd);
}

static void send_all(int fd, const void *buf, size_t len)
{
	if (send(fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
		tp_die("send %zu bytes on fd %d", len, fd);
}

static socklen_t abstract(struct sockaddr_un *a, const char *tag)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	return offsetof(struct sockaddr_un, sun_path) + 1 +
	       snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1, "cs-sockets-%d-%s", getpid(), tag);
}

static int sk(int type)
{
	int fd = socket(AF_UNIX, type, 0);

	if (fd < 0)
		tp_die("socket");
	return fd;
}

static int same_name(int fd, int peer, const void *want, socklen_t want_len)
{
	struct sockaddr_un a;
	socklen_t l = sizeof(a);

	memset(&a, 0, sizeof(a));
	if ((peer ? getpeername(fd, (struct sockaddr *)&a, &l) : getsockname(fd, (struct sockaddr *)&a, &l)))
		return 0;
	if (want_len <= sizeof(sa_family_t))
		return l <= sizeof(sa_family_t);
	return l == want_len && !memcmp(&a, want, l);
}

/* backlog of listening unix socket fd, from sock_diag's UNIX_DIAG_RQLEN */
static int diag_backlog(int fd)
{
	struct {
		struct nlmsghdr h;
		struct unix_diag_req r;
	} req;
	union { char b[8192]; struct nlmsghdr align; } ans;
	struct stat st;
	int nl, n, ret = -1;

	if (fstat(fd, &st))
		return -1;
	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = sizeof(req);
	req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	req.r.sdiag_family = AF_UNIX;
	req.r.udiag_states = ~0u;
	req.r.udiag_ino = st.st_ino;
	req.r.udiag_show = UDIAG_SHOW_RQLEN;
	req.r.udiag_cookie[0] = req.r.udiag_cookie[1] = ~0u;
	nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -1;
	if (send(nl, &req, sizeof(req), 0) == sizeof(req) && (n = recv(nl, ans.b, sizeof(ans.b), 0)) > 0) {
		struct nlmsghdr *h = &ans.align;

		if (NLMSG_OK(h, (unsigned)n) && h->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
			struct unix_diag_msg *m = NLMSG_DATA(h);
			struct rtattr *a = (struct rtattr *)(m + 1);
			int rl = h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));

			for (; RTA_OK(a, rl); a = RTA_NEXT(a, rl))
				if (a->rta_type == UNIX_DIAG_RQLEN)
					ret = ((struct unix_diag_rqlen *)RTA_DATA(a))->udiag_wqueue;
		}
	}
	close(nl);
	return ret;
}

static int udp_sock(int family, const char *addr, int port, struct sockaddr_storage *a)
{
	socklen_t l = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int fd = socket(family, SOCK_DGRAM, IPPROTO_UDP);

	if (fd < 0)
		return -1;
	memset(a, 0, sizeof(*a));
	a->ss_family = family;
	if (family == AF_INET) {
		inet_pton(AF_INET, addr, &((struct sockaddr_in *)a)->sin_addr);
		((struct sockaddr_in *)a)->sin_port = htons(port);
	} else {
		inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)a)->sin6_addr);
		((struct sockaddr_in6 *)a)->sin6_port = htons(port);
		set(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	}
	if (bind(fd, (struct sockaddr *)a, l)) {
		close(fd);
		return -1;
	}
	l = sizeof(*a);
	getsockname(fd, (struct sockaddr *)a, &l);
	return fd;
}

static socklen_t inlen(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

static void set_up(void)
{
	char buf[BIG];
	struct sockaddr_un a;
	socklen_t al;
	struct timeval tv = { 1, 500000 };
	int tmp, one = 1;

	/* stream socketpair */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp))
		tp_die("socketpair");
	for (size_t i = 0; i < BIG; i++)
		buf[i] = big_byte(i);
	send_all(sp[0], buf, BIG);
	send_all(sp[1], "pong-1234", 9);
	set(sp[1], SOL_SOCKET, SO_PASSCRED, 1);
	set(sp[0], SOL_SOCKET, SO_PEEK_OFF, 5);

	/* dgram socketpair */
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, dg))
		tp_die("socketpair");
	set(dg[0], SOL_SOCKET, SO_SNDBUF, 65536);
	send_all(dg[0], "one", 3);
	send_all(dg[0], "", 0);
	memset(buf, 'm', MID);
	send_all(dg[0], buf, MID);
	send_all(dg[0], "four", 4);
	send_all(dg[1], "back", 4);

	/* seqpacket socketpair, one end shut down for writing */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sq))
		tp_die("socketpair");
	send_all(sq[0], "s1", 2);
	send_all(sq[0], "second msg", 10);
	send_all(sq[1], "rev", 3);
	send_all(sq[1], "", 0);		/* an empty message before more data */
	send_all(sq[1], "after", 5);
	if (shutdown(sq[1], SHUT_WR))
		tp_die("shutdown");

	/* a stream socket whose peer is closed */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, pc))
		tp_die("socketpair");
	send_all(pc[1], "bye", 3);
	close(pc[1]);

	/* stream listener at a path, and a connection accepted from it */
	snprintf(lpath, sizeof(lpath), "%s/listen.sock", dir);
	unlink(lpath);
	lis = sk(SOCK_STREAM);
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", lpath);
	if (strlen(lpath) >= sizeof(a.sun_path))
		tp_die("path %s too long for a unix socket", lpath);
	if (bind(lis, (struct sockaddr *)&a, sizeof(a)) || listen(lis, 7) || chmod(lpath, 0640))
		tp_die("listen at %s", lpath);
	cli = sk(SOCK_STREAM);
	if (connect(cli, (struct sockaddr *)&a, sizeof(a)))
		tp_die("connect");
	acc = accept(lis, NULL, NULL);
	if (acc < 0)
		tp_die("accept");
	send_all(cli, "client-data", 11);
	send_all(acc, "server-data!", 12);
	if (setsockopt(acc, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
		tp_die("SO_RCVTIMEO");

	/* seqpacket listener at an abstract name */
	sql = sk(SOCK_SEQPACKET);
	qname_len = abstract(&qname, "q");
	if (bind(sql, (struct sockaddr *)&qname, qname_len) || listen(sql, 3))
		tp_die("seqpacket listener");

	/* abstract dgram server with datagrams from a named and an unnamed socket */
	dsrv = sk(SOCK_DGRAM);
	dname_len = abstract(&dname, "d");
	if (bind(dsrv, (struct sockaddr *)&dname, dname_len))
		tp_die("bind dgram");
	set(dsrv, SOL_SOCKET, SO_PRIORITY, 3);
	dnam = sk(SOCK_DGRAM);
	nname_len = abstract(&nname, "n");
	if (bind(dnam, (struct sockaddr *)&nname, nname_len))
		tp_die("bind dgram");
	if (sendto(dnam, "from-n", 6, 0, (struct sockaddr *)&dname, dname_len) != 6)
		tp_die("sendto");
	tmp = sk(SOCK_DGRAM);
	if (sendto(tmp, "anon", 4, 0, (struct sockaddr *)&dname, dname_len) != 4)
		tp_die("sendto");
	close(tmp);
	if (connect(dnam, (struct sockaddr *)&dname, dname_len))
		tp_die("connect dgram");

	/* relative path name */
	unlink("rel.sock");
	rel = sk(SOCK_DGRAM);
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	strcpy(a.sun_path, "rel.sock");
	if (bind(rel, (struct sockaddr *)&a, sizeof(a)))
		tp_die("bind rel.sock");

	/* UDP */
	u4 = udp_sock(AF_INET, "127.0.0.1", 0, &u4addr);
	if (u4 < 0)
		tp_die("UDP socket");
	set(u4, SOL_SOCKET, SO_REUSEADDR, 1);
	u4c = socket(AF_INET, SOCK_DGRAM, 0);
	if (u4c < 0 || connect(u4c, (struct sockaddr *)&u4addr, inlen(&u4addr)))
		tp_die("connect UDP");
	al = sizeof(u4caddr);
	getsockname(u4c, (struct sockaddr *)&u4caddr, &al);
	send_all(u4c, "udp-1", 5);
	send_all(u4c, "udp-two", 7);
	u6 = udp_sock(AF_INET6, "::1", 0, &u6addr);
	if (u6 >= 0) {
		set(u6, SOL_SOCKET, SO_RCVBUF, 100000);
		u6c = udp_sock(AF_INET6, "::1", 0, &u6caddr);
		if (u6c < 0 || sendto(u6c, "v6-data", 7, 0, (struct sockaddr *)&u6addr, inlen(&u6addr)) != 7)
			tp_die("UDP over IPv6");
	}
	/* more options (xopts.h) on both bound UDP sockets */
	xo_set("UDP socket", u4, AF_INET, XO_UDP, 1);
	if (u6 >= 0)
		xo_set("UDP/IPv6 socket", u6, AF_INET6, XO_UDP, 1);
	(void)one;
	/* let loopback deliver everything before the ready file */
	for (int i = 0; i < 100; i++) {
		struct pollfd p[2] = { { u4, POLLIN, 0 }, { u6, POLLIN, 0 } };

		if (poll(p, u6 >= 0 ? 2 : 1, 10) == (u6 >= 0 ? 2 : 1))
			break;
	}
}

static void corrupt(void)
{
	if (tp_corrupting("xopts"))
		xo_corrupt();
	char b[MID + 10];
	int s2[2];

	if (tp_corrupting("stream"))
		recv(sp[1], b, 1, 0);
	if (tp_corrupting("dgram"))
		recv(dg[1], b, sizeof(b), 0);
	if (tp_corrupting("pair")) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, s2) || dup2(s2[0], sp[0]) < 0)
			tp_die("pair");
	}
	if (tp_corrupting("listen"))
		dup2(sk(SOCK_STREAM), lis);
	if (tp_corrupting("name")) {
		struct sockaddr_un a;
		socklen_t l = abstract(&a, "other");
		int fd = sk(SOCK_DGRAM);

		if (bind(fd, (struct sockaddr *)&a, l) || dup2(fd, dsrv) < 0)
			tp_die("name");
	}
	if (tp_corrupting("opts"))
		set(sp[1], SOL_SOCKET, SO_PASSCRED, 0);
	if (tp_corrupting("peekoff"))
		set(sp[0], SOL_SOCKET, SO_PEEK_OFF, 2);
	if (tp_corrupting("udp"))
		recv(u4, b, sizeof(b), 0);
	if (tp_corrupting("udpdst")) {
		struct sockaddr_storage a = u4caddr;

		if (connect(u4c, (struct sockaddr *)&a, inlen(&a)))
			tp_die("udpdst");
	}
}

/* One datagram or seqpacket message of fd: want exactly want_len bytes of want. */
static void check_msg(int fd, const char *what, const void *want, size_t want_len)
{
	static char b[MID * 2];
	ssize_t r = recv(fd, b, sizeof(b), MSG_DONTWAIT | MSG_TRUNC);

	check(r == (ssize_t)want_len && !memcmp(b, want, want_len), what, "got %zd bytes \"%.*s\" want %zu \"%.*s\"",
	      r, r > 0 && r < 40 ? (int)r : 0, b, want_len, want_len < 40 ? (int)want_len : 0, (const char *)want);
}

static void check_empty(int fd, const char *what)
{
	char b[16];
	ssize_t r = recv(fd, b, sizeof(b), MSG_DONTWAIT);

	check(r < 0 && errno == EAGAIN, what, "queue not empty afterwards (recv gives %zd)", r);
}

/* a byte sent on a arrives on b */
static void check_link(int a, int b, const char *what)
{
	char c = 0;
	struct pollfd p = { b, POLLIN, 0 };

	if (send(a, "L", 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1) {
		check(0, what, "cannot send: %s", strerror(errno));
		return;
	}
	check(poll(&p, 1, 1000) == 1 && recv(b, &c, 1, MSG_DONTWAIT) == 1 && c == 'L', what,
	      "a byte sent did not arrive at the other end");
}

static void check_unix(void)
{
	static char b[BIG + 100];
	ssize_t r;
	size_t got = 0, bad = BIG;
	char fn[64];

	/* stream pair: SO_PEEK_OFF first (a peek moves it), then the queues */
	check(sopt(sp[0], SOL_SOCKET, SO_PEEK_OFF) == 5, "stream SO_PEEK_OFF", "got %d want 5",
	      sopt(sp[0], SOL_SOCKET, SO_PEEK_OFF));
	r = recv(sp[0], b, 4, MSG_PEEK | MSG_DONTWAIT);
	check(r == 4 && !memcmp(b, "1234", 4), "stream peek at SO_PEEK_OFF", "got %zd bytes", r);
	r = recv(sp[0], b, 100, MSG_DONTWAIT);
	check(r == 9 && !memcmp(b, "pong-1234", 9), "stream queue (small)", "got %zd bytes", r);
	while (got < BIG && (r = recv(sp[1], b + got, BIG + 100 - got, MSG_DONTWAIT)) > 0)
		got += r;
	for (size_t i = 0; i < got && bad == BIG; i++)
		if ((unsigned char)b[i] != big_byte(i))
			bad = i;
	check(got == BIG && bad == BIG, "stream queue (100000 bytes)", "got %zu bytes, first difference at %zu",
	      got, bad);
	check_empty(sp[1], "stream queue (100000 bytes)");
	check(sopt(sp[1], SOL_SOCKET, SO_PASSCRED) == 1, "SO_PASSCRED", "got %d want 1",
	      sopt(sp[1], SOL_SOCKET, SO_PASSCRED));
	check_link(sp[0], sp[1], "stream pair 0->1");
	check_link(sp[1], sp[0], "stream pair 1->0");

	/* dgram pair */
	memset(b, 'm', MID);
	check_msg(dg[1], "dgram message 1", "one", 3);
	check_msg(dg[1], "dgram message 2 (empty)", "", 0);
	check_msg(dg[1], "dgram message 3 (5000 bytes)", b, MID);
	check_msg(dg[1], "dgram message 4", "four", 4);
	check_empty(dg[1], "dgram queue");
	check_msg(dg[0], "dgram message back", "back", 4);
	check_empty(dg[0], "dgram queue back");
	check(sopt(dg[0], SOL_SOCKET, SO_SNDBUF) == 131072, "dgram SO_SNDBUF", "got %d want 131072",
	      sopt(dg[0], SOL_SOCKET, SO_SNDBUF));
	check_link(dg[0], dg[1], "dgram pair 0->1");
	check_link(dg[1], dg[0], "dgram pair 1->0");

	/* seqpacket pair */
	check_msg(sq[1], "seqpacket message 1", "s1", 2);
	check_msg(sq[1], "seqpacket message 2", "second msg", 10);
	check_msg(sq[0], "seqpacket message back", "rev", 3);
	check_msg(sq[0], "seqpacket empty message back", "", 0);
	check_msg(sq[0], "seqpacket message back after the empty one", "after", 5);
	r = recv(sq[0], b, 10, MSG_DONTWAIT);
	check(r == 0, "seqpacket shutdown", "after the data, recv gives %zd, want 0 (end of file)", r);
	r = send(sq[1], "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	check(r < 0 && errno == EPIPE, "seqpacket shutdown", "send on the shut end gives %zd", r);
	check_link(sq[0], sq[1], "seqpacket pair 0->1");

	/* peer closed: the data, then end of file; sending fails */
	r = recv(pc[0], b, 10, MSG_DONTWAIT);
	check(r == 3 && !memcmp(b, "bye", 3), "data from a closed peer", "got %zd bytes", r);
	r = recv(pc[0], b, 10, MSG_DONTWAIT);
	check(r == 0, "closed peer", "after the data, recv gives %zd, want 0 (end of file)", r);
	r = send(pc[0], "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	check(r < 0 && errno == EPIPE, "closed peer", "send gives %zd (%s), want EPIPE", r, strerror(errno));

	/* listener at a path and its accepted connection */
	{
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		struct stat st;
		int fresh, in;

		snprintf(a.sun_path, sizeof(a.sun_path), "%s", lpath);
		check(same_name(lis, 0, &a, offsetof(struct sockaddr_un, sun_path) + strlen(lpath) + 1),
		      "listener name", "getsockname is not %s", lpath);
		check(same_name(acc, 0, &a, offsetof(struct sockaddr_un, sun_path) + strlen(lpath) + 1),
		      "accepted socket name", "getsockname is not %s", lpath);
		check(same_name(cli, 1, &a, offsetof(struct sockaddr_un, sun_path) + strlen(lpath) + 1),
		      "client peer name", "getpeername is not %s", lpath);
		check(same_name(cli, 0, NULL, 0), "client name", "bound, want unnamed");
		check(same_name(acc, 1, NULL, 0), "accepted socket peer name", "named, want unnamed");
		check(sopt(lis, SOL_SOCKET, SO_ACCEPTCONN) == 1, "listener", "SO_ACCEPTCONN is not 1");
		check(diag_backlog(lis) == 7, "listener backlog", "got %d want 7", diag_backlog(lis));
		check(stat(lpath, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0640,
		      "socket file mode", "got %o want socket 0640", st.st_mode);
		check_msg(acc, "queue at the accepted socket", "client-data", 11);
		check_msg(cli, "queue at the client", "server-data!", 12);
		{
			struct timeval tv = { 0, 0 };
			socklen_t l = sizeof(tv);

			getsockopt(acc, SOL_SOCKET, SO_RCVTIMEO, &tv, &l);
			check(tv.tv_sec == 1 && tv.tv_usec == 500000, "SO_RCVTIMEO", "got %ld.%06ld want 1.500000",
			      (long)tv.tv_sec, (long)tv.tv_usec);
		}
		check_link(cli, acc, "connection client->server");
		check_link(acc, cli, "connection server->client");
		fresh = sk(SOCK_STREAM);
		in = -1;
		if (connect(fresh, (struct sockaddr *)&a, sizeof(a)) == 0) {
			struct pollfd p = { lis, POLLIN, 0 };

			if (poll(&p, 1, 1000) == 1)
				in = accept(lis, NULL, NULL);
		}
		check(in >= 0, "listener", "a fresh client at %s was not accepted", lpath);
		if (in >= 0) {
			check_link(fresh, in, "fresh connection");
			close(in);
		}
		close(fresh);
	}

	/* seqpacket listener at an abstract name */
	{
		int fresh = sk(SOCK_SEQPACKET), in = -1;

		check(same_name(sql, 0, &qname, qname_len), "seqpacket listener name", "not the abstract name");
		check(diag_backlog(sql) == 3, "seqpacket listener backlog", "got %d want 3", diag_backlog(sql));
		if (connect(fresh, (struct sockaddr *)&qname, qname_len) == 0)
			in = accept(sql, NULL, NULL);
		check(in >= 0, "seqpacket listener", "a fresh client was not accepted");
		if (in >= 0) {
			check_link(in, fresh, "fresh seqpacket connection");
			close(in);
		}
		close(fresh);
	}

	/* abstract dgram server */
	{
		struct sockaddr_un from;
		socklen_t fl = sizeof(from);

		check(same_name(dsrv, 0, &dname, dname_len), "dgram socket name", "not its abstract name");
		check(same_name(dnam, 0, &nname, nname_len), "named dgram client name", "not its abstract name");
		check(same_name(dnam, 1, &dname, dname_len), "named dgram client peer", "not the server's name");
		r = recvfrom(dsrv, b, 100, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		check(r == 6 && !memcmp(b, "from-n", 6) && fl == nname_len && !memcmp(&from, &nname, fl),
		      "dgram from a named socket", "got %zd bytes from a name of %u bytes", r, fl);
		fl = sizeof(from);
		r = recvfrom(dsrv, b, 100, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		check(r == 4 && !memcmp(b, "anon", 4) && fl <= sizeof(sa_family_t), "dgram from an unnamed socket",
		      "got %zd bytes from a name of %u bytes", r, fl);
		check_empty(dsrv, "dgram server queue");
		check(sopt(dsrv, SOL_SOCKET, SO_PRIORITY) == 3, "SO_PRIORITY", "got %d want 3",
		      sopt(dsrv, SOL_SOCKET, SO_PRIORITY));
		check_link(dnam, dsrv, "connected dgram socket");
	}

	/* relative name */
	{
		struct sockaddr_un a = { .sun_family = AF_UNIX, .sun_path = "rel.sock" };
		struct stat st;

		check(same_name(rel, 0, &a, offsetof(struct sockaddr_un, sun_path) + 9), "relative name",
		      "getsockname is not rel.sock");
		check(stat("rel.sock", &st) == 0 && S_ISSOCK(st.st_mode), "relative name", "no socket file rel.sock");
	}
	(void)fn;
}

static void check_udp(void)
{
	struct sockaddr_storage a, from;
	socklen_t al = sizeof(a), fl;
	char b[100];
	ssize_t r;

	check(getsockname(u4, (struct sockaddr *)&a, &al) == 0 && al == inlen(&u4addr) && !memcmp(&a, &u4addr, al),
	      "UDP bound address", "getsockname differs");
	check(sopt(u4, SOL_SOCKET, SO_REUSEADDR) == 1, "UDP SO_REUSEADDR", "got %d want 1",
	      sopt(u4, SOL_SOCKET, SO_REUSEADDR));
	al = sizeof(a);
	check(getpeername(u4c, (struct sockaddr *)&a, &al) == 0 && al == inlen(&u4addr) && !memcmp(&a, &u4addr, al),
	      "UDP connected destination", "getpeername differs");
	al = sizeof(a);
	check(getsockname(u4c, (struct sockaddr *)&a, &al) == 0 && !memcmp(&a, &u4caddr, al),
	      "UDP connected socket's address", "getsockname differs");
	fl = sizeof(from);
	r = recvfrom(u4, b, sizeof(b), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
	check(r == 5 && !memcmp(b, "udp-1", 5) && fl == inlen(&u4caddr) && !memcmp(&from, &u4caddr, fl),
	      "UDP queued datagram 1", "got %zd bytes", r);
	fl = sizeof(from);
	r = recvfrom(u4, b, sizeof(b), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
	check(r == 7 && !memcmp(b, "udp-two", 7) && fl == inlen(&u4caddr) && !memcmp(&from, &u4caddr, fl),
	      "UDP queued datagram 2", "got %zd bytes", r);
	check_empty(u4, "UDP queue");
	check_link(u4c, u4, "UDP datagram to the bound port");
	if (u6 < 0)
		return;
	al = sizeof(a);
	check(getsockname(u6, (struct sockaddr *)&a, &al) == 0 && al == inlen(&u6addr) && !memcmp(&a, &u6addr, al),
	      "UDP/IPv6 bound address", "getsockname differs");
	check(sopt(u6, IPPROTO_IPV6, IPV6_V6ONLY) == 1, "IPV6_V6ONLY", "got %d want 1",
	      sopt(u6, IPPROTO_IPV6, IPV6_V6ONLY));
	check(sopt(u6, SOL_SOCKET, SO_RCVBUF) == 200000, "UDP/IPv6 SO_RCVBUF", "got %d want 200000",
	      sopt(u6, SOL_SOCKET, SO_RCVBUF));
	fl = sizeof(from);
	r = recvfrom(u6, b, sizeof(b), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
	check(r == 7 && !memcmp(b, "v6-data", 7) && fl == inlen(&u6caddr) && !memcmp(&from, &u6caddr, fl),
	      "UDP/IPv6 queued datagram", "got %zd bytes", r);
	check_empty(u6, "UDP/IPv6 queue");
	{
		struct pollfd p = { u6, POLLIN, 0 };
		int fresh = socket(AF_INET6, SOCK_DGRAM, 0);

		r = sendto(fresh, "new", 3, 0, (struct sockaddr *)&u6addr, inlen(&u6addr));
		check(r == 3 && poll(&p, 1, 1000) == 1 && recv(u6, b, sizeof(b), 0) == 3,
		      "UDP/IPv6 datagram to the bound port", "a new datagram did not arrive");
		close(fresh);
	}
}

/* refusal targets */
static void refusal(const char *mode, const char *name)
{
	if (!strcmp(mode, "scm-rights")) {
		char c = 'r';
		int fd = 0;
		union { char b[CMSG_SPACE(sizeof(int))]; struct cmsghdr a; } ctl;
		struct iovec iov = { &c, 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
				    .msg_controllen = sizeof(ctl.b) };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&m);

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp))
			tp_die("socketpair");
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
		if (sendmsg(sp[0], &m, 0) != 1)
			tp_die("sendmsg SCM_RIGHTS");
		return;
	}
	if (!strcmp(mode, "mcast4")) {
		struct ip_mreqn mr = { .imr_ifindex = 1 };	/* lo */
		int fd = socket(AF_INET, SOCK_DGRAM, 0);

		inet_pton(AF_INET, "239.1.2.3", &mr.imr_multiaddr);
		if (fd < 0 || setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)))
			tp_die("IP_ADD_MEMBERSHIP 239.1.2.3");
		return;
	}
	if (!strcmp(mode, "mcast6")) {
		struct ipv6_mreq mr = { .ipv6mr_interface = 1 };
		int fd = socket(AF_INET6, SOCK_DGRAM, 0);

		inet_pton(AF_INET6, "ff15::1234", &mr.ipv6mr_multiaddr);
		if (fd < 0 || setsockopt(fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &mr, sizeof(mr)))
			tp_die("IPV6_ADD_MEMBERSHIP ff15::1234");
		return;
	}
	if (!strcmp(mode, "mcast46")) {
		/* an IPv4 group joined by an IPv6 socket (RFC 3678 MCAST_JOIN_GROUP at the IP level) */
		struct group_req gr = { .gr_interface = 1 };
		struct sockaddr_in *in = (struct sockaddr_in *)&gr.gr_group;
		int fd = socket(AF_INET6, SOCK_DGRAM, 0);

		in->sin_family = AF_INET;
		inet_pton(AF_INET, "239.4.5.6", &in->sin_addr);
		if (fd < 0 || setsockopt(fd, IPPROTO_IP, MCAST_JOIN_GROUP, &gr, sizeof(gr)))
			tp_die("MCAST_JOIN_GROUP 239.4.5.6 on an IPv6 socket");
		return;
	}
	if (!name)
		tp_die("mode %s needs a NAME", mode);
	if (!strcmp(mode, "path-server")) {
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		int fd = sk(SOCK_STREAM);

		if (strlen(name) >= sizeof(a.sun_path))
			tp_die("path %s too long", name);
		memcpy(a.sun_path, name, strlen(name));
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 5))
			tp_die("listen at %s", name);
		return;
	}
	{
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		socklen_t l = offsetof(struct sockaddr_un, sun_path) + 1 +
			      snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "%s", name);
		int fd = sk(SOCK_STREAM);

		if (!strcmp(mode, "peer-server")) {
			if (bind(fd, (struct sockaddr *)&a, l) || listen(fd, 5))
				tp_die("listen at @%s", name);
			lis = fd;
		} else if (!strcmp(mode, "peer-outside")) {
			if (connect(fd, (struct sockaddr *)&a, l))
				tp_die("connect to @%s", name);
		} else {
			errno = EINVAL;
			tp_die("unknown mode %s", mode);
		}
	}
}

int main(int argc, char **argv)
{
	const char *mode = argc > 2 ? argv[2] : "all";

	tp_init("sockets", argc, argv);
	tp_block_usr2();
	if (strcmp(mode, "all")) {
		lis = -1;
		refusal(mode, argc > 3 ? argv[3] : NULL);
		tp_write_ready(argv[1]);
		if (!strcmp(mode, "peer-server") && (acc = accept(lis, NULL, NULL)) < 0)
			tp_die("accept");
		tp_wait_usr2();
		tp_finish(0);
	}
	tp_corrupt_check_mode(modes);
	tp_dirname(argv[1], dir, sizeof(dir));
	if (chdir(dir))
		tp_die("chdir %s", dir);
	set_up();
	corrupt();
	tp_write_ready(argv[1]);
	tp_wait_usr2();
	check_unix();
	check_udp();
	nchecked += xo_check();
	tp_finish(nchecked);
}
