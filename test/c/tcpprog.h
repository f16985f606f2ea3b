/*
 * tcpprog.h - what the TCP test programs (tcp.c, tcphalf.c) share: the byte
 * pattern of their streams and writing it, waiting until a connection's
 * queues settle, a loopback listener, and the small files next to
 * READY_FILE that tell the test (or the other process) a port or a stage.
 *
 * Header-only like tprog.h, and included after it: every helper is static
 * inline and dies (tp_die, exit status 2) when set-up fails.
 */
#ifndef CS_TCPPROG_H
#define CS_TCPPROG_H

#include <poll.h>
#include <time.h>
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "tprog.h"

/* Byte i of stream k: never 0xff (tcp.c's mark), so that a byte out of
 * place or from another stream shows. */
static inline uint8_t tcp_pat(int k, uint64_t i)
{
	return ((i % 251) * 7 + k * 13 + i / 251) % 251;
}

/* setsockopt of an int option; what names it if that fails. */
static inline void tcp_seti(int fd, int level, int name, int v, const char *what)
{
	if (setsockopt(fd, level, name, &v, sizeof(v)))
		tp_die("setsockopt %s", what);
}

/*
 * Write stream k's pattern bytes on fd, from byte *sent on, until *sent
 * reaches upto (waiting for room), or with upto 0 until the send buffer
 * is full (EAGAIN). *sent counts what was written; name is the end's in
 * messages.
 */
static inline void tcp_fill(int fd, int k, uint64_t *sent, uint64_t upto, const char *name)
{
	uint8_t buf[4096];

	for (;;) {
		size_t want = sizeof(buf);
		ssize_t w;

		if (upto && *sent >= upto)
			return;
		if (upto && upto - *sent < want)
			want = upto - *sent;
		for (size_t i = 0; i < want; i++)
			buf[i] = tcp_pat(k, *sent + i);
		w = send(fd, buf, want, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!upto)
				return;
			poll(&(struct pollfd){ fd, POLLOUT, 0 }, 1, 100);
			continue;
		}
		if (w <= 0)
			tp_die("%s: send", name);
		*sent += w;
	}
}

/*
 * Wait until nothing moves on fd any more: its receive queue, send queue
 * and unsent bytes (SIOCINQ, SIOCOUTQ, SIOCOUTQNSD: tcp(7)) the same in
 * steady checks in a row, 10 ms apart, at most tries checks.
 */
static inline void tcp_settle(int fd, int tries, int steady)
{
	int last = -1, same = 0;

	for (int i = 0; i < tries && same < steady; i++) {
		int a = 0, b = 0, c = 0;

		ioctl(fd, SIOCINQ, &a);
		ioctl(fd, SIOCOUTQ, &b);
		ioctl(fd, SIOCOUTQNSD, &c);
		same = (a ^ (b << 1) ^ (c << 2)) == last ? same + 1 : 0;
		last = a ^ (b << 1) ^ (c << 2);
		nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
	}
}

/*
 * A TCP listener of family (AF_INET at a4, AF_INET6 at [::1]) on a port
 * the kernel picks, with SO_REUSEADDR when reuseaddr (accepted sockets
 * inherit it) and backlog. Its address in *name, the length in *al.
 */
static inline int tcp_listener(int family, struct in_addr a4, int reuseaddr, int backlog,
			       struct sockaddr_storage *name, socklen_t *al)
{
	struct sockaddr_storage a;
	int fd = socket(family, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.ss_family = family;
	*al = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	if (family == AF_INET)
		((struct sockaddr_in *)&a)->sin_addr = a4;
	else
		((struct sockaddr_in6 *)&a)->sin6_addr = in6addr_loopback;
	if (fd < 0)
		tp_die("socket");
	if (reuseaddr)
		tcp_seti(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
	if (bind(fd, (struct sockaddr *)&a, *al) || listen(fd, backlog))
		tp_die("listen on %s", family == AF_INET ? "127.0.0.1" : "[::1]");
	*al = sizeof(*name);
	getsockname(fd, (struct sockaddr *)name, al);
	return fd;
}

/* Write text (maybe "") to the file READY_FILE.suffix, for the test or the
 * other process to read: ports, a stage reached. */
static inline void tcp_note(const char *ready, const char *suffix, const char *text)
{
	char path[4200];
	size_t n = strlen(text);
	int fd;

	snprintf(path, sizeof(path), "%s.%s", ready, suffix);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, text, n) != (ssize_t)n || close(fd))
		tp_die("cannot write %s", path);
}

#endif
