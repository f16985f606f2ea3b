/*
 * Unix sockets. check_unix runs before anything is created; unix_make_all
 * runs in the stub and makes every unix socket of the process in one go,
 * in an order that the kernel accepts (unix(7)):
 *   create (socketpairs for pairs without names) - options - bind - listen
 *   - connect + accept through the process's own listeners - refill the
 *   datagram queues (before any datagram socket connects: a connected
 *   socket takes datagrams from its peer only) - connect datagram sockets -
 *   refill stream and seqpacket queues from the peer - shutdown - unlink
 *   names whose file was gone - buffer sizes and SO_PEEK_OFF last.
 * A client whose connection was not accepted yet is left unconnected (and
 * not shut down, and its listener's vanished name not unlinked): its
 * connection is made once every stub exists (sk-unix-icons.c).
 * Names relative to a directory are bound after a chdir there: the stub
 * changes to the saved working directory afterwards anyway.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>

#define LOG_PREFIX "sockets: "
#include "log.h"
#include "util.h"
#include "sockdiag.h"
#include "sk-opts.h"
#include "sockets.h"

/* A path name as a C string (names from sock_diag include the final NUL). */
static int path_of(const UnixSkEntry *s, char *buf, size_t size)
{
	if (!s->has_name || !s->name.len || s->name.data[0] == 0 || s->name.len >= size)
		return -1;
	memcpy(buf, s->name.data, s->name.len);
	buf[s->name.len] = 0;
	return 0;
}

static int name_ok(const UnixSkEntry *s)
{
	return s->has_name && s->name.len >= 1 && s->name.len <= sizeof(((struct sockaddr_un *)0)->sun_path);
}

int check_unix(struct rst_ctx *c, const FdEntry *e)
{
	const UnixSkEntry *s = e->usk;
	char path[PATH_MAX + 256], name[128];
	struct stat st;

	if (!s)
		return pr_err("fd %u: unix socket without its unix_sk_entry in files.img", e->fd);
	if (s->type != SOCK_STREAM && s->type != SOCK_DGRAM && s->type != SOCK_SEQPACKET)
		return pr_err("fd %u: unix socket of unknown type %u in files.img", e->fd, s->type);
	if (s->has_name && !name_ok(s))
		return pr_err("fd %u: unix socket name of %zu bytes in files.img", e->fd, s->name.len);
	if (!(e->has_peer_fd || e->has_from_pid) && (check_unix_ext(e) || check_unix_icons(c, e)))
		return -1;
	if ((e->has_peer_fd || e->has_from_pid) || !s->has_name || !s->name_owned)
		return 0;
	if (s->name.data[0] == 0) {
		/* abstract: free when a probe can bind it (and the probe's close frees it) */
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		int sk = socket(AF_UNIX, s->type | SOCK_CLOEXEC, 0), r;

		memcpy(a.sun_path, s->name.data, s->name.len);
		if (sk < 0)
			return pr_perror("fd %u: cannot create a unix socket", e->fd);
		r = bind(sk, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + s->name.len);
		close(sk);
		if (r) {
			snprintf(name, sizeof(name), "%.*s", (int)s->name.len - 1, (const char *)s->name.data + 1);
			return pr_perror("fd %u: cannot bind unix socket to abstract name @%s again", e->fd, name);
		}
		return 0;
	}
	if (path_of(s, name, sizeof(name)))
		return pr_err("fd %u: malformed unix socket name in files.img", e->fd);
	if (s->name_dir)
		snprintf(path, sizeof(path), "%s/%s", s->name_dir, name);
	else
		snprintf(path, sizeof(path), "%s", name);
	if (lstat(path, &st)) {
		char *d = xstrdup(path), *slash;

		if (errno != ENOENT)
			return pr_perror("fd %u: cannot bind unix socket to %s", e->fd, path);
		if (!d)
			return -1;
		slash = strrchr(d, '/');
		if (slash && slash != d)
			*slash = 0;
		if (slash && stat(d, &st)) {
			pr_perror("fd %u: cannot bind unix socket to %s: directory %s", e->fd, path, d);
			free(d);
			return -1;
		}
		free(d);
		/* made by this restore: removed again if it fails (unix_undo) */
		if (path[0] == '/') {
			char **n = realloc(c->unix_made, (c->nr_unix_made + 1) * sizeof(*n));

			if (!n || !(n[c->nr_unix_made] = xstrdup(path)))
				return n ? (c->unix_made = n, -1) : -1;
			c->unix_made = n;
			c->nr_unix_made++;
		}
		return 0;
	}
	if (!S_ISSOCK(st.st_mode))
		return pr_err("fd %u: cannot bind unix socket to %s: a file that is not a socket is there", e->fd,
			      path);
	{
		int64_t owner = sockdiag_unix_bound_at((uint64_t)major(st.st_dev) << 20 | minor(st.st_dev),
						       st.st_ino);

		if (owner < 0)
			return -1;
		if (owner)
			return pr_err("fd %u: cannot bind unix socket to %s: a live socket (inode %lld) is bound "
				      "there", e->fd, path, (long long)owner);
	}
	pr_info("fd %u: stale socket file %s will be replaced", e->fd, path);
	return 0;
}

/* Everything unix_make_all works on. */
struct mk {
	struct rst_ctx *c;
	int *fd;		/* by entry index: our socket, -1 */
	int *closer;		/* the other end standing in for a closed peer */
	int tmp_min;
	char *err;
	size_t len;
};

static int idx_of(struct rst_ctx *c, uint64_t ino)
{
	for (size_t i = 0; i < c->nr_fds; i++)
		if (c->fds[i]->type == FD_UNIX && !(c->fds[i]->has_peer_fd || c->fds[i]->has_from_pid) && c->fds[i]->ino == ino && c->fds[i]->usk)
			return i;
	return -1;
}

static int fail(struct mk *m, size_t i, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct mk *m, size_t i, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(m->err, m->len, "fd %u (unix socket): ", m->c->fds[i]->fd);

	va_start(ap, fmt);
	if (n > 0 && (size_t)n < m->len)
		vsnprintf(m->err + n, m->len - n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Move fd to a number >= tmp_min, close-on-exec; -1 with errno. */
static int keep(struct mk *m, int fd)
{
	int n;

	if (fd < 0)
		return -1;
	n = fcntl(fd, F_DUPFD_CLOEXEC, m->tmp_min);
	close(fd);
	return n;
}

/* The address of entry i's name; changes to its directory first if relative. */
static int sun_of(struct mk *m, size_t i, struct sockaddr_un *a, socklen_t *al)
{
	const UnixSkEntry *s = m->c->fds[i]->usk;

	if (!name_ok(s))
		return fail(m, i, "has no name to connect to");
	if (s->name_dir && chdir(s->name_dir))
		return fail(m, i, "cannot change to %s: %m", s->name_dir);
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	memcpy(a->sun_path, s->name.data, s->name.len);
	*al = offsetof(struct sockaddr_un, sun_path) + s->name.len;
	return 0;
}

static int is_socketpair(struct rst_ctx *c, size_t i, int p)
{
	const UnixSkEntry *s = c->fds[i]->usk, *ps;

	if (p < 0)
		return 0;
	ps = c->fds[p]->usk;
	return ps->has_peer_ino && ps->peer_ino == c->fds[i]->ino && !s->has_name && !ps->has_name &&
	       !s->has_listener_ino && !ps->has_listener_ino;
}

static int create(struct mk *m)
{
	struct rst_ctx *c = m->c;

	for (size_t i = 0; i < c->nr_fds; i++) {
		UnixSkEntry *s = c->fds[i]->usk;
		int p, sp[2];

		if (c->fds[i]->type != FD_UNIX || (c->fds[i]->has_peer_fd || c->fds[i]->has_from_pid) || m->fd[i] >= 0 || s->has_listener_ino)
			continue;
		p = s->has_peer_ino ? idx_of(c, s->peer_ino) : -1;
		if (is_socketpair(c, i, p) || s->peer_closed) {
			if (socketpair(AF_UNIX, s->type, 0, sp))
				return fail(m, i, "cannot create a socket pair: %m");
			m->fd[i] = keep(m, sp[0]);
			if (s->peer_closed)
				m->closer[i] = keep(m, sp[1]);
			else
				m->fd[p] = keep(m, sp[1]);
			if (m->fd[i] < 0 || (s->peer_closed ? m->closer[i] : m->fd[p]) < 0)
				return fail(m, i, "cannot move a socket: %m");
			continue;
		}
		m->fd[i] = keep(m, socket(AF_UNIX, s->type, 0));
		if (m->fd[i] < 0)
			return fail(m, i, "cannot create a socket: %m");
	}
	return 0;
}

static int opts(struct mk *m, int peek)
{
	for (size_t i = 0; i < m->c->nr_fds; i++) {
		const UnixSkEntry *s = m->c->fds[i]->usk;
		char e[200];

		if (m->fd[i] < 0)
			continue;
		if (sk_opts_apply(m->fd[i], s->opts, e, sizeof(e)) ||
		    (peek && sk_opts_peek_off(m->fd[i], s->opts, e, sizeof(e))))
			return fail(m, i, "%s", e);
	}
	return 0;
}

static int bind_names(struct mk *m)
{
	struct rst_ctx *c = m->c;

	for (size_t i = 0; i < c->nr_fds; i++) {
		const UnixSkEntry *s = c->fds[i]->usk;
		struct sockaddr_un a;
		socklen_t al;
		char path[128];
		struct stat st;

		if (m->fd[i] < 0 || !s->has_name || !s->name_owned)
			continue;
		if (sun_of(m, i, &a, &al))
			return -1;
		if (path_of(s, path, sizeof(path)) == 0 && lstat(path, &st) == 0) {
			/* checked: a socket file no live socket is bound to */
			if (!S_ISSOCK(st.st_mode) || unlink(path))
				return fail(m, i, "cannot replace %s: %m", path);
		}
		if (bind(m->fd[i], (struct sockaddr *)&a, al))
			return fail(m, i, "cannot bind to %s%s: %m", a.sun_path[0] ? "" : "@",
				    a.sun_path[0] ? a.sun_path : a.sun_path + 1);
		if (a.sun_path[0] && s->has_name_mode &&
		    (chmod(path, s->name_mode) || lchown(path, s->name_uid, s->name_gid)))
			return fail(m, i, "cannot give %s its mode and owner: %m", path);
		if (s->state == TCP_LISTEN && listen(m->fd[i], s->backlog))
			return fail(m, i, "cannot listen: %m");
	}
	return 0;
}

static int accept_all(struct mk *m)
{
	struct rst_ctx *c = m->c;

	for (size_t i = 0; i < c->nr_fds; i++) {
		const UnixSkEntry *s = c->fds[i]->usk;
		int l, p, fl, a;
		struct sockaddr_un sa;
		socklen_t sl;

		if (c->fds[i]->type != FD_UNIX || (c->fds[i]->has_peer_fd || c->fds[i]->has_from_pid) || !s->has_listener_ino)
			continue;
		l = idx_of(c, s->listener_ino);
		p = s->has_peer_ino ? idx_of(c, s->peer_ino) : -1;
		if (l < 0 || p < 0 || m->fd[l] < 0 || m->fd[p] < 0)
			return fail(m, i, "its listener or its peer is missing from files.img");
		if (sun_of(m, l, &sa, &sl))
			return -1;
		fl = fcntl(m->fd[p], F_GETFL);
		fcntl(m->fd[p], F_SETFL, fl | O_NONBLOCK);
		if (connect(m->fd[p], (struct sockaddr *)&sa, sl))
			return fail(m, i, "cannot connect fd %u to its listener fd %u: %m", c->fds[p]->fd,
				    c->fds[l]->fd);
		fcntl(m->fd[p], F_SETFL, fl);
		a = accept4(m->fd[l], NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		m->fd[i] = keep(m, a);
		if (m->fd[i] < 0)
			return fail(m, i, "cannot accept from listener fd %u: %m", c->fds[l]->fd);
		fcntl(m->fd[i], F_SETFL, 0);
		{
			char e[200];

			if (sk_opts_apply(m->fd[i], s->opts, e, sizeof(e)))
				return fail(m, i, "%s", e);
		}
	}
	return 0;
}

/* Let from send bytes more without blocking (put back by opts() at the end). */
static void room(int from, size_t bytes)
{
	int v = bytes + (1 << 20);

	setsockopt(from, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v));
}

static int refill_dgram(struct mk *m, size_t i)
{
	struct rst_ctx *c = m->c;
	const UnixSkEntry *s = c->fds[i]->usk;
	int p = s->has_peer_ino ? idx_of(c, s->peer_ino) : -1, tmp = -1, ret = -1;
	struct sockaddr_un a;
	socklen_t al = 0;

	for (size_t q = 0; q < s->n_queue; q++) {
		const SkQueueMsg *msg = s->queue[q];
		int from = -1;
		ssize_t r;

		if (msg->has_src) {
			for (size_t j = 0; j < c->nr_fds && from < 0; j++)
				if (m->fd[j] >= 0 && c->fds[j]->usk->type == SOCK_DGRAM && c->fds[j]->usk->has_name &&
				    c->fds[j]->usk->name.len == msg->src.len &&
				    !memcmp(c->fds[j]->usk->name.data, msg->src.data, msg->src.len))
					from = m->fd[j];
		} else if (!s->has_name && p >= 0) {
			from = m->fd[p];
		} else {
			if (tmp < 0)
				tmp = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
			from = tmp;
		}
		if (from < 0) {
			fail(m, i, "no sender for queued datagram %zu", q);
			goto out;
		}
		room(from, msg->data.len);
		if (s->has_name) {
			if (sun_of(m, i, &a, &al))
				goto out;
			r = sendto(from, msg->data.data, msg->data.len, MSG_DONTWAIT | MSG_NOSIGNAL,
				   (struct sockaddr *)&a, al);
		} else {
			r = send(from, msg->data.data, msg->data.len, MSG_DONTWAIT | MSG_NOSIGNAL);
		}
		if (r != (ssize_t)msg->data.len) {
			fail(m, i, "cannot queue datagram %zu of %zu bytes again: %m", q, msg->data.len);
			goto out;
		}
	}
	ret = 0;
out:
	if (tmp >= 0)
		close(tmp);
	return ret;
}

static int refill_stream(struct mk *m, size_t i)
{
	struct rst_ctx *c = m->c;
	const UnixSkEntry *s = c->fds[i]->usk;
	int p = s->has_peer_ino ? idx_of(c, s->peer_ino) : -1;
	int from = s->peer_closed ? m->closer[i] : p >= 0 ? m->fd[p] : -1;

	if (!s->n_queue)
		return 0;
	if (from < 0)
		return fail(m, i, "data is queued but it has no peer to send it again");
	for (size_t q = 0; q < s->n_queue; q++) {
		const SkQueueMsg *msg = s->queue[q];

		room(from, msg->data.len * 2);
		if (s->type == SOCK_STREAM) {
			for (size_t done = 0; done < msg->data.len;) {
				ssize_t r = send(from, msg->data.data + done, msg->data.len - done,
						 MSG_DONTWAIT | MSG_NOSIGNAL);

				if (r <= 0)
					return fail(m, i, "cannot queue %zu bytes again: %m", msg->data.len);
				done += r;
			}
		} else if (send(from, msg->data.data, msg->data.len, MSG_DONTWAIT | MSG_NOSIGNAL) !=
			   (ssize_t)msg->data.len) {
			return fail(m, i, "cannot queue message %zu of %zu bytes again: %m", q, msg->data.len);
		}
	}
	return 0;
}

static int connect_dgram(struct mk *m)
{
	struct rst_ctx *c = m->c;

	for (size_t i = 0; i < c->nr_fds; i++) {
		const UnixSkEntry *s = c->fds[i]->usk;
		struct sockaddr_un a;
		socklen_t al;
		int p;

		if (m->fd[i] >= 0 && s->has_ext_peer) {
			char nb[128];

			if (unix_ext_connect(m->fd[i], s))
				return fail(m, i, "cannot connect to %s (outside the dump): %m",
					    unix_ext_name(s, nb, sizeof(nb)));
			continue;
		}
		if (m->fd[i] < 0 || s->type != SOCK_DGRAM || !s->has_peer_ino)
			continue;
		p = idx_of(c, s->peer_ino);
		if (p < 0)
			return fail(m, i, "its peer is missing from files.img");
		if (is_socketpair(c, i, p))
			continue;
		if (sun_of(m, p, &a, &al))
			return -1;
		if (connect(m->fd[i], (struct sockaddr *)&a, al))
			return fail(m, i, "cannot connect to fd %u: %m", c->fds[p]->fd);
	}
	return 0;
}

static int finish(struct mk *m)
{
	struct rst_ctx *c = m->c;

	for (size_t i = 0; i < c->nr_fds; i++) {
		const UnixSkEntry *s = c->fds[i]->usk;
		char path[128];

		if (m->fd[i] < 0)
			continue;
		if (m->closer[i] >= 0) {
			close(m->closer[i]);
			m->closer[i] = -1;
		}
		/* a client in flight is connected later, then shut down (sk-unix-icons.c) */
		if (s->has_shutdown && (s->shutdown & 3) && !s->has_icon_listener &&
		    shutdown(m->fd[i], (s->shutdown & 3) - 1) && errno != ENOTCONN)
			return fail(m, i, "cannot shut it down (%u): %m", s->shutdown);
		/* a listener with connections in flight keeps its name until they are made */
		if (s->name_owned && s->name_unlinked && !s->n_icons && path_of(s, path, sizeof(path)) == 0) {
			if (s->name_dir && chdir(s->name_dir))
				return fail(m, i, "cannot change to %s: %m", s->name_dir);
			if (unlink(path))
				return fail(m, i, "cannot unlink %s, which was gone at dump time: %m", path);
		}
	}
	return 0;
}

int unix_make_all(struct rst_ctx *c, int *tmp, int tmp_min, char *err, size_t len)
{
	struct mk m = { c, calloc(c->nr_fds + 1, sizeof(int)), calloc(c->nr_fds + 1, sizeof(int)), tmp_min, err, len };
	int ret = -1;

	if (!m.fd || !m.closer) {
		snprintf(err, len, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < c->nr_fds; i++)
		m.fd[i] = m.closer[i] = -1;
	if (create(&m) || opts(&m, 0) || bind_names(&m) || accept_all(&m))
		goto out;
	for (size_t i = 0; i < c->nr_fds; i++)
		if (m.fd[i] >= 0 && c->fds[i]->usk->type == SOCK_DGRAM && refill_dgram(&m, i))
			goto out;
	if (connect_dgram(&m))
		goto out;
	for (size_t i = 0; i < c->nr_fds; i++)
		if (m.fd[i] >= 0 && c->fds[i]->usk->type != SOCK_DGRAM && refill_stream(&m, i))
			goto out;
	if (finish(&m) || opts(&m, 1))
		goto out;
	for (size_t i = 0; i < c->nr_fds; i++)
		if (m.fd[i] >= 0) {
			tmp[i] = m.fd[i];
			m.fd[i] = -1;
		}
	ret = 0;
out:
	for (size_t i = 0; m.fd && m.closer && i < c->nr_fds; i++) {
		if (m.fd[i] >= 0)
			close(m.fd[i]);
		if (m.closer[i] >= 0)
			close(m.closer[i]);
	}
	free(m.fd);
	free(m.closer);
	return ret;
}

void unix_undo(struct rst_ctx *c)
{
	struct stat st;

	for (size_t i = 0; i < c->nr_unix_made; i++)
		if (!lstat(c->unix_made[i], &st) && S_ISSOCK(st.st_mode) && unlink(c->unix_made[i]))
			pr_warn("cannot remove the socket file %s made by the failed restore: %m", c->unix_made[i]);
}
