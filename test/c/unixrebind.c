/*
 * unixrebind.c - a unix listener whose socket file was removed, and another
 * listener bound to the same path since (a server restarting its listener
 * while the old one is still open), tprog.h protocol: t301-unixicons.bats.
 *
 *   unixrebind READY [icons]
 *
 * Set-up: listener A (fd 3) bound to DIR/rebind.sock, listening; with
 * icons, a client (fd 4) connects to A and sends "to-a", never accepted;
 * the file is removed and listener B bound to the same path, listening.
 * On SIGUSR2, checked value by value: A's name (getsockname) is still the
 * path; the file at the path is B's: a new client connecting to the path
 * is queued on B, not on A; with icons, A holds exactly the one connection
 * of its client, with "to-a" in it.
 *
 * CS_TEST_CORRUPT: gone (the file at the path is removed after set-up, as
 * a restore that removed A's name in B's stead would leave it).
 */
#define _GNU_SOURCE
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

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

int main(int argc, char **argv)
{
	static const char *const modes[] = { "gone", NULL };
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
