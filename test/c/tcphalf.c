/*
 * tcphalf.c - half-closed TCP connections, both ends in this process, for
 * cs-dump/cs-restore --tcp-established.
 *
 *   tcphalf READY_FILE open
 *   tcphalf READY_FILE held
 *   tcphalf READY_FILE peer [ADDR]
 *   tcphalf READY_FILE client PORT [ADDR]
 *   tcphalf READY_FILE closed
 *   tcphalf READY_FILE synsent
 *
 * open: three loopback pairs, nothing held back by the network:
 *   P1 (IPv4) the accepted end writes 5000 bytes and shuts its write side:
 *      the client is in CLOSE-WAIT with the bytes unread before the EOF,
 *      the accepted end in FIN-WAIT-2 with 3000 unread bytes of the client.
 *   P2 (IPv6) the same the other way: client FIN-WAIT-2, accepted CLOSE-WAIT.
 *   P3 (IPv4) the accepted end writes until the client's receive buffer and
 *      its own send buffer are full, then shuts its write side: its FIN is
 *      queued behind bytes never sent (FIN-WAIT-1), the client is
 *      ESTABLISHED with a full receive queue and a closed window.
 * held: needs the test's nftables rule dropping outgoing FIN segments of
 *   sockets with mark 0x5a17 (SO_MARK), so that the peer never gets them:
 *   W (IPv4) the client (marked) shut its write side: FIN-WAIT-1; the
 *      other end ESTABLISHED, and both have unread bytes of the other.
 *   L (IPv4) the other end wrote 4000 bytes and shut (client CLOSE-WAIT),
 *      then the client (marked) shut too: LAST-ACK; the other FIN-WAIT-2.
 *   C (IPv6) the client (marked) shut first, then the other end, whose FIN
 *      does not acknowledge the client's: the client is in CLOSING, the
 *      other end in FIN-WAIT-2.
 * peer / client PORT: the other end is another process, not dumped (the
 *   peer: it listens at 127.0.0.1 or ADDR, writes its port to READY_FILE.port, and
 *   accepts two connections). X: the peer wrote 3000 bytes and shut (a
 *   server closing after its answer): the client is in CLOSE-WAIT, with
 *   2000 bytes of its own unread by the peer. Y: the client wrote 2000
 *   bytes and shut (a client done with its request): FIN-WAIT-2, with
 *   1000 bytes of the peer unread. After SIGUSR2 (the client first) the
 *   client checks its states, reads X to EOF, writes 1000 more on X and
 *   shuts it, finds Y shut for writing, reads Y (the peer's 1000 bytes,
 *   then 1000 it sends after SIGUSR2, then EOF); the peer reads X to EOF
 *   and Y to EOF; both ends finish closing.
 * closed: an HTTP-like exchange: the client writes its request and shuts
 *   its write side, the server answers 3000 bytes and closes; the client
 *   has not read the answer: its socket is in CLOSE (the connection is
 *   gone, TIME-WAIT holds its addresses) with 3000 unread bytes. After
 *   SIGUSR2 it reads them, then EOF, and a write fails with EPIPE.
 * synsent: a marked non-blocking connect whose SYN the test's rule drops
 *   (mark 0x5a18): a socket in SYN-SENT, which cannot be kept.
 *
 * After SIGUSR2 (open, held), end by end and value by value: the TCP state
 * (TCP_INFO tcpi_state) is the one set up; every unread byte arrives in
 * order; an end whose peer had shut reads EOF right after them, the
 * others read no EOF; writes reach the peer where the side is open and
 * fail with EPIPE where it was shut; the peer still sends to a FIN-WAIT
 * end. Then (held: after clearing the marks, so the FINs go out) every
 * open side is shut and every end must read EOF and reach CLOSE within
 * 20 s: the connections finish closing cleanly.
 * With TCPHALF_DROPPED=1 (a restore of a --tcp-close dump) every end must
 * instead read EOF at once: dropped connections.
 *
 * CS_TEST_CORRUPT: data (one byte of P1's unread bytes read; closed: of
 * the client's), eof (P1's
 * accepted end does not shut: the client reads no EOF), shut (P2's client
 * does not shut: it can still write), nofin (held: W's client does not
 * shut).
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

#include "tprog.h"
#include "tcpprog.h"

#define MARK_FIN	0x5a17
#define MARK_SYN	0x5a18
#define MORE		1000

static const char *const modes[] = { "data", "eof", "shut", "nofin", NULL };
static unsigned nchecked;

/* One end of a connection. */
struct end {
	const char *name;
	int fd, k_out, k_in, mark;
	uint64_t sent, rcvd;	/* pattern bytes written / read and checked */
	int state;		/* the TCP state set up */
	int shut;		/* this end shut its write side */
	struct end *peer;
};

static struct end ends[6];
static struct in_addr addr4 = { 0 };	/* peer/client: the peer's IPv4 address (127.0.0.1 unless given) */
static int nends;

static void differs(const struct end *e, const char *what, const char *fmt, long long got, long long want)
{
	char n[160], m[200];

	snprintf(n, sizeof(n), "%s: %s", e->name, what);
	snprintf(m, sizeof(m), fmt, got, want);
	tp_differs(n, "%s", m);
}

static int tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l))
		return -1;
	return ti.tcpi_state;
}

static const char *state_name(int s)
{
	static const char *const n[] = { "?", "ESTABLISHED", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2",
					  "TIME-WAIT", "CLOSE", "CLOSE-WAIT", "LAST-ACK", "LISTEN", "CLOSING" };

	return s > 0 && s < 12 ? n[s] : "?";
}

static void check_state(const struct end *e, int want)
{
	int s = tcp_state(e->fd);

	nchecked++;
	if (s != want) {
		char n[160];

		snprintf(n, sizeof(n), "%s: TCP state", e->name);
		tp_differs(n, "got %s (%d) want %s (%d)", state_name(s), s, state_name(want), want);
	}
}

static int listener(int family, struct sockaddr_storage *name, socklen_t *al)
{
	return tcp_listener(family, addr4, 0, 8, name, al);
}

/* A connected pair: the client (marked with mark, 0 for none) and the accepted end. */
static void pair(int family, const char *cname, const char *aname, int mark, int k, struct end **c, struct end **a)
{
	struct sockaddr_storage name;
	socklen_t al;
	int l = listener(family, &name, &al), fd = socket(family, SOCK_STREAM, 0);

	if (fd < 0)
		tp_die("socket");
	tcp_seti(fd, SOL_SOCKET, SO_SNDBUF, 65536, "SO_SNDBUF");
	tcp_seti(fd, SOL_SOCKET, SO_RCVBUF, 65536, "SO_RCVBUF");
	if (mark)
		tcp_seti(fd, SOL_SOCKET, SO_MARK, mark, "SO_MARK");
	if (connect(fd, (struct sockaddr *)&name, al))
		tp_die("connect");
	*c = &ends[nends++];
	*a = &ends[nends++];
	**c = (struct end){ .name = cname, .fd = fd, .k_out = k, .k_in = k + 1, .mark = mark, .state = TCP_ESTABLISHED };
	**a = (struct end){ .name = aname, .fd = accept(l, NULL, NULL), .k_out = k + 1, .k_in = k,
			    .state = TCP_ESTABLISHED };
	if ((*a)->fd < 0)
		tp_die("accept");
	(*c)->peer = *a;
	(*a)->peer = *c;
	close(l);
}

/* Write n pattern bytes (n == 0: until the send buffer is full). */
static void put(struct end *e, uint64_t n)
{
	tcp_fill(e->fd, e->k_out, &e->sent, n ? e->sent + n : 0, e->name);
}

/* Until nothing is in flight on fd: all sent bytes acknowledged (or 2 s). */
static void settle(int fd)
{
	tcp_settle(fd, 200, 5);
}

static void shut(struct end *e)
{
	if (shutdown(e->fd, SHUT_WR))
		tp_die("%s: shutdown", e->name);
	e->shut = 1;
}

/* Wait (up to 5 s) until e is in state s. */
static void wait_state(struct end *e, int s)
{
	for (int i = 0; i < 500 && tcp_state(e->fd) != s; i++)
		nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
	if (tcp_state(e->fd) != s)
		tp_die("%s: state %s during set-up, want %s", e->name, state_name(tcp_state(e->fd)), state_name(s));
	e->state = s;
}

/* ---- set-up --------------------------------------------------------------- */

static void set_up_open(void)
{
	struct end *c1, *a1, *c2, *a2, *c3, *a3;

	pair(AF_INET, "P1 client", "P1 accepted", 0, 1, &c1, &a1);
	pair(AF_INET6, "P2 client", "P2 accepted", 0, 3, &c2, &a2);
	pair(AF_INET, "P3 client", "P3 accepted", 0, 5, &c3, &a3);
	put(a1, 5000);
	put(c1, 3000);
	if (!tp_corrupting("eof"))
		shut(a1);
	settle(c1->fd);
	wait_state(c1, tp_corrupting("eof") ? TCP_ESTABLISHED : TCP_CLOSE_WAIT);
	wait_state(a1, tp_corrupting("eof") ? TCP_ESTABLISHED : TCP_FIN_WAIT2);
	if (tp_corrupting("eof")) {	/* as set up, a faulty restore lost the FIN */
		c1->state = TCP_CLOSE_WAIT;
		a1->state = TCP_FIN_WAIT2;
		a1->shut = 1;
	}
	put(c2, 4000);
	put(a2, 2000);
	settle(c2->fd);
	if (!tp_corrupting("shut"))
		shut(c2);
	settle(c2->fd);
	wait_state(a2, tp_corrupting("shut") ? TCP_ESTABLISHED : TCP_CLOSE_WAIT);
	wait_state(c2, tp_corrupting("shut") ? TCP_ESTABLISHED : TCP_FIN_WAIT2);
	if (tp_corrupting("shut")) {
		a2->state = TCP_CLOSE_WAIT;
		c2->state = TCP_FIN_WAIT2;
		c2->shut = 1;
	}
	/* P3: a full window, the FIN behind bytes never sent */
	for (int i = 0; i < 3; i++) {
		put(a3, 0);
		settle(a3->fd);
	}
	shut(a3);
	settle(a3->fd);
	{
		int unsent = 0;

		ioctl(a3->fd, SIOCOUTQNSD, &unsent);
		if (unsent < 2)
			tp_die("P3: the FIN was sent (%d bytes unsent): no closed window here", unsent);
	}
	wait_state(a3, TCP_FIN_WAIT1);
	c3->state = TCP_ESTABLISHED;
	if (tp_corrupting("data")) {
		char b;

		if (recv(c1->fd, &b, 1, 0) != 1)
			tp_die("corrupt: recv");
	}
}

static void set_up_held(void)
{
	struct end *w, *pw, *l, *pl, *c, *pc;

	pair(AF_INET, "W client", "W other end", MARK_FIN, 7, &w, &pw);
	pair(AF_INET, "L client", "L other end", MARK_FIN, 9, &l, &pl);
	pair(AF_INET6, "C client", "C other end", MARK_FIN, 11, &c, &pc);
	/* W: both ways unread, then the client's FIN is dropped */
	put(w, 3000);
	put(pw, 2000);
	settle(w->fd);
	if (!tp_corrupting("nofin"))
		shut(w);
	settle(w->fd);
	wait_state(w, tp_corrupting("nofin") ? TCP_ESTABLISHED : TCP_FIN_WAIT1);
	if (tp_corrupting("nofin")) {
		w->state = TCP_FIN_WAIT1;
		w->shut = 1;
	}
	/* L: the other end writes and shuts, the client writes and shuts */
	put(pl, 4000);
	shut(pl);
	put(l, 1000);
	settle(l->fd);
	wait_state(l, TCP_CLOSE_WAIT);
	shut(l);
	wait_state(l, TCP_LAST_ACK);
	wait_state(pl, TCP_FIN_WAIT2);
	/* C: the client's FIN dropped, then the other end's FIN arrives */
	put(c, 500);
	put(pc, 1500);
	settle(c->fd);
	settle(pc->fd);
	shut(c);
	wait_state(c, TCP_FIN_WAIT1);
	shut(pc);
	wait_state(c, TCP_CLOSING);
	wait_state(pc, TCP_FIN_WAIT2);
	pw->state = TCP_ESTABLISHED;
}

/* ---- after SIGUSR2 ------------------------------------------------------ */

/*
 * Read and check the peer's pattern bytes until want bytes were read in
 * all (waiting up to 5 s), then: eof, whether a read returns 0 at once
 * (otherwise, that it has nothing: no EOF).
 */
static void take(struct end *e, uint64_t want, int eof)
{
	uint8_t buf[65536];
	int bad = 0;

	nchecked++;
	while (e->rcvd < want && !bad) {
		size_t n = want - e->rcvd < sizeof(buf) ? want - e->rcvd : sizeof(buf);
		ssize_t r;

		if (poll(&(struct pollfd){ e->fd, POLLIN, 0 }, 1, 5000) != 1) {
			differs(e, "bytes received", "got %lld, stalled; want %lld", (long long)e->rcvd, (long long)want);
			return;
		}
		r = recv(e->fd, buf, n, MSG_DONTWAIT);
		if (r < 0 && errno == EAGAIN)
			continue;
		if (r <= 0) {
			differs(e, "bytes received before EOF", "got %lld want %lld", (long long)e->rcvd, (long long)want);
			return;
		}
		for (ssize_t i = 0; i < r && !bad; i++)
			if (buf[i] != tcp_pat(e->k_in, e->rcvd + i)) {
				differs(e, "received stream byte", "at %lld: got another byte than pattern %lld",
					(long long)(e->rcvd + i), (long long)e->k_in);
				bad = 1;
			}
		e->rcvd += r;
	}
	if (bad)
		return;
	nchecked++;
	if (eof) {
		ssize_t r;

		/* a FIN held back by the test's rule comes with a retransmission: up to 15 s */
		poll(&(struct pollfd){ e->fd, POLLIN, 0 }, 1, 15000);
		r = recv(e->fd, buf, 1, MSG_DONTWAIT);
		if (r != 0)
			differs(e, "read() after the bytes", "got %lld (%lld: errno), want 0 (EOF)", (long long)r,
				r < 0 ? (long long)errno : 0LL);
	} else {
		ssize_t r = recv(e->fd, buf, 1, MSG_DONTWAIT);

		if (!(r < 0 && errno == EAGAIN))
			differs(e, "read() after the bytes", "got %lld (errno %lld), want -1 EAGAIN (no EOF yet)",
				(long long)r, r < 0 ? (long long)errno : 0LL);
	}
}

/* A write: it must reach the peer when this side is open, fail with EPIPE when shut. */
static void check_write(struct end *e)
{
	uint8_t buf[MORE];
	ssize_t w;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = tcp_pat(e->k_out, e->sent + i);
	w = send(e->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL);
	nchecked++;
	if (e->shut) {
		if (!(w < 0 && errno == EPIPE))
			differs(e, "write on the shut side", "got %lld (errno %lld), want -1 EPIPE", (long long)w,
				w < 0 ? (long long)errno : 0LL);
		return;
	}
	if (w != (ssize_t)sizeof(buf)) {
		differs(e, "write on the open side", "got %lld (errno %lld), want 1000", (long long)w,
			w < 0 ? (long long)errno : 0LL);
		return;
	}
	e->sent += w;
}

/* The close finishes: every end reads EOF and reaches CLOSE within 20 s. */
static void finish(void)
{
	time_t end = time(NULL) + 20;
	int left;

	if (tp_ndiff)	/* already wrong: the close would only time out */
		return;
	for (int i = 0; i < nends; i++)
		if (!ends[i].shut && shutdown(ends[i].fd, SHUT_WR))
			tp_differs(ends[i].name, "shutdown failed: %s", strerror(errno));
	do {
		left = 0;
		for (int i = 0; i < nends; i++)
			left += tcp_state(ends[i].fd) != TCP_CLOSE;
		if (left)
			nanosleep(&(struct timespec){ 0, 20000000 }, NULL);
	} while (left && time(NULL) < end);
	for (int i = 0; i < nends; i++) {
		struct end *e = &ends[i];
		uint8_t b;
		ssize_t r = recv(e->fd, &b, 1, MSG_DONTWAIT);

		check_state(e, TCP_CLOSE);
		nchecked++;
		if (r != 0)
			differs(e, "read() at the end", "got %lld (errno %lld), want 0 (EOF)", (long long)r,
				r < 0 ? (long long)errno : 0LL);
	}
}

static void check_open(void)
{
	struct end *c1 = &ends[0], *a1 = &ends[1], *c2 = &ends[2], *a2 = &ends[3], *c3 = &ends[4], *a3 = &ends[5];

	for (int i = 0; i < nends; i++)
		check_state(&ends[i], ends[i].state);
	/* the bytes before the EOF, and the EOF where the peer had shut */
	take(c1, a1->sent, 1);
	take(a1, c1->sent, 0);
	take(a2, c2->sent, 1);
	take(c2, a2->sent, 0);
	take(c3, a3->sent, 1);
	/* writes: the open sides reach the peer, the shut ones fail */
	for (int i = 0; i < nends; i++)
		check_write(&ends[i]);
	take(a1, c1->sent, 0);
	take(c2, a2->sent, 0);
	take(a3, c3->sent, 0);
	finish();
}

static void check_held(void)
{
	struct end *w = &ends[0], *pw = &ends[1], *l = &ends[2], *pl = &ends[3], *c = &ends[4], *pc = &ends[5];

	for (int i = 0; i < nends; i++)
		check_state(&ends[i], ends[i].state);
	take(w, pw->sent, 0);
	take(pw, w->sent, 0);	/* the client's FIN is held back: no EOF */
	take(l, pl->sent, 1);
	take(pl, l->sent, 0);
	take(c, pc->sent, 1);
	take(pc, c->sent, 0);
	for (int i = 0; i < nends; i++)
		check_write(&ends[i]);
	take(w, pw->sent, 0);	/* the other end still sends to a FIN-WAIT-1 client */
	/* let the FINs go: they are sent again by the retransmission timer */
	for (int i = 0; i < nends; i++)
		if (ends[i].mark)
			tcp_seti(ends[i].fd, SOL_SOCKET, SO_MARK, 0, "SO_MARK 0");
	take(pw, w->sent, 1);
	take(pl, l->sent, 1);
	take(pc, c->sent, 1);
	finish();
}

/* Restored from a --tcp-close dump: every connection was dropped. */
static void check_dropped(void)
{
	for (int i = 0; i < nends; i++) {
		uint8_t b;
		ssize_t r = recv(ends[i].fd, &b, 1, MSG_DONTWAIT);

		nchecked++;
		if (r != 0)
			differs(&ends[i], "read() on a dropped connection", "got %lld (errno %lld), want 0 (EOF)",
				(long long)r, r < 0 ? (long long)errno : 0LL);
	}
}

static struct end *add_end(const char *name, int fd, int k_out, int k_in, int state)
{
	struct end *e = &ends[nends++];

	*e = (struct end){ .name = name, .fd = fd, .k_out = k_out, .k_in = k_in, .state = state };
	return e;
}

static void set_up_peer(const char *ready)
{
	struct sockaddr_storage name;
	socklen_t al;
	int l = listener(AF_INET, &name, &al);
	char buf[32];
	struct end *px, *py;

	snprintf(buf, sizeof(buf), "%d\n", ntohs(((struct sockaddr_in *)&name)->sin_port));
	tcp_note(ready, "port", buf);
	tp_write_ready(ready);	/* the client connects after this */
	px = add_end("peer X", accept(l, NULL, NULL), 22, 21, TCP_FIN_WAIT2);
	py = add_end("peer Y", accept(l, NULL, NULL), 24, 23, TCP_CLOSE_WAIT);
	if (px->fd < 0 || py->fd < 0)
		tp_die("accept");
	close(l);
	put(px, 3000);
	shut(px);
	put(py, 1000);
	settle(py->fd);
}

static void set_up_client(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct end *cx, *cy;
	int fx = socket(AF_INET, SOCK_STREAM, 0), fy = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr = addr4;
	if (fx < 0 || fy < 0 || connect(fx, (struct sockaddr *)&a, sizeof(a)) ||
	    connect(fy, (struct sockaddr *)&a, sizeof(a)))
		tp_die("connect to the peer at port %d", port);
	cx = add_end("client X", fx, 21, 22, TCP_CLOSE_WAIT);
	cy = add_end("client Y", fy, 23, 24, TCP_FIN_WAIT2);
	put(cx, 2000);
	put(cy, 2000);
	settle(cy->fd);
	shut(cy);
	wait_state(cx, TCP_CLOSE_WAIT);
	wait_state(cy, TCP_FIN_WAIT2);
}

static void check_client(void)
{
	struct end *cx = &ends[0], *cy = &ends[1];

	for (int i = 0; i < nends; i++)
		check_state(&ends[i], ends[i].state);
	take(cx, 3000, 1);
	check_write(cx);
	check_write(cy);
	take(cy, 1000 + MORE, 1);	/* the peer sends 1000 more after SIGUSR2, then shuts */
	finish();
}

static void check_peer(void)
{
	struct end *px = &ends[0], *py = &ends[1];

	check_write(py);
	shut(py);
	take(py, 2000, 1);
	take(px, 2000 + MORE, 1);	/* the client writes 1000 more, then shuts */
	finish();
}

static void set_up_closed(void)
{
	struct end *c, *a;
	char req[100];

	pair(AF_INET, "closed client", "server", 0, 13, &c, &a);
	put(c, sizeof(req));
	shut(c);
	if (recv(a->fd, req, sizeof(req), MSG_WAITALL) != sizeof(req))
		tp_die("server: recv the request");
	put(a, 3000);
	close(a->fd);
	nends = 1;	/* the server is gone: only the client is checked */
	wait_state(c, TCP_CLOSE);
	if (tp_corrupting("data")) {
		char b;

		if (recv(c->fd, &b, 1, 0) != 1)
			tp_die("corrupt: recv");
	}
}

static void check_closed(void)
{
	struct end *c = &ends[0];

	take(c, ends[1].sent, 1);
	check_write(c);
}

static void synsent(const char *ready)
{
	struct sockaddr_storage name;
	socklen_t al;
	int l = listener(AF_INET, &name, &al), fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct end e = { .name = "SYN-SENT client" };

	if (fd < 0)
		tp_die("socket");
	tcp_seti(fd, SOL_SOCKET, SO_MARK, MARK_SYN, "SO_MARK");
	if (connect(fd, (struct sockaddr *)&name, al) == 0 || errno != EINPROGRESS)
		tp_die("connect: want EINPROGRESS");
	e.fd = fd;
	nanosleep(&(struct timespec){ 0, 100000000 }, NULL);
	if (tcp_state(fd) != TCP_SYN_SENT)
		tp_die("the connect is in state %s, not SYN-SENT: is the test's nft rule there?",
		       state_name(tcp_state(fd)));
	tp_write_ready(ready);
	tp_wait_usr2();
	check_state(&e, TCP_SYN_SENT);
	close(l);
	tp_finish(nchecked);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 2 ? argv[2] : "open";
	const char *dropped = getenv("TCPHALF_DROPPED");

	tp_init("tcphalf", argc, argv);
	tp_block_usr2();
	tp_corrupt_check_mode(modes);
	addr4.s_addr = htonl(INADDR_LOOPBACK);
	/* peer [ADDR], client PORT [ADDR]: another address than 127.0.0.1 */
	if (argc > 3 && !strcmp(mode, "peer") && !inet_pton(AF_INET, argv[3], &addr4))
		tp_die("bad address %s", argv[3]);
	if (argc > 4 && !strcmp(mode, "client") && !inet_pton(AF_INET, argv[4], &addr4))
		tp_die("bad address %s", argv[4]);
	if (!strcmp(mode, "synsent"))
		synsent(argv[1]);
	if (!strcmp(mode, "open"))
		set_up_open();
	else if (!strcmp(mode, "held"))
		set_up_held();
	else if (!strcmp(mode, "peer"))
		set_up_peer(argv[1]);
	else if (!strcmp(mode, "closed"))
		set_up_closed();
	else if (!strcmp(mode, "client") && argc > 3)
		set_up_client(atoi(argv[3]));
	else {
		errno = EINVAL;
		tp_die("unknown mode %s", mode);
	}
	if (strcmp(mode, "peer"))
		tp_write_ready(argv[1]);
	else
		tcp_note(argv[1], "filled", "");
	tp_wait_usr2();
	if (dropped && *dropped == '1')
		check_dropped();
	else if (!strcmp(mode, "open"))
		check_open();
	else if (!strcmp(mode, "held"))
		check_held();
	else if (!strcmp(mode, "client"))
		check_client();
	else if (!strcmp(mode, "closed"))
		check_closed();
	else
		check_peer();
	tp_finish(nchecked);
}
