/*
 * Unix datagram sockets that were connected to a socket outside the dump
 * (cs-dump --ext-unix-sk; unix_sk_entry.ext_peer): connected again to the
 * same name. The check phase probes the name with a datagram socket of our
 * own, so that a restore whose log socket (say) is gone is refused before
 * anything is created.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#define LOG_PREFIX "sockets: "
#include "log.h"
#include "util.h"
#include "sockets.h"

static int ext_addr(const UnixSkEntry *s, struct sockaddr_un *a, socklen_t *al)
{
	if (!s->has_ext_peer || !s->ext_peer.len || s->ext_peer.len > sizeof(a->sun_path))
		return -1;
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	memcpy(a->sun_path, s->ext_peer.data, s->ext_peer.len);
	*al = offsetof(struct sockaddr_un, sun_path) + s->ext_peer.len;
	return 0;
}

const char *unix_ext_name(const UnixSkEntry *s, char *buf, size_t size)
{
	size_t n = s->ext_peer.len < size - 2 ? s->ext_peer.len : size - 2;

	if (!n) {
		snprintf(buf, size, "(none)");
		return buf;
	}
	if (s->ext_peer.data[0] == 0) {
		buf[0] = '@';
		memcpy(buf + 1, s->ext_peer.data + 1, n - 1);
	} else {
		memcpy(buf, s->ext_peer.data, n);
	}
	buf[n] = 0;
	for (size_t i = 0; i < n; i++)
		if (buf[i] && (buf[i] < 32 || buf[i] == 127))
			buf[i] = '?';
	return buf;
}

int check_unix_ext(const FdEntry *e)
{
	const UnixSkEntry *s = e->usk;
	struct sockaddr_un a;
	socklen_t al;
	char nb[128];
	int sk, r;

	if (!s->has_ext_peer)
		return 0;
	unix_ext_name(s, nb, sizeof(nb));
	if (s->type != SOCK_DGRAM || s->has_peer_ino || ext_addr(s, &a, &al))
		return pr_err("fd %u: malformed unix socket connected outside (%s) in files.img", e->fd, nb);
	sk = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sk < 0)
		return pr_perror("fd %u: cannot create a unix socket", e->fd);
	/* a datagram connect sends nothing: it only finds the socket bound there */
	r = connect(sk, (struct sockaddr *)&a, al);
	close(sk);
	if (r)
		return pr_perror("fd %u: unix dgram socket was connected to %s outside the dump "
				 "(--ext-unix-sk), and no datagram socket can be reached there now", e->fd, nb);
	return 0;
}

int unix_ext_connect(int fd, const UnixSkEntry *s)
{
	struct sockaddr_un a;
	socklen_t al;

	if (ext_addr(s, &a, &al)) {
		errno = EINVAL;
		return -1;
	}
	return connect(fd, (struct sockaddr *)&a, al);
}
