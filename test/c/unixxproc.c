/*
 * unixxproc.c - unix connections between two processes of the tree
 * (tprog.h protocol): t302-unixxproc.bats.
 *
 *   unixxproc READY [closed|closednamed|dgsender]
 *
 * Set-up:
 *   - the parent listens (stream) at the path READY.sock;
 *   - child 1 binds its client to the abstract name cs-xp-PID-1, connects,
 *     sends C1_LEN pattern bytes; the parent accepts it and sends P1_LEN
 *     pattern bytes back; nobody reads them;
 *   - child 2 connects unnamed, sends C2_LEN bytes and shuts down for
 *     writing; the parent accepts it and sends P2_LEN bytes back;
 *   - child 1 listens (seqpacket) at READY.sq; the parent connects to it
 *     and sends "sq-p-0"; child 1 accepts, watches the accepted socket in
 *     an epoll set (EPOLLIN, data 0x5e9) and sends "sq-c-0"; unread;
 *   - child 2 inherits the parent's accepted end of child 1's connection;
 *   - a named datagram pair: the parent's socket at READY.pdg, child 1's
 *     at READY.cdg, connected to each other; each has sent the other two
 *     datagrams, unread.
 * closed: once both children's connections are accepted, every process
 * closes the stream listener and the parent removes its socket file (it
 * must still be gone after the restore); child 1's client has no name
 * (with both ends named and no listener, which one was accepted cannot be
 * told: cs-dump refuses it, which closednamed, where it has one, shows).
 * dgsender: child 2 also sends "from-c2" to another datagram socket of the
 * parent's, unconnected, at READY.sock.rdg, from a datagram socket of its own
 * bound to READY.cdg2 (which cs-dump refuses: child 2 cannot send it
 * again into the parent's socket, which the parent makes).
 * On SIGUSR2 (the parent forwards it to the children), each process checks
 * value by value: the names and peer names of its sockets, the peer's PID
 * (SO_PEERCRED), the queued bytes and datagrams, child 2's shutdown (the
 * parent reads the end of file, child 2 cannot send), the listener still
 * listening; then a new message goes each way on each connection. The
 * parent collects the children's exit statuses.
 *
 * CS_TEST_CORRUPT: data (child 1 sends one byte more), shutdown (child 2
 * does not shut down), peercred (child 1's connection is made by the
 * parent before the fork), name (child 1's client has no name), dgram
 * (child 1 sends one datagram less), epoll (child 1 does not watch its
 * accepted seqpacket socket), file (closed: the socket file is not
 * removed).
 */
#define _GNU_SOURCE
#include <poll.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "tprog.h"

#define C1_LEN 3000
#define P1_LEN 2000
#define C2_LEN 100
#define P2_LEN 50

static unsigned checked;
static int mode_closed, mode_named = 1, mode_dgsender, lsock = -1;
static char lpath[200], pdg[200], cdg[200], sqpath[200], c1name[64];

static void check(int ok, const char *what, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void check(int ok, const char *what, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	checked++;
	if (ok)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	tp_differs(what, "%s", line);
}

static unsigned char pattern(size_t i, int salt)
{
	return (unsigned char)(i * 7 + salt + (i >> 8));
}

static socklen_t addr_of(struct sockaddr_un *a, const char *name, int abstract)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (abstract) {
		memcpy(a->sun_path + 1, name, strlen(name));
		return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
	}
	snprintf(a->sun_path, sizeof(a->sun_path), "%s", name);
	return offsetof(struct sockaddr_un, sun_path) + strlen(name) + 1;
}

static void send_pattern(int s, size_t len, int salt, const char *what)
{
	unsigned char buf[4096];

	for (size_t i = 0; i < len; i++)
		buf[i] = pattern(i, salt);
	if (send(s, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
		tp_die("cannot send %s", what);
}

/* Read exactly len bytes (waiting up to 5 s for each piece); how many came. */
static size_t read_n(int s, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = s, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 5000) != 1)
			break;
		r = recv(s, (char *)buf + got, len - got, 0);
		if (r <= 0)
			break;
		got += r;
	}
	return got;
}

/* The queued bytes: len of them, salt's pattern; alone: nothing more queued
 * (else the other side may have sent its new message already). */
static void check_queued(int s, size_t len, int salt, int alone, const char *what)
{
	unsigned char buf[8192];
	size_t got = read_n(s, buf, len), bad = len;
	ssize_t more;

	for (size_t i = 0; i < got && bad == len; i++)
		if (buf[i] != pattern(i, salt))
			bad = i;
	check(got == len && bad == len, what, "got %zu bytes (first wrong at %zu), want %zu", got, bad, len);
	if (!alone)
		return;
	more = recv(s, buf, sizeof(buf), MSG_DONTWAIT);
	check(more < 0 && errno == EAGAIN, what, "%zd more bytes queued", more);
}

/* A sockaddr name as text ("@x" for abstract, "" when none). */
static const char *name_of(const struct sockaddr_un *a, socklen_t al, char *buf, size_t size)
{
	size_t n = al > offsetof(struct sockaddr_un, sun_path) ? al - offsetof(struct sockaddr_un, sun_path) : 0;

	if (!n) {
		buf[0] = 0;
	} else if (a->sun_path[0] == 0) {
		snprintf(buf, size, "@%.*s", (int)n - 1, a->sun_path + 1);
	} else {
		snprintf(buf, size, "%.*s", (int)n, a->sun_path);
	}
	return buf;
}

static void check_names(int s, const char *me, const char *peer, const char *what)
{
	struct sockaddr_un a;
	socklen_t al = sizeof(a);
	char got[200], w[300];

	snprintf(w, sizeof(w), "%s name", what);
	if (getsockname(s, (struct sockaddr *)&a, &al))
		tp_die("getsockname");
	check(!strcmp(name_of(&a, al, got, sizeof(got)), me), w, "got \"%s\" want \"%s\"", got, me);
	snprintf(w, sizeof(w), "%s peer name", what);
	al = sizeof(a);
	if (getpeername(s, (struct sockaddr *)&a, &al)) {
		check(0, w, "getpeername: %s", strerror(errno));
		return;
	}
	check(!strcmp(name_of(&a, al, got, sizeof(got)), peer), w, "got \"%s\" want \"%s\"", got, peer);
}

static void check_peer_pid(int s, pid_t want, const char *what)
{
	struct ucred cr;
	socklen_t l = sizeof(cr);
	char w[200];

	snprintf(w, sizeof(w), "%s peer's PID (SO_PEERCRED)", what);
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &l))
		tp_die("SO_PEERCRED");
	check(cr.pid == want, w, "got %d want %d", (int)cr.pid, (int)want);
}

static void check_msg(int s, const char *want, const char *what)
{
	char buf[64];
	size_t got = read_n(s, buf, strlen(want));

	check(got == strlen(want) && !memcmp(buf, want, got), what, "got %zu bytes \"%.*s\" want \"%s\"", got,
	      (int)got, buf, want);
}

/* The next datagram is want (waiting up to 5 s; wait 0: only one already there). */
static void check_dgram(int s, const char *want, int wait, const char *what)
{
	struct pollfd p = { .fd = s, .events = POLLIN };
	char buf[64];
	ssize_t r = -1;

	if (poll(&p, 1, wait ? 5000 : 0) == 1)
		r = recv(s, buf, sizeof(buf), MSG_DONTWAIT);
	check(r == (ssize_t)strlen(want) && !memcmp(buf, want, r), what, "got %zd bytes \"%.*s\" want \"%s\"", r,
	      r > 0 ? (int)r : 0, buf, want);
}

static int dgram_at(const char *path)
{
	struct sockaddr_un a;
	socklen_t al = addr_of(&a, path, 0);
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);

	unlink(path);
	if (s < 0 || bind(s, (struct sockaddr *)&a, al))
		tp_die("cannot bind a datagram socket to %s", path);
	return s;
}

static void dconnect(int s, const char *path)
{
	struct sockaddr_un a;
	socklen_t al = addr_of(&a, path, 0);

	if (connect(s, (struct sockaddr *)&a, al))
		tp_die("cannot connect a datagram socket to %s", path);
}

static int connect_to_listener(int s)
{
	struct sockaddr_un a;
	socklen_t al = addr_of(&a, lpath, 0);

	if (s < 0)
		s = socket(AF_UNIX, SOCK_STREAM, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, al))
		tp_die("cannot connect to %s", lpath);
	return s;
}

static void child1(int c, int up, int down, pid_t parent)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0x5e9 }, got;
	struct sockaddr_un sa;
	socklen_t sal = addr_of(&sa, sqpath, 0);
	int d, sq, sa1, ep;
	char me[80], b;

	tp_name = "unixxproc-child1";
	if (mode_closed)
		close(lsock);
	if (c < 0) {
		struct sockaddr_un a;
		socklen_t al = addr_of(&a, c1name, 1);

		c = socket(AF_UNIX, SOCK_STREAM, 0);
		if (c < 0 || (!tp_corrupting("name") && mode_named && bind(c, (struct sockaddr *)&a, al)))
			tp_die("cannot bind child 1's client");
		connect_to_listener(c);
	}
	send_pattern(c, C1_LEN + tp_corrupting("data"), 1, "child 1's bytes");
	d = dgram_at(cdg);
	dconnect(d, pdg);
	if (send(d, "dg-c-0", 6, 0) != 6 || (!tp_corrupting("dgram") && send(d, "dg-c-1", 6, 0) != 6))
		tp_die("cannot send child 1's datagrams");
	sq = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	unlink(sqpath);
	if (sq < 0 || bind(sq, (struct sockaddr *)&sa, sal) || listen(sq, 2))
		tp_die("cannot listen at %s", sqpath);
	if (write(up, "1", 1) != 1 || read(down, &b, 1) != 1)
		tp_die("cannot tell the parent");
	sa1 = accept(sq, NULL, NULL);
	ep = epoll_create1(0);
	if (sa1 < 0 || ep < 0 || (!tp_corrupting("epoll") && epoll_ctl(ep, EPOLL_CTL_ADD, sa1, &ev)) ||
	    send(sa1, "sq-c-0", 6, 0) != 6)
		tp_die("cannot accept the parent's seqpacket connection");
	if (write(up, "1", 1) != 1)
		tp_die("cannot tell the parent");
	close(up);
	close(down);
	tp_wait_usr2();


	snprintf(me, sizeof(me), mode_named ? "@%s" : "", c1name);
	check_names(c, me, lpath, "child 1's connection");
	check_peer_pid(c, parent, "child 1's connection");
	check_queued(c, P1_LEN, 2, 0, "the bytes queued for child 1");
	check_names(d, cdg, pdg, "child 1's datagram socket");
	check_dgram(d, "dg-p-0", 0, "child 1's first queued datagram");
	check_dgram(d, "dg-p-1", 0, "child 1's second queued datagram");
	check_dgram(d, "dg-p-new", 1, "the new datagram to child 1");
	if (send(d, "dg-c-new", 8, 0) != 8)
		check(0, "child 1's new datagram", "send: %s", strerror(errno));
	check_msg(c, "hello-1", "the new message to child 1");
	if (send(c, "ack-1", 5, MSG_NOSIGNAL) != 5)
		check(0, "child 1's reply", "send: %s", strerror(errno));
	memset(&got, 0, sizeof(got));
	check(epoll_wait(ep, &got, 1, 0) == 1 && got.events == EPOLLIN && got.data.u64 == 0x5e9,
	      "child 1's epoll set", "got events %#x data %#llx, want EPOLLIN 0x5e9", got.events,
	      (unsigned long long)got.data.u64);
	check_names(sa1, sqpath, "", "child 1's accepted seqpacket connection");
	check_peer_pid(sa1, parent, "child 1's accepted seqpacket connection");
	check_dgram(sa1, "sq-p-0", 0, "the message queued for child 1's seqpacket connection");
	check_dgram(sa1, "sq-p-new", 1, "the new message to child 1's seqpacket connection");
	if (send(sa1, "sq-c-new", 8, 0) != 8)
		check(0, "child 1's new seqpacket message", "send: %s", strerror(errno));
	_exit(tp_ndiff ? TP_EXIT_DIFFERS : 0);
}

static void child2(int up, pid_t parent, int a1, pid_t ch1)
{
	char name[80];

	int c = connect_to_listener(-1);
	ssize_t r;

	tp_name = "unixxproc-child2";
	if (mode_closed)
		close(lsock);
	send_pattern(c, C2_LEN, 3, "child 2's bytes");
	if (mode_dgsender) {
		char path[220], rdg[220];
		struct sockaddr_un a;
		socklen_t al;
		int x;

		snprintf(rdg, sizeof(rdg), "%s.rdg", lpath);
		al = addr_of(&a, rdg, 0);
		snprintf(path, sizeof(path), "%s2", cdg);
		x = dgram_at(path);
		if (sendto(x, "from-c2", 7, 0, (struct sockaddr *)&a, al) != 7)
			tp_die("cannot send child 2's datagram");
	}
	if (!tp_corrupting("shutdown") && shutdown(c, SHUT_WR))
		tp_die("shutdown");
	if (write(up, "2", 1) != 1)
		tp_die("cannot tell the parent");
	close(up);
	tp_wait_usr2();

	check_names(c, "", lpath, "child 2's connection");
	check_peer_pid(c, parent, "child 2's connection");
	check_queued(c, P2_LEN, 4, 0, "the bytes queued for child 2");
	r = send(c, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	check(r < 0 && errno == EPIPE, "child 2's shutdown for writing", "send gave %zd (%s), want EPIPE", r,
	      r < 0 ? strerror(errno) : "sent");
	check_msg(c, "hello-2", "the new message to child 2");
	/* the parent's accepted end of child 1's connection, inherited */
	snprintf(name, sizeof(name), mode_named ? "@%s" : "", c1name);
	check_names(a1, lpath, name, "child 2's copy of the parent's connection to child 1");
	check_peer_pid(a1, ch1, "child 2's copy of the parent's connection to child 1");
	_exit(tp_ndiff ? TP_EXIT_DIFFERS : 0);
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "data", "shutdown", "peercred", "name", "dgram", "epoll", "file", NULL };
	struct sockaddr_un la;
	socklen_t lal;
	int l, up[2], down[2], a1, a2, d, sq, pre = -1, acc = 0, st;
	socklen_t sl = sizeof(acc);
	pid_t ch1, ch2;
	char b, name[80];
	ssize_t r;

	tp_init("unixxproc", argc, argv);
	tp_corrupt_check_mode(modes);
	if (argc > 2 && !strcmp(argv[2], "closed"))
		mode_closed = 1, mode_named = 0;
	else if (argc > 2 && !strcmp(argv[2], "closednamed"))
		mode_closed = 1;
	else if (argc > 2 && !strcmp(argv[2], "dgsender"))
		mode_dgsender = 1;
	else if (argc > 2)
		tp_die("unknown mode %s", argv[2]);
	tp_block_usr2();
	snprintf(lpath, sizeof(lpath), "%s.sock", argv[1]);
	snprintf(pdg, sizeof(pdg), "%s.pdg", argv[1]);
	snprintf(cdg, sizeof(cdg), "%s.cdg", argv[1]);
	snprintf(sqpath, sizeof(sqpath), "%s.sq", argv[1]);
	snprintf(c1name, sizeof(c1name), "cs-xp-%d-1", (int)getpid());
	if (strlen(lpath) + 1 > sizeof(la.sun_path) - 4)
		tp_die("path too long: %s", lpath);
	unlink(lpath);
	lal = addr_of(&la, lpath, 0);
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&la, lal) || listen(l, 4))
		tp_die("cannot listen at %s", lpath);
	lsock = l;
	d = dgram_at(pdg);
	if (mode_dgsender) {
		char rdg[220];

		snprintf(rdg, sizeof(rdg), "%s.rdg", lpath);
		dgram_at(rdg);
	}
	if (pipe(up) || pipe(down))
		tp_die("pipe");

	if (tp_corrupting("peercred"))
		pre = connect_to_listener(-1);	/* made by the parent: its PID */
	ch1 = fork();
	if (ch1 < 0)
		tp_die("fork");
	if (ch1 == 0) {
		close(up[0]);
		close(down[1]);
		child1(pre, up[1], down[0], getppid());
	}
	close(down[0]);
	if (pre >= 0)
		close(pre);
	if (read(up[0], &b, 1) != 1)
		tp_die("child 1 did not connect");
	{
		struct sockaddr_un sa;
		socklen_t sal = addr_of(&sa, sqpath, 0);

		sq = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		if (sq < 0 || connect(sq, (struct sockaddr *)&sa, sal) || send(sq, "sq-p-0", 6, 0) != 6 ||
		    write(down[1], "s", 1) != 1 || read(up[0], &b, 1) != 1)
			tp_die("cannot connect to child 1's seqpacket listener");
		close(down[1]);
	}
	a1 = accept(l, NULL, NULL);
	if (a1 < 0)
		tp_die("accept child 1");
	send_pattern(a1, P1_LEN, 2, "the parent's bytes to child 1");
	dconnect(d, cdg);
	if (send(d, "dg-p-0", 6, 0) != 6 || send(d, "dg-p-1", 6, 0) != 6)
		tp_die("cannot send the parent's datagrams");

	ch2 = fork();
	if (ch2 < 0)
		tp_die("fork");
	if (ch2 == 0) {
		close(up[0]);
		child2(up[1], getppid(), a1, ch1);
	}
	close(up[1]);
	if (read(up[0], &b, 1) != 1)
		tp_die("child 2 did not connect");
	close(up[0]);
	a2 = accept(l, NULL, NULL);
	if (a2 < 0)
		tp_die("accept child 2");
	send_pattern(a2, P2_LEN, 4, "the parent's bytes to child 2");
	if (mode_closed) {
		close(l);
		if (!tp_corrupting("file"))
			unlink(lpath);
	}

	tp_write_ready(argv[1]);
	tp_wait_usr2();
	kill(ch1, SIGUSR2);
	kill(ch2, SIGUSR2);

	if (mode_closed) {
		struct stat st;

		check(lstat(lpath, &st) && errno == ENOENT, "the closed listener's socket file", "%s is there",
		      lpath);
	} else {
		check(!getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &acc, &sl) && acc == 1, "the listener",
		      "not listening");
	}
	snprintf(name, sizeof(name), mode_named ? "@%s" : "", c1name);
	check_names(a1, lpath, name, "child 1's accepted connection");
	check_peer_pid(a1, ch1, "child 1's accepted connection");
	check_queued(a1, C1_LEN, 1, 1, "the bytes queued from child 1");
	check_names(a2, lpath, "", "child 2's accepted connection");
	check_peer_pid(a2, ch2, "child 2's accepted connection");
	{
		unsigned char buf[256];
		size_t got = read_n(a2, buf, C2_LEN);
		struct pollfd p = { .fd = a2, .events = POLLIN };

		check(got == C2_LEN, "the bytes queued from child 2", "got %zu want %d", got, C2_LEN);
		r = poll(&p, 1, 0) == 1 ? recv(a2, buf, sizeof(buf), MSG_DONTWAIT) : -1;
		check(r == 0, "child 2's shutdown (end of file)", "read gave %zd, want 0", r);
	}
	check_names(d, pdg, cdg, "the parent's datagram socket");
	check_dgram(d, "dg-c-0", 0, "the parent's first queued datagram");
	check_dgram(d, "dg-c-1", 0, "the parent's second queued datagram");
	if (send(d, "dg-p-new", 8, 0) != 8)
		check(0, "the parent's new datagram", "send: %s", strerror(errno));
	check_dgram(d, "dg-c-new", 1, "the new datagram from child 1");
	if (send(a1, "hello-1", 7, MSG_NOSIGNAL) != 7 || send(a2, "hello-2", 7, MSG_NOSIGNAL) != 7)
		check(0, "the new messages to the children", "send: %s", strerror(errno));
	check_names(sq, "", sqpath, "the parent's seqpacket connection to child 1");
	check_peer_pid(sq, ch1, "the parent's seqpacket connection to child 1");
	check_dgram(sq, "sq-c-0", 0, "the message queued for the parent's seqpacket connection");
	if (send(sq, "sq-p-new", 8, 0) != 8)
		check(0, "the parent's new seqpacket message", "send: %s", strerror(errno));
	check_dgram(sq, "sq-c-new", 1, "child 1's new seqpacket message");
	check_msg(a1, "ack-1", "child 1's reply");
	if (waitpid(ch1, &st, 0) != ch1)
		st = -1;
	check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child 1", "its checks failed (status %#x)", st);
	if (waitpid(ch2, &st, 0) != ch2)
		st = -1;
	check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child 2", "its checks failed (status %#x)", st);
	unlink(lpath);
	unlink(pdg);
	unlink(cdg);
	unlink(sqpath);
	tp_finish(checked);
}
