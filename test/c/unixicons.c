/*
 * unixicons.c - unix connections not accepted yet (in flight) on listening
 * sockets of the process (tprog.h protocol): t301-unixicons.bats.
 *
 *   unixicons READY [data|nodata|child|lchild|unlinked|relative]
 *
 * Set-up, never calling accept(2):
 *   - a stream listener at an abstract name (name in READY.name), three
 *     clients connected in order; before the dump (data, child) client 1
 *     has sent STREAM_LEN pattern bytes, client 2 its id and then
 *     shutdown(SHUT_WR);
 *   - a seqpacket listener at the path READY.sock, two clients; before the
 *     dump (data) client 0 has sent three messages: "seq-msg-0", a message
 *     of BIG_LEN pattern bytes, and an empty one; client 1 has shut down
 *     for reading before it connected (its connection's end is not shut
 *     down: UNIX_DIAG_SHUTDOWN 0) and sent "seq-1";
 *   - child: client 1 of the stream listener is in a child process
 *     (connected between clients 0 and 2 of the parent), which sends
 *     "from-child" before the dump; no seqpacket listener;
 *   - lchild: the stream listener is in a child process, with client 1;
 *     clients 0 and 2 are the parent's (connected before and after it);
 *     as in data, client 1 sends the pattern bytes, client 2 its id and
 *     shuts down; no seqpacket listener; the child accepts and checks;
 *   - unlinked: as data, with the seqpacket listener's socket file removed
 *     once its clients are connected (it must still be gone after);
 *   - relative: as data, with the seqpacket listener bound to a relative
 *     path in the ready file's directory, the working directory.
 * On SIGUSR2 (forwarded to the child): each client that can still write
 * sends its id line "id K\n"; the process then accepts, without blocking,
 * every connection that is there: their number, and for each, in order,
 * the bytes sent before the dump value by value, then its id (the order),
 * the peer's PID (SO_PEERCRED: the child's for client 1 in child mode) and,
 * for client 2, the end of file; it replies "reply K" on each, which
 * client K (the child for its own) must read.
 *
 * CS_TEST_CORRUPT: count (one more client connects), data (client 1
 * sends one byte more), order (clients 0 and 1 connect the other way
 * round), shutdown (client 2 does not shut down), seq (client 0 of the
 * seqpacket listener sends one message less), file (unlinked: the socket
 * file is not removed), preshut (seqpacket client 1 shuts down for
 * reading after it connects, not before).
 */
#define _GNU_SOURCE
#include <poll.h>
#include <stddef.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "tprog.h"

#define NSTREAM 3
#define NSEQ 2
#define STREAM_LEN 5000
#define BIG_LEN 6000

static unsigned checked;
static int mode_data, mode_child, mode_unlinked, mode_relative, mode_lchild;

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
		snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1, "%s", name);
		return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
	}
	if (strlen(name) >= sizeof(a->sun_path))
		tp_die("socket path too long: %s", name);
	memcpy(a->sun_path, name, strlen(name) + 1);
	return offsetof(struct sockaddr_un, sun_path) + strlen(name) + 1;
}

static int client(int type, const struct sockaddr_un *a, socklen_t al)
{
	int s = socket(AF_UNIX, type, 0);

	if (s < 0 || connect(s, (const struct sockaddr *)a, al))
		tp_die("cannot connect a client");
	return s;
}

static void send_all(int s, const void *buf, size_t len, const char *what)
{
	for (size_t done = 0; done < len;) {
		ssize_t r = send(s, (const char *)buf + done, len - done, MSG_NOSIGNAL);

		if (r <= 0)
			tp_die("cannot send %s", what);
		done += r;
	}
}

/* Read exactly len bytes (waiting up to 5 s); the number read. */
static size_t read_n(int s, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		struct pollfd p = { .fd = s, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 5000) != 1)
			break;
		r = recv(s, (char *)buf + done, len - done, MSG_DONTWAIT);
		if (r <= 0)
			break;
		done += r;
	}
	return done;
}

/* Client k says who it is (after the dump: its connection must still be there). */
static void send_id(int s, int k)
{
	char id[16];
	ssize_t r;

	snprintf(id, sizeof(id), "id %d\n", k);
	r = send(s, id, strlen(id), MSG_NOSIGNAL);
	check(r == (ssize_t)strlen(id), "client's id", "client %d cannot send it: %zd (%s)", k, r,
	      r < 0 ? strerror(errno) : "short");
}

static void check_id(int a, int k, const char *what)
{
	char want[16], got[16] = { 0 };
	size_t n;

	snprintf(want, sizeof(want), "id %d\n", k);
	n = read_n(a, got, strlen(want));
	check(n == strlen(want) && !memcmp(got, want, n), what, "id line \"%.*s\" (%zu bytes), want \"id %d\"",
	      (int)(n && got[n - 1] == '\n' ? n - 1 : n), got, n, k);
}

static void check_reply(int s, int k, const char *what)
{
	char want[16], got[16] = { 0 };
	size_t n;

	snprintf(want, sizeof(want), "reply %d", k);
	n = read_n(s, got, strlen(want));
	check(n == strlen(want) && !memcmp(got, want, n), what, "got \"%.*s\", want \"%s\"", (int)n, got, want);
}

static void reply(int a, int k)
{
	char r[16];

	snprintf(r, sizeof(r), "reply %d", k);
	send_all(a, r, strlen(r), "a reply");
}

static pid_t peer_pid(int a)
{
	struct ucred uc;
	socklen_t l = sizeof(uc);

	if (getsockopt(a, SOL_SOCKET, SO_PEERCRED, &uc, &l))
		return -1;
	return uc.pid;
}

/* Accept every connection there is, in order, without blocking. */
static int accept_all(int l, int *acc, int max)
{
	int n = 0;

	for (;;) {
		struct pollfd p = { .fd = l, .events = POLLIN };
		int a;

		if (poll(&p, 1, 200) != 1)
			break;
		a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (a < 0)
			break;
		if (n < max)
			acc[n] = a;
		else
			close(a);
		n++;
	}
	return n;
}

/*
 * The stream listener's side after the dump: accept every connection there
 * is; their number, and for each in order its peer's PID (pids[k]), the
 * bytes sent before the dump, its id and, for client 2, the end of file;
 * then a reply on each.
 */
static void serve_stream(int lst, const pid_t *pids)
{
	int acc[8], n;

	n = accept_all(lst, acc, 8);
	check(n == NSTREAM, "stream listener: connections not accepted", "%d, want %d", n, NSTREAM);
	for (int k = 0; k < NSTREAM && k < n; k++) {
		char what[64];
		pid_t want = pids[k], got = peer_pid(acc[k]);

		snprintf(what, sizeof(what), "stream connection %d", k);
		check(got == want, what, "peer PID (SO_PEERCRED) %d, want %d", (int)got, (int)want);
		if (k == 1 && mode_data) {
			char buf[STREAM_LEN];
			size_t len = mode_child ? 10 : STREAM_LEN, r = read_n(acc[k], buf, len), bad = len;

			if (mode_child)
				bad = r == len && !memcmp(buf, "from-child", len) ? len : 0;
			else
				for (size_t i = 0; i < r && bad == len; i++)
					if ((unsigned char)buf[i] != pattern(i, 11))
						bad = i;
			check(r == len, what, "%zu bytes sent before the dump, want %zu", r, len);
			check(bad == len, what, "byte %zu sent before the dump differs", bad);
		}
		check_id(acc[k], k, what);
		if (k == 2 && mode_data) {
			char c;
			struct pollfd p = { .fd = acc[k], .events = POLLIN };
			ssize_t r = poll(&p, 1, 1000) == 1 ? recv(acc[k], &c, 1, MSG_DONTWAIT) : -1;

			check(r == 0, what, "no end of file after the id (client 2 shut down its writing): %zd", r);
		}
		reply(acc[k], k);
	}
}

/* The shutdown bits of unix socket fd (1 RCV, 2 SEND): UNIX_DIAG_SHUTDOWN; -1 if unknown. */
static int diag_shutdown(int fd)
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
				if (a->rta_type == UNIX_DIAG_SHUTDOWN)
					ret = *(unsigned char *)RTA_DATA(a);
		}
	}
	close(nl);
	return ret;
}

static void child_main(int ready_fd, const struct sockaddr_un *a, socklen_t al)
{
	static const char msg[] = "from-child";
	int s = client(SOCK_STREAM, a, al);
	char b = 'r';

	tp_name = "unixicons-child";
	send_all(s, msg, sizeof(msg) - 1, "the child's data");
	if (write(ready_fd, &b, 1) != 1)
		tp_die("cannot tell the parent");
	close(ready_fd);
	tp_wait_usr2();
	send_id(s, 1);
	check_reply(s, 1, "child's reply");
	_exit(tp_ndiff ? TP_EXIT_DIFFERS : 0);
}

/* lchild: the stream listener and client 1 in a child, clients 0 and 2 in the parent. */
static void lchild_run(const char *ready, const struct sockaddr_un *la, socklen_t lal, const char *sbuf)
{
	int up[2], down[2], c0, c2, st = 0;
	char b = 'x';
	pid_t ch;

	if (pipe(up) || pipe(down))
		tp_die("pipe");
	ch = fork();
	if (ch < 0)
		tp_die("fork");
	if (ch == 0) {
		int lst = socket(AF_UNIX, SOCK_STREAM, 0), c1;
		pid_t pids[NSTREAM] = { getppid(), getpid(), getppid() };

		tp_name = "unixicons-child";
		if (lst < 0 || bind(lst, (const struct sockaddr *)la, lal) || listen(lst, 8))
			tp_die("cannot make the stream listener");
		if (write(up[1], &b, 1) != 1 || read(down[0], &b, 1) != 1)
			tp_die("the parent is gone");
		c1 = client(SOCK_STREAM, la, lal);
		send_all(c1, sbuf, STREAM_LEN + tp_corrupting("data"), "client 1's data");
		if (write(up[1], &b, 1) != 1)
			tp_die("the parent is gone");
		tp_wait_usr2();
		send_id(c1, 1);
		serve_stream(lst, pids);
		check_reply(c1, 1, "client 1's reply");
		_exit(tp_ndiff ? TP_EXIT_DIFFERS : 0);
	}
	if (read(up[0], &b, 1) != 1)
		tp_die("the child did not listen");
	c0 = client(SOCK_STREAM, la, lal);
	if (write(down[1], &b, 1) != 1 || read(up[0], &b, 1) != 1)
		tp_die("the child did not connect");
	c2 = client(SOCK_STREAM, la, lal);
	send_id(c2, 2);
	if (!tp_corrupting("shutdown") && shutdown(c2, SHUT_WR))
		tp_die("shutdown");
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);

	tp_write_ready(ready);
	tp_wait_usr2();
	kill(ch, SIGUSR2);
	send_id(c0, 0);
	check_reply(c0, 0, "client 0's reply");
	check_reply(c2, 2, "client 2's reply");
	if (waitpid(ch, &st, 0) != ch)
		st = -1;
	check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child", "its checks failed (status %#x)", st);
	tp_finish(checked);
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "count", "data", "order", "shutdown", "seq", "file", "preshut", NULL };
	const char *mode = argc > 2 ? argv[2] : "data";
	char name[64], spath[4096], npath[4200], big[BIG_LEN], sbuf[STREAM_LEN + 1];
	struct sockaddr_un la, sa;
	socklen_t lal, sal;
	int lst, lsq = -1, cst[NSTREAM], csq[NSEQ], extra = -1, n;
	pid_t child = 0;
	FILE *f;

	tp_init("unixicons", argc, argv);
	tp_corrupt_check_mode(modes);
	if (!strcmp(mode, "data"))
		mode_data = 1;
	else if (!strcmp(mode, "child"))
		mode_data = mode_child = 1;
	else if (!strcmp(mode, "unlinked"))
		mode_data = mode_unlinked = 1;
	else if (!strcmp(mode, "relative"))
		mode_data = mode_relative = 1;
	else if (!strcmp(mode, "lchild"))
		mode_data = mode_lchild = 1;
	else if (strcmp(mode, "nodata"))
		tp_die("unknown mode %s", mode);
	tp_block_usr2();
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = pattern(i, 3);
	for (size_t i = 0; i < STREAM_LEN; i++)
		sbuf[i] = pattern(i, 11);

	/* the stream listener, at an abstract name */
	snprintf(name, sizeof(name), "cs-unixicons-%d", (int)getpid());
	lal = addr_of(&la, name, 1);
	snprintf(npath, sizeof(npath), "%s.name", argv[1]);
	f = fopen(npath, "w");
	if (!f || fprintf(f, "%s\n", name) < 0 || fclose(f))
		tp_die("cannot write %s", npath);
	if (mode_lchild)
		lchild_run(argv[1], &la, lal, sbuf);	/* does not return */
	lst = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lst < 0 || bind(lst, (struct sockaddr *)&la, lal) || listen(lst, 8))
		tp_die("cannot make the stream listener");

	if (tp_corrupting("order")) {
		cst[1] = client(SOCK_STREAM, &la, lal);
		cst[0] = client(SOCK_STREAM, &la, lal);
	} else {
		cst[0] = client(SOCK_STREAM, &la, lal);
		if (mode_child) {
			int p[2];
			char b;

			if (pipe(p))
				tp_die("pipe");
			child = fork();
			if (child < 0)
				tp_die("fork");
			if (child == 0) {
				close(p[0]);
				child_main(p[1], &la, lal);
			}
			close(p[1]);
			if (read(p[0], &b, 1) != 1)
				tp_die("the child did not connect");
			close(p[0]);
			cst[1] = -1;
		} else {
			cst[1] = client(SOCK_STREAM, &la, lal);
		}
	}
	cst[2] = client(SOCK_STREAM, &la, lal);
	if (mode_data && !mode_child)
		send_all(cst[1], sbuf, STREAM_LEN + tp_corrupting("data"), "client 1's data");
	if (mode_data) {
		send_id(cst[2], 2);
		if (!tp_corrupting("shutdown") && shutdown(cst[2], SHUT_WR))
			tp_die("shutdown");
	}
	if (tp_corrupting("count"))
		extra = client(SOCK_STREAM, &la, lal);

	/* the seqpacket listener, at a path */
	if (!mode_child) {
		if (mode_relative) {
			char dir[4096];

			tp_dirname(argv[1], dir, sizeof(dir));
			if (chdir(dir))
				tp_die("cannot change to %s", dir);
			snprintf(spath, sizeof(spath), "unixicons-rel.sock");
		} else {
			snprintf(spath, sizeof(spath), "%s.sock", argv[1]);
		}
		unlink(spath);
		sal = addr_of(&sa, spath, 0);
		lsq = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		if (lsq < 0 || bind(lsq, (struct sockaddr *)&sa, sal) || listen(lsq, 4))
			tp_die("cannot make the seqpacket listener at %s", spath);
		for (int k = 0; k < NSEQ; k++)
			if (k == 1 && mode_data) {
				/* shut down for reading before it connects: its
				 * connection's other end is not shut down */
				csq[k] = socket(AF_UNIX, SOCK_SEQPACKET, 0);
				if (csq[k] < 0 || (!tp_corrupting("preshut") && shutdown(csq[k], SHUT_RD)) ||
				    connect(csq[k], (struct sockaddr *)&sa, sal) ||
				    (tp_corrupting("preshut") && shutdown(csq[k], SHUT_RD)))
					tp_die("cannot connect seqpacket client 1 shut down for reading");
			} else {
				csq[k] = client(SOCK_SEQPACKET, &sa, sal);
			}
		if (mode_data) {
			if (send(csq[1], "seq-1", 5, 0) != 5)
				tp_die("cannot send a seqpacket message");
			if (send(csq[0], "seq-msg-0", 9, 0) != 9)
				tp_die("cannot send a seqpacket message");
			if (!tp_corrupting("seq") && send(csq[0], big, sizeof(big), 0) != (ssize_t)sizeof(big))
				tp_die("cannot send the big seqpacket message");
			if (send(csq[0], "", 0, 0) != 0)
				tp_die("cannot send an empty seqpacket message");
		}
		if (mode_unlinked && !tp_corrupting("file") && unlink(spath))
			tp_die("cannot remove %s", spath);
	}
	(void)extra;

	tp_write_ready(argv[1]);
	tp_wait_usr2();

	if (child)
		kill(child, SIGUSR2);
	/* clients that can still write say who they are */
	send_id(cst[0], 0);
	if (!mode_child)
		send_id(cst[1], 1);
	if (!mode_data)
		send_id(cst[2], 2);

	{
		pid_t pids[NSTREAM] = { getpid(), mode_child ? child : getpid(), getpid() };

		serve_stream(lst, pids);
	}
	check_reply(cst[0], 0, "client 0's reply");
	if (!mode_child)
		check_reply(cst[1], 1, "client 1's reply");
	check_reply(cst[2], 2, "client 2's reply");

	if (!mode_child) {
		int sq[4];

		n = accept_all(lsq, sq, 4);
		check(n == NSEQ, "seqpacket listener: connections not accepted", "%d, want %d", n, NSEQ);
		if (n >= 1 && mode_data) {
			static char buf[BIG_LEN + 16];
			ssize_t r;

			r = recv(sq[0], buf, sizeof(buf), MSG_DONTWAIT);
			check(r == 9 && !memcmp(buf, "seq-msg-0", 9), "seqpacket message 0", "%zd bytes", r);
			r = recv(sq[0], buf, sizeof(buf), MSG_DONTWAIT);
			check(r == BIG_LEN && !memcmp(buf, big, BIG_LEN), "seqpacket message 1",
			      "%zd bytes, want %d of the pattern", r, BIG_LEN);
			r = recv(sq[0], buf, sizeof(buf), MSG_DONTWAIT);
			check(r == 0, "seqpacket message 2", "%zd bytes, want an empty message", r);
			r = recv(sq[0], buf, sizeof(buf), MSG_DONTWAIT);
			check(r < 0 && errno == EAGAIN, "seqpacket queue", "more after 3 messages: %zd", r);
		}
		if (n >= 2 && mode_data) {
			char buf[16];
			ssize_t r = recv(sq[1], buf, sizeof(buf), MSG_DONTWAIT);
			int sd = diag_shutdown(sq[1]);

			check(r == 5 && !memcmp(buf, "seq-1", 5), "seqpacket connection 1's message", "%zd bytes", r);
			check(sd == 0, "seqpacket connection 1's shutdown (client shut down before connecting)",
			      "%d, want 0", sd);
			sd = diag_shutdown(csq[1]);
			check(sd == 1, "seqpacket client 1's shutdown", "%d, want 1 (RCV_SHUTDOWN)", sd);
			r = send(sq[1], "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			check(r < 0 && errno == EPIPE, "seqpacket connection 1", "a send to a client shut down for "
			      "reading gave %zd (%s), want EPIPE", r, r < 0 ? strerror(errno) : "sent");
		}
		for (int k = 0; k < NSEQ && k < n; k++) {
			char m[16];
			ssize_t r;

			if (k == 1 && mode_data)
				continue;	/* shut down for reading: checked above */
			snprintf(m, sizeof(m), "seq-reply-%d", k);
			if (send(sq[k], m, strlen(m), 0) != (ssize_t)strlen(m))
				tp_die("cannot reply on a seqpacket connection");
			r = recv(csq[k], m, sizeof(m), 0);
			check(r == 11 && m[10] == '0' + k, "seqpacket reply", "client %d got %zd bytes", k, r);
		}
		if (mode_unlinked) {
			struct stat st;

			check(stat(spath, &st) && errno == ENOENT, "seqpacket listener's file",
			      "%s, removed before the dump, is there", spath);
		}
		unlink(spath);
	}
	if (child) {
		int st;

		if (waitpid(child, &st, 0) != child)
			st = -1;
		check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child", "its checks failed (status %#x)", st);
	}
	tp_finish(checked);
}
