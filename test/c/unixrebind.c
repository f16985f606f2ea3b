/*
 * unixrebind.c - a unix listener whose socket file was removed, and another
 * listener bound to the same path since (a server restarting its listener
 * while the old one is still open), tprog.h protocol: t301-unixicons.bats.
 *
 *   unixrebind READY [icons|closed|closedchild]
 *
 * Set-up: listener A (fd 3) bound to DIR/rebind.sock, listening; with
 * icons, a client (fd 4) connects to A and sends "to-a", never accepted;
 * the file is removed and listener B bound to the same path, listening.
 * On SIGUSR2, checked value by value: A's name (getsockname) is still the
 * path; the file at the path is B's: a new client connecting to the path
 * is queued on B, not on A; with icons, A holds exactly the one connection
 * of its client, with "to-a" in it.
 *
 * closed: no B; A (stream, at the path) and an abstract seqpacket listener
 * C (fd 4) each accepted one connection (fds 5 and 7) whose client sent
 * "last words" and was closed: a server whose client went away before it
 * noticed. Checked: each accepted socket reads "last words", then the end
 * of file; its name is its listener's; and new clients still reach A and
 * C through their names.
 *
 * closedchild: A's accepted connection of closed (no C) is handed to a
 * child process and closed in the parent (a pre-forked worker that
 * accepted it); on SIGUSR2 the parent forwards it to the child, which
 * checks its data and end of file, and checks that the child exited 0 and
 * that A still takes new clients. cs-dump refuses it (t301).
 *
 * CS_TEST_CORRUPT: gone (the file at the path is removed after set-up, as
 * a restore that removed A's name in B's stead would leave it), words
 * (closed: one byte of A's accepted connection is read before the dump).
 */
#define _GNU_SOURCE
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "tprog.h"

static unsigned checked;

/* One connection waits on listener l: 1, none: 0. */
static int pending(int l)
{
	struct pollfd p = { .fd = l, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static int listener(const struct sockaddr_un *a)
{
	int l = socket(AF_UNIX, SOCK_STREAM, 0);

	if (l < 0 || bind(l, (const struct sockaddr *)a, sizeof(*a)) || listen(l, 4))
		tp_die("cannot make a listener at %s", a->sun_path);
	return l;
}

/* A client connects to the listener l at a (al bytes), sends "last words", is closed: the accepted end. */
static int accept_closed(int l, int type, const struct sockaddr_un *a, socklen_t al)
{
	int c = socket(AF_UNIX, type, 0), x;

	if (c < 0 || connect(c, (const struct sockaddr *)a, al) || write(c, "last words", 10) != 10)
		tp_die("cannot connect to a listener");
	x = accept(l, NULL, NULL);
	if (x < 0)
		tp_die("cannot accept");
	close(c);
	return x;
}

/* Accepted end x of listener l (name a, al bytes): its data, the end of file, its name; then a new client. */
static void check_closed(const char *what, int l, int x, int type, const struct sockaddr_un *a, socklen_t al)
{
	struct sockaddr_un got;
	socklen_t gl = sizeof(got);
	char buf[32], w[96];
	int n, c;

	snprintf(w, sizeof(w), "%s: data", what);
	checked++;
	n = recv(x, buf, sizeof(buf), MSG_DONTWAIT);
	if (n != 10)
		tp_differs(w, "got %d bytes, want 10", n);
	else
		tp_check_bytes(w, buf, "last words", 10);
	snprintf(w, sizeof(w), "%s: end of file", what);
	checked++;
	tp_check_u64(w, recv(x, buf, sizeof(buf), MSG_DONTWAIT), 0);
	snprintf(w, sizeof(w), "%s: name", what);
	checked++;
	memset(&got, 0, sizeof(got));
	if (getsockname(x, (struct sockaddr *)&got, &gl))
		tp_differs(w, "getsockname: %s", strerror(errno));
	else if (gl != al || memcmp(&got, a, al))
		tp_differs(w, "got \"%s%s\" (%u bytes) want \"%s%s\"", got.sun_path[0] ? "" : "@",
			   got.sun_path + !got.sun_path[0], gl, a->sun_path[0] ? "" : "@",
			   a->sun_path + !a->sun_path[0]);
	snprintf(w, sizeof(w), "%s: a new client", what);
	checked++;
	c = socket(AF_UNIX, type, 0);
	if (c < 0 || connect(c, (const struct sockaddr *)a, al))
		tp_differs(w, "cannot connect to the listener: %s", strerror(errno));
	else
		tp_check_u64(w, pending(l), 1);
}

static int closed(const char *ready, struct sockaddr_un *a)
{
	struct sockaddr_un b = { .sun_family = AF_UNIX };
	socklen_t al, bl;
	int la, lc, xa, xc;
	char buf[1];

	tp_block_usr2();
	unlink(a->sun_path);
	la = listener(a);
	/* the length getsockname(2) gives for a path: up to its NUL */
	al = offsetof(struct sockaddr_un, sun_path) + strlen(a->sun_path) + 1;
	xa = accept_closed(la, SOCK_STREAM, a, al);
	bl = offsetof(struct sockaddr_un, sun_path) + 1 +
	     snprintf(b.sun_path + 1, sizeof(b.sun_path) - 1, "cs-unixrebind-%d", (int)getpid());
	lc = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	if (lc < 0 || bind(lc, (struct sockaddr *)&b, bl) || listen(lc, 4))
		tp_die("cannot make the abstract seqpacket listener");
	xc = accept_closed(lc, SOCK_SEQPACKET, &b, bl);
	if (la != 3 || xa != 5 || lc != 4 || xc != 7)
		tp_die("fds %d %d %d %d, want 3 5 4 7", la, xa, lc, xc);
	if (tp_corrupting("gone") && unlink(a->sun_path))
		tp_die("cannot remove %s", a->sun_path);
	if (tp_corrupting("words") && read(xa, buf, 1) != 1)
		tp_die("cannot read a byte");
	tp_write_ready(ready);
	tp_wait_usr2();
	check_closed("listener A's accepted connection", la, xa, SOCK_STREAM, a, al);
	check_closed("listener C's accepted connection", lc, xc, SOCK_SEQPACKET, &b, bl);
	tp_finish(checked);
}

static int closedchild(const char *ready, struct sockaddr_un *a)
{
	socklen_t al = offsetof(struct sockaddr_un, sun_path) + strlen(a->sun_path) + 1;
	int la, xa, st;
	pid_t child;

	tp_block_usr2();
	unlink(a->sun_path);
	la = listener(a);
	xa = accept_closed(la, SOCK_STREAM, a, al);
	if (tp_corrupting("words") && read(xa, &st, 1) != 1)
		tp_die("cannot read a byte");
	child = fork();
	if (child < 0)
		tp_die("fork");
	if (!child) {
		char buf[32];
		int n;

		close(la);
		tp_wait_usr2();
		n = recv(xa, buf, sizeof(buf), MSG_DONTWAIT);
		checked += 2;
		if (n != 10 || memcmp(buf, "last words", 10))
			tp_differs("child: accepted connection data", "got %d bytes, want \"last words\"", n);
		tp_check_u64("child: accepted connection end of file", recv(xa, buf, sizeof(buf), MSG_DONTWAIT), 0);
		tp_finish(checked);
	}
	close(xa);
	if (tp_corrupting("gone") && unlink(a->sun_path))
		tp_die("cannot remove %s", a->sun_path);
	tp_write_ready(ready);
	tp_wait_usr2();
	kill(child, SIGUSR2);
	checked++;
	if (waitpid(child, &st, 0) != child)
		tp_differs("child", "cannot wait for it: %s", strerror(errno));
	else
		tp_check_u64("child exit status", st, 0);
	checked++;
	xa = socket(AF_UNIX, SOCK_STREAM, 0);
	if (xa < 0 || connect(xa, (struct sockaddr *)a, al))
		tp_differs("listener A: a new client", "cannot connect: %s", strerror(errno));
	else
		tp_check_u64("listener A: a new client", pending(la), 1);
	tp_finish(checked);
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "gone", "words", NULL };
	struct sockaddr_un a = { .sun_family = AF_UNIX }, got;
	socklen_t gl = sizeof(got);
	char dir[4096], buf[16];
	int icons, la, lb, c = -1, n, x;

	tp_init("unixrebind", argc, argv);
	tp_corrupt_check_mode(modes);
	icons = argc > 2 && !strcmp(argv[2], "icons");
	tp_dirname(argv[1], dir, sizeof(dir));
	if ((size_t)snprintf(a.sun_path, sizeof(a.sun_path), "%s/rebind.sock", dir) >= sizeof(a.sun_path))
		tp_die("path too long");
	if (argc > 2 && !strcmp(argv[2], "closed"))
		return closed(argv[1], &a);
	if (argc > 2 && !strcmp(argv[2], "closedchild"))
		return closedchild(argv[1], &a);
	tp_block_usr2();
	unlink(a.sun_path);	/* one left by an earlier run in the same directory */
	la = listener(&a);
	if (icons) {
		c = socket(AF_UNIX, SOCK_STREAM, 0);
		if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) || write(c, "to-a", 4) != 4)
			tp_die("cannot connect to listener A");
	}
	if (unlink(a.sun_path))
		tp_die("cannot remove %s", a.sun_path);
	lb = listener(&a);
	if (tp_corrupting("gone") && unlink(a.sun_path))
		tp_die("cannot remove %s", a.sun_path);
	tp_write_ready(argv[1]);
	tp_wait_usr2();

	checked++;
	if (getsockname(la, (struct sockaddr *)&got, &gl) || gl <= offsetof(struct sockaddr_un, sun_path))
		tp_differs("listener A name", "getsockname: %s", strerror(errno));
	else
		tp_check_str("listener A name", got.sun_path, a.sun_path);
	if (icons) {
		checked++;
		x = pending(la) ? accept(la, NULL, NULL) : -1;
		if (x < 0) {
			tp_differs("listener A", "its connection not accepted yet is missing");
		} else {
			n = read(x, buf, sizeof(buf));
			if (n != 4)
				tp_differs("listener A connection data", "got %d bytes, want 4", n);
			else
				tp_check_bytes("listener A connection data", buf, "to-a", 4);
			close(x);
		}
	}
	checked += 2;
	tp_check_u64("listener A connections left", pending(la), 0);
	tp_check_u64("listener B connections before", pending(lb), 0);
	x = socket(AF_UNIX, SOCK_STREAM, 0);
	checked++;
	if (x < 0 || connect(x, (struct sockaddr *)&a, sizeof(a))) {
		tp_differs("the file at the path", "cannot connect to %s: %s", a.sun_path, strerror(errno));
	} else {
		checked += 2;
		tp_check_u64("listener B gets a new client", pending(lb), 1);
		tp_check_u64("listener A gets no new client", pending(la), 0);
	}
	(void)c;
	tp_finish(checked);
}
