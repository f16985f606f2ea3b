/*
 * extsk.c - unix sockets connected to a socket outside the dumped process,
 * as syslog(3) connects to /dev/log (cs-dump --ext-unix-sk; tprog.h protocol).
 *
 *   extsk READY recv PATH COUNT [CCOUNT]
 *                                  the receiver ("journald"): binds a dgram
 *                                  socket to PATH, writes READY, then reads
 *                                  datagrams until it has COUNT from u and
 *                                  CCOUNT (default COUNT) from c (below),
 *                                  and checks they came in order, none lost
 *                                  or doubled; exit 0 or 1
 *   extsk READY recv-stream PATH   binds, listens and accepts at PATH, then
 *                                  sleeps (a stream peer outside: refused)
 *   extsk READY PATH [N]           the target (dgram, N default 5)
 *   extsk READY stream PATH        the target connects a stream socket
 *   extsk READY sendto PATH [N]    the target's c is never connected and
 *                                  sends nothing: only u sends (no option
 *                                  needed to dump it)
 *   extsk READY recv-back PATH ME  binds a dgram socket to PATH, then
 *                                  connects it to ME (back to the target)
 *                                  and writes READY.back
 *   extsk READY back PATH ME       the target's c is bound to ME first
 *   extsk READY pair               the target holds one end of a dgram
 *                                  socketpair whose other end an orphaned
 *                                  grandchild (outside the tree) holds,
 *                                  its PID in READY.pids
 *
 * The target: socket c, SOCK_DGRAM, unbound, connected to PATH, SO_SNDBUF
 * set, sends "c 0" .. "c N-1"; socket u, SOCK_DGRAM, unbound, never
 * connected, sends "u 0" .. "u N-1" with sendto(PATH) (what a program
 * that logs with sendto does). On SIGUSR2 it checks c's SO_TYPE,
 * SO_DOMAIN, SO_SNDBUF, getpeername (PATH) and getsockname (unbound), u's
 * getpeername (ENOTCONN), then sends "c N" .. "c 2N-1" and "u N" ..
 * "u 2N-1" the same ways: the receiver, given COUNT = 2N, checks that all
 * arrived.
 *
 * A PATH of the form @NAME is the abstract name NAME.
 *
 * CS_TEST_CORRUPT (target): peer (c is disconnected: getpeername fails),
 * sndbuf (SO_SNDBUF changes), order (c sends "c N+1" before "c N": the
 * receiver sees it).
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/un.h>

#include "tprog.h"

/* PATH, or "@NAME": the abstract name NAME. */
static struct sockaddr_un addr_of(const char *path, socklen_t *len)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(a.sun_path))
		tp_die("path too long: %s", path);
	strcpy(a.sun_path, path);
	*len = offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1;
	if (path[0] == '@') {
		a.sun_path[0] = 0;
		(*len)--;	/* no final NUL: the name is the bytes given */
	}
	return a;
}

static int receiver(const char *ready, const char *path, int count, int ccount)
{
	socklen_t al;
	struct sockaddr_un a = addr_of(path, &al);
	int next[2] = { 0, 0 }, sk = socket(AF_UNIX, SOCK_DGRAM, 0);
	unsigned checked = 0;

	if (path[0] != '@')
		unlink(path);
	if (sk < 0 || bind(sk, (struct sockaddr *)&a, al))
		tp_die("cannot bind a dgram socket to %s", path);
	tp_write_ready(ready);
	alarm(120);	/* never hang a test */
	while (next[0] < ccount || next[1] < count) {
		char buf[64];
		ssize_t n = recv(sk, buf, sizeof(buf) - 1, 0);
		int k, v;
		char who;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			tp_die("recv");
		buf[n] = 0;
		if (sscanf(buf, "%c %d", &who, &v) != 2 || (who != 'c' && who != 'u')) {
			tp_differs("datagram", "got \"%s\"", buf);
			continue;
		}
		k = who == 'u';
		checked++;
		if (v != next[k])
			tp_differs("datagram order", "from %c: got %d want %d", who, v, next[k]);
		next[k] = v + 1;
	}
	tp_log("received %d + %d datagrams", next[0], next[1]);
	tp_finish(checked);
}

static int recv_stream(const char *ready, const char *path)
{
	socklen_t al;
	struct sockaddr_un a = addr_of(path, &al);
	int sk = socket(AF_UNIX, SOCK_STREAM, 0);

	unlink(path);
	if (sk < 0 || bind(sk, (struct sockaddr *)&a, al) || listen(sk, 4))
		tp_die("cannot listen at %s", path);
	tp_write_ready(ready);
	for (;;) {
		int c = accept(sk, NULL, NULL);

		if (c < 0 && errno != EINTR)
			tp_die("accept");
		pause();
	}
}

/* Bound at PATH; once PEER exists, connected to it (back to the target); then READY.back. */
static int recv_back(const char *ready, const char *path, const char *peer)
{
	socklen_t al, pl;
	struct sockaddr_un a = addr_of(path, &al), p = addr_of(peer, &pl);
	int sk = socket(AF_UNIX, SOCK_DGRAM, 0), i;
	char done[4096];

	unlink(path);
	if (sk < 0 || bind(sk, (struct sockaddr *)&a, al))
		tp_die("cannot bind a dgram socket to %s", path);
	tp_write_ready(ready);
	for (i = 0; i < 1000 && connect(sk, (struct sockaddr *)&p, pl); i++)
		usleep(10000);
	if (i == 1000)
		tp_die("cannot connect to %s", peer);
	snprintf(done, sizeof(done), "%s.back", ready);
	tp_write_ready(done);
	for (;;)
		pause();
}

/* One end of a dgram socketpair whose other end an orphan (outside the tree) holds; its PID in READY.pids. */
static int pair_outside(const char *ready)
{
	char pids[4096];
	int sp[2], fd;
	pid_t child;

	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sp))
		tp_die("socketpair");
	snprintf(pids, sizeof(pids), "%s.pids", ready);
	child = fork();
	if (child < 0)
		tp_die("fork");
	if (child == 0) {
		pid_t g = fork();

		if (g < 0)
			_exit(2);
		if (g == 0) {
			close(sp[0]);
			for (;;)
				pause();	/* killed by the test */
		}
		fd = open(pids, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dprintf(fd, "%d\n", (int)g) < 0 || close(fd))
			_exit(2);
		_exit(0);
	}
	{
		int st;

		if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st))
			tp_die("the child holding the other end failed");
	}
	close(sp[1]);
	return sp[0];
}

static void say(int sk, const char *path, char who, int v)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%c %d", who, v);
	socklen_t al = 0;
	struct sockaddr_un a = { 0 };
	ssize_t r;

	if (path)
		a = addr_of(path, &al);
	r = path ? sendto(sk, buf, n, 0, (struct sockaddr *)&a, al) : send(sk, buf, n, 0);

	if (r != n)
		tp_differs("send", "\"%s\" %s: %s", buf, path ? "with sendto" : "on the connected socket",
			   strerror(errno));
}

static int getint(int sk, int opt)
{
	int v = -1;
	socklen_t l = sizeof(v);

	if (getsockopt(sk, SOL_SOCKET, opt, &v, &l))
		return -1;
	return v;
}

int main(int argc, char **argv)
{
	static const char *modes[] = { "peer", "sndbuf", "order", NULL };
	const char *path;
	int n = 5, c, u, sndbuf, v, stream, back, only_u;
	unsigned checked = 0;
	struct sockaddr_un a;
	socklen_t al;

	tp_init("extsk", argc, argv);
	if (argc > 4 && !strcmp(argv[2], "recv"))
		return receiver(argv[1], argv[3], atoi(argv[4]), argc > 5 ? atoi(argv[5]) : atoi(argv[4]));
	if (argc > 3 && !strcmp(argv[2], "recv-stream"))
		return recv_stream(argv[1], argv[3]);
	if (argc > 4 && !strcmp(argv[2], "recv-back"))
		return recv_back(argv[1], argv[3], argv[4]);
	tp_corrupt_check_mode(modes);
	tp_block_usr2();
	if (argc > 2 && !strcmp(argv[2], "pair")) {
		/* refused by cs-dump: only the program's own checks */
		c = pair_outside(argv[1]);
		tp_write_ready(argv[1]);
		tp_wait_usr2();
		checked += !tp_check_u64("c SO_TYPE", getint(c, SO_TYPE), SOCK_DGRAM);
		tp_finish(checked);
	}
	stream = argc > 3 && !strcmp(argv[2], "stream");
	back = argc > 4 && !strcmp(argv[2], "back");
	only_u = argc > 3 && !strcmp(argv[2], "sendto");
	path = stream || back || only_u ? argv[3] : argv[2];
	if (!stream && !back && argc > 3 + only_u)
		n = atoi(argv[3 + only_u]);
	if (back)
		n = 0;	/* the socket there takes datagrams from c only: none sent */
	if (!path)
		tp_die("no path");
	a = addr_of(path, &al);
	c = socket(AF_UNIX, stream ? SOCK_STREAM : SOCK_DGRAM, 0);
	u = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (back) {
		socklen_t ml;
		struct sockaddr_un me = addr_of(argv[4], &ml);

		if (c < 0 || bind(c, (struct sockaddr *)&me, ml))
			tp_die("cannot bind to %s", argv[4]);
	}
	if (c < 0 || u < 0 || (!only_u && connect(c, (struct sockaddr *)&a, al)))
		tp_die("cannot connect to %s", path);
	v = 48 << 10;
	if (setsockopt(c, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)))
		tp_die("SO_SNDBUF");
	sndbuf = getint(c, SO_SNDBUF);
	for (int i = 0; i < n && !stream; i++) {
		if (!only_u)
			say(c, NULL, 'c', i);
		say(u, path, 'u', i);
	}
	if (tp_corrupting("peer")) {
		struct sockaddr none = { .sa_family = AF_UNSPEC };

		connect(c, &none, sizeof(none));
	}
	if (tp_corrupting("sndbuf")) {
		v = 96 << 10;
		setsockopt(c, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	}
	tp_write_ready(argv[1]);
	tp_wait_usr2();

	checked += !tp_check_u64("c SO_TYPE", getint(c, SO_TYPE), stream ? SOCK_STREAM : SOCK_DGRAM);
	checked += !tp_check_u64("c SO_DOMAIN", getint(c, SO_DOMAIN), AF_UNIX);
	checked += !tp_check_u64("c SO_SNDBUF", getint(c, SO_SNDBUF), sndbuf);
	checked += !tp_check_u64("u SO_TYPE", getint(u, SO_TYPE), SOCK_DGRAM);
	{
		struct sockaddr_un p = { 0 };
		socklen_t pl = sizeof(p);

		if (only_u) {
			if (getpeername(c, (struct sockaddr *)&p, &pl) == 0 || errno != ENOTCONN)
				tp_differs("c peer", "getpeername: %s, want ENOTCONN", strerror(errno));
			else
				checked++;
		} else if (getpeername(c, (struct sockaddr *)&p, &pl))
			tp_differs("c peer", "getpeername: %s, want %s", strerror(errno), path);
		else if (pl != al || memcmp(&p, &a, al))
			tp_differs("c peer", "got %s%.*s (%u bytes) want %s (%u bytes)", p.sun_path[0] ? "" : "@",
				   (int)(pl - offsetof(struct sockaddr_un, sun_path) - !p.sun_path[0]),
				   p.sun_path + !p.sun_path[0], pl, path, al);
		else
			checked++;
		pl = sizeof(p);
		memset(&p, 0, sizeof(p));
		if (getsockname(c, (struct sockaddr *)&p, &pl))
			tp_differs("c name", "getsockname: %s", strerror(errno));
		else if (back)
			checked += !tp_check_str("c name", p.sun_path, argv[4]);
		else
			checked += !tp_check_u64("c name length (unbound)", pl, sizeof(sa_family_t));
		pl = sizeof(p);
		if (getpeername(u, (struct sockaddr *)&p, &pl) == 0 || errno != ENOTCONN)
			tp_differs("u peer", "getpeername: %s, want ENOTCONN", strerror(errno));
		else
			checked++;
	}
	for (int i = n; i < 2 * n && !stream; i++) {
		int k = i;

		if (tp_corrupting("order") && i == n)
			k = n + 1;
		else if (tp_corrupting("order") && i == n + 1)
			k = n;
		if (!only_u)
			say(c, NULL, 'c', k);
		say(u, path, 'u', i);
		checked += 2;
	}
	tp_finish(checked);
}
