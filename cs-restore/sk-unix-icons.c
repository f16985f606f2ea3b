/*
 * Connections not accepted yet (in flight) on listening unix sockets of the
 * tree, made again once every stub exists: a client may be in another
 * process than its listener, earlier or later in the tree, and the
 * listener's accept order mixes them. Each connect(2) runs in the client's
 * own stub (remote syscall), so that the connection's SO_PEERCRED names
 * the client's process as before; so does each send of what the client
 * had sent into it (SCM_CREDENTIALS, when the listener passes them).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>

#define LOG_PREFIX "sockets: "
#include "log.h"
#include "util.h"
#include "sk-opts.h"
#include "sockets.h"

#define ADDR_OFF 0		/* in the scratch page: the listener's address */
#define DATA_OFF 256		/* ... then data, up to the end of the page */
#define DATA_ROOM (4096 - DATA_OFF)

/* The entry describing unix socket ino in the tree, and its process. */
static FdEntry *find_sk(struct rst_tree *t, uint64_t ino, struct rst_ctx **pc)
{
	for (size_t i = 0; t && i < t->nr; i++) {
		struct rst_ctx *c = t->p[i];

		for (size_t k = 0; !c->proc->zombie && k < c->nr_fds; k++) {
			FdEntry *e = c->fds[k];

			if (e->type == FD_UNIX && e->usk && !e->has_peer_fd && !e->has_from_pid && e->ino == ino) {
				*pc = c;
				return e;
			}
		}
	}
	return NULL;
}

static const char *tname(unsigned type)
{
	return type == SOCK_STREAM ? "stream" : type == SOCK_SEQPACKET ? "seqpacket" : "dgram";
}

int check_unix_icons(struct rst_ctx *c, const FdEntry *e)
{
	const UnixSkEntry *s = e->usk;
	struct rst_ctx *oc;
	FdEntry *o;

	if (s->n_icons) {
		if (s->state != TCP_LISTEN || s->type == SOCK_DGRAM || !s->has_name || !s->name.len ||
		    s->name.len > sizeof(((struct sockaddr_un *)0)->sun_path) || !s->name_owned)
			return pr_err("fd %u: unix socket with connections not accepted yet is not a named listening "
				      "socket in files.img", e->fd);
		for (size_t k = 0; k < s->n_icons; k++) {
			o = find_sk(c->tree, s->icons[k]->client_ino, &oc);
			if (!o || o->usk->type != s->type || !o->usk->has_icon_listener ||
			    o->usk->icon_listener != e->ino)
				return pr_err("fd %u (unix %s listener): connection %zu not accepted yet is from socket "
					      "inode %llu (fd %u), which is not a client of it in the images", e->fd,
					      tname(s->type), k + 1, (unsigned long long)s->icons[k]->client_ino,
					      s->icons[k]->client_fd);
		}
	}
	if (s->has_icon_listener) {
		size_t k = 0;

		o = find_sk(c->tree, s->icon_listener, &oc);
		while (o && k < o->usk->n_icons && o->usk->icons[k]->client_ino != e->ino)
			k++;
		if (!o || k == o->usk->n_icons)
			return pr_err("fd %u (unix %s socket): its connection not accepted yet to listening socket "
				      "inode %llu is not listed by that listener in the images", e->fd, tname(s->type),
				      (unsigned long long)s->icon_listener);
	}
	return 0;
}

/* In process c, from the listener's directory when its name is relative: remote chdir. */
static int rchdir(struct rst_ctx *c, const char *dir)
{
	long r;

	if (scratch_write(c, DATA_OFF, dir, strlen(dir) + 1))
		return -1;
	r = rsys(c, 0, SYS_chdir, SCRATCH(c) + DATA_OFF, 0, 0, 0, 0, 0);
	if (r)
		return pr_err("process %d: cannot change to %s: %s", c->pid, dir, strerror(-r));
	return 0;
}

/* Write len bytes into the stub of c at addr. */
static int rwrite(struct rst_ctx *c, unsigned long addr, const void *buf, size_t len)
{
	struct iovec l = { (void *)buf, len }, r = { (void *)addr, len };

	if (process_vm_writev(c->pid, &l, 1, &r, 1, 0) != (ssize_t)len)
		return pr_perror("cannot write %zu bytes into process %d", len, c->pid);
	return 0;
}

/* Send one message (or stream bytes) of len bytes from fd of c; what names it. */
static int rsend(struct rst_ctx *c, int fd, int stream, const uint8_t *data, size_t len, const char *what)
{
	unsigned long buf = SCRATCH(c) + DATA_OFF, mapped = 0;
	size_t step = stream ? DATA_ROOM : len, done = 0;
	long r;

	if (!stream && len > DATA_ROOM) {
		/* a message is sent whole: a buffer of its size, for the call */
		mapped = (len + 4095) & ~4095UL;
		r = rsys(c, 0, SYS_mmap, 0, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (r < 0 && r > -4096)
			return pr_err("%s: cannot map a buffer of %zu bytes in process %d: %s", what, len, c->pid,
				      strerror(-r));
		buf = r;
	}
	do {
		size_t n = len - done < step ? len - done : step;

		if (n && rwrite(c, buf, data + done, n)) {
			r = -EIO;
			break;
		}
		r = rsys(c, 0, SYS_sendto, fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL, 0, 0);
		if (r < 0 || (!stream && (size_t)r != n)) {
			pr_err("%s: cannot send %zu bytes again: %s", what, len, r < 0 ? strerror(-r) : "short send");
			r = -EIO;
			break;
		}
		done += r;
	} while (done < len);
	if (mapped)
		rsys(c, 0, SYS_munmap, buf, mapped, 0, 0, 0, 0);
	return r < 0 ? -1 : 0;
}

/* The client's shutdown bits that its connection's other end has (mirrored). */
static uint32_t mirror(uint32_t sd)
{
	return ((sd & 1) << 1) | ((sd & 2) >> 1);
}

/* shutdown(2) of fd in c with the bits sd (1 RCV, 2 SEND); 0 or -errno. */
static long rshutdown(struct rst_ctx *c, uint32_t fd, uint32_t sd)
{
	return sd & 3 ? rsys(c, 0, SYS_shutdown, fd, (sd & 3) - 1, 0, 0, 0, 0) : 0;
}

/*
 * Client ce of process cc connects to listener le again, sends its data,
 * shuts down. The client's shutdown bits that the other end lacks were set
 * before it connected (unix_shutdown gives a peer its mirror only when
 * there is one): those first, the others once its data is sent.
 */
static int reconnect(struct rst_ctx *lc, const FdEntry *le, const UnixIconEntry *ic, struct rst_ctx *cc,
		     const FdEntry *ce, size_t k)
{
	const UnixSkEntry *ls = le->usk, *cs = ce->usk;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	socklen_t al = offsetof(struct sockaddr_un, sun_path) + ls->name.len;
	char what[200], oe[200];
	size_t bytes = 0;
	long fl, r;
	int pidfd, sk = -1, ret = -1;

	snprintf(what, sizeof(what), "fd %u of process %d (unix %s socket), connection %zu not accepted yet on fd %u "
		 "of process %d", ce->fd, cc->pid, tname(cs->type), k + 1, le->fd, lc->pid);
	memcpy(a.sun_path, ls->name.data, ls->name.len);
	if (scratch_write(cc, ADDR_OFF, &a, al))
		return -1;
	if (ls->name_dir && rchdir(cc, ls->name_dir))
		return -1;
	if (cs->has_shutdown && (r = rshutdown(cc, ce->fd, cs->shutdown & ~mirror(ic->shutdown))))
		return pr_err("%s: cannot shut it down before it connects (%u): %s", what, cs->shutdown, strerror(-r));
	fl = rsys(cc, 0, SYS_fcntl, ce->fd, F_GETFL, 0, 0, 0, 0);
	if (fl >= 0)
		rsys(cc, 0, SYS_fcntl, ce->fd, F_SETFL, fl | O_NONBLOCK, 0, 0, 0);
	r = fl < 0 ? fl : rsys(cc, 0, SYS_connect, ce->fd, SCRATCH(cc) + ADDR_OFF, al, 0, 0, 0);
	if (fl >= 0)
		rsys(cc, 0, SYS_fcntl, ce->fd, F_SETFL, fl, 0, 0, 0);
	if (ls->name_dir && rchdir(cc, cc->proc->cwd))
		return -1;
	if (r)
		return pr_err("%s: cannot connect again: %s", what, strerror(-r));
	for (size_t q = 0; q < ic->n_queue; q++)
		bytes += ic->queue[q]->data.len;
	if (bytes) {
		int v = bytes * 2 + (1 << 20);

		pidfd = syscall(SYS_pidfd_open, cc->pid, 0);
		if (pidfd < 0)
			return pr_perror("cannot open a pidfd for process %d", cc->pid);
		sk = syscall(SYS_pidfd_getfd, pidfd, ce->fd, 0);
		close(pidfd);
		if (sk < 0)
			return pr_perror("%s: cannot take a copy of it (pidfd_getfd)", what);
		/* room for all of it at once (sk_opts_apply puts the size back) */
		if (setsockopt(sk, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)))
			pr_debug("%s: SO_SNDBUFFORCE %d: %m", what, v);
	}
	for (size_t q = 0; q < ic->n_queue; q++)
		if (rsend(cc, ce->fd, cs->type == SOCK_STREAM, ic->queue[q]->data.data, ic->queue[q]->data.len, what))
			goto out;
	if (sk >= 0 && sk_opts_apply(sk, cs->opts, oe, sizeof(oe))) {
		pr_err("%s: %s", what, oe);
		goto out;
	}
	if (cs->has_shutdown && (cs->shutdown & mirror(ic->shutdown))) {
		r = rshutdown(cc, ce->fd, cs->shutdown & mirror(ic->shutdown));
		if (r) {
			pr_err("%s: cannot shut it down (%u): %s", what, cs->shutdown, strerror(-r));
			goto out;
		}
	}
	pr_info("%s: connected again, %zu bytes sent again", what, bytes);
	ret = 0;
out:
	if (sk >= 0)
		close(sk);
	return ret;
}

int unix_runlink(struct rst_ctx *c, const UnixSkEntry *ls, long *ret)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];

	memcpy(path, ls->name.data, ls->name.len);
	path[ls->name.len] = 0;
	if ((ls->name_dir && rchdir(c, ls->name_dir)) || scratch_write(c, ADDR_OFF, path, strlen(path) + 1))
		return -1;
	*ret = rsys(c, 0, SYS_unlink, SCRATCH(c) + ADDR_OFF, 0, 0, 0, 0, 0);
	if (ls->name_dir && rchdir(c, c->proc->cwd))
		return -1;
	return 0;
}

/* The file of listener le's name was gone at dump time: unlink it in its process. */
static int unlink_name(struct rst_ctx *lc, const FdEntry *le)
{
	const UnixSkEntry *ls = le->usk;
	char full[PATH_MAX + sizeof(((struct sockaddr_un *)0)->sun_path) + 2];
	int pidfd, sk, own;
	long r;

	/* still its own file: another socket of the tree may have taken the name since */
	snprintf(full, sizeof(full), "%s%s%.*s", ls->name.data[0] != '/' && ls->name_dir ? ls->name_dir : "",
		 ls->name.data[0] != '/' && ls->name_dir ? "/" : "",
		 (int)strnlen((const char *)ls->name.data, ls->name.len), (const char *)ls->name.data);
	pidfd = syscall(SYS_pidfd_open, lc->pid, 0);
	if (pidfd < 0)
		return pr_perror("cannot open a pidfd for process %d", lc->pid);
	sk = syscall(SYS_pidfd_getfd, pidfd, le->fd, 0);
	close(pidfd);
	if (sk < 0)
		return pr_perror("fd %u of process %d: cannot take a copy of it (pidfd_getfd)", le->fd, lc->pid);
	own = unix_file_is_own(sk, full);
	close(sk);
	if (own < 0)
		return pr_perror("fd %u of process %d: cannot tell whose socket file %s is", le->fd, lc->pid, full);
	if (!own) {
		pr_info("fd %u of process %d: %s, gone at dump time, is not its file now: left alone", le->fd,
			lc->pid, full);
		return 0;
	}
	if (unix_runlink(lc, le->usk, &r))
		return -1;
	if (r)
		return pr_err("fd %u of process %d: cannot unlink %.*s, which was gone at dump time: %s", le->fd,
			      lc->pid, (int)le->usk->name.len, (const char *)le->usk->name.data, strerror(-r));
	return 0;
}

int restore_unix_icons(struct rst_tree *t)
{
	for (size_t i = 0; i < t->nr; i++) {
		struct rst_ctx *lc = t->p[i];

		for (size_t k = 0; !lc->proc->zombie && k < lc->nr_fds; k++) {
			const FdEntry *le = lc->fds[k];
			const UnixSkEntry *ls = le->usk;

			if (le->type != FD_UNIX || !ls || le->has_peer_fd || le->has_from_pid || !ls->n_icons)
				continue;
			for (size_t j = 0; j < ls->n_icons; j++) {
				struct rst_ctx *cc;
				const FdEntry *ce = find_sk(t, ls->icons[j]->client_ino, &cc);

				if (!ce)	/* checked */
					return pr_err("fd %u: a client of its connections not accepted yet is missing",
						      le->fd);
				if (reconnect(lc, le, ls->icons[j], cc, ce, j))
					return -1;
			}
			if (ls->name_owned && ls->name_unlinked && ls->name.data[0] && unlink_name(lc, le))
				return -1;
		}
	}
	return 0;
}

/* For sk-unix-xproc.c, which connects accepted connections across processes the same way. */
FdEntry *unix_tree_sk(struct rst_tree *t, uint64_t ino, struct rst_ctx **pc)
{
	return find_sk(t, ino, pc);
}

int unix_rchdir(struct rst_ctx *c, const char *dir)
{
	return rchdir(c, dir);
}

int unix_rsend(struct rst_ctx *c, int fd, int stream, const uint8_t *data, size_t len, const char *what)
{
	return rsend(c, fd, stream, data, len, what);
}

int unix_runlink_name(struct rst_ctx *lc, const FdEntry *le)
{
	return unlink_name(lc, le);
}
