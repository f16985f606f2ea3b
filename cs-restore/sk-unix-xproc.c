/*
 * Accepted unix stream and seqpacket connections whose two ends are in
 * different processes of the tree (a worker connected to its master's
 * control socket). Each end's SO_PEERCRED names the other's process: the
 * accepted end's is the task that called connect(2), the client's the
 * one that called listen(2) (net/unix/af_unix.c unix_stream_connect). So
 * the client connects from its own stub, which exists only once every
 * stub does; the accepted end is made then, in its own stub, and put over
 * the placeholder socket that the stub left at its number (later stubs
 * copied that placeholder for their shared fds: they get the real one
 * too, and epoll sets that watched it watch the real one).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <limits.h>

#define LOG_PREFIX "sockets: "
#include "log.h"
#include "util.h"
#include "sockdiag.h"
#include "sk-opts.h"
#include "sockets.h"

#define STATUS_FLAGS (O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME)
#define ADDR_OFF 0		/* in the scratch page: the listener's address */
#define EV_OFF 256		/* ... an epoll_event */

static const char *tname(unsigned type)
{
	return type == SOCK_STREAM ? "stream" : "seqpacket";
}

/* Was s accepted (from a listener of the tree, or from one that is closed)? */
static int accepted(const UnixSkEntry *s)
{
	return s->has_listener_ino || s->listener_gone;
}

/* The name of a closed listener: free to listen on for a moment (nothing
 * there, or a socket file no live socket is bound to). 0 or -1 (logged). */
static int check_gone_name(struct rst_ctx *c, const FdEntry *e)
{
	const UnixSkEntry *s = e->usk;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char path[PATH_MAX];
	struct stat st;
	int64_t owner;

	if (!s->has_name || !s->name.len || s->name.len > sizeof(a.sun_path) || s->name_owned)
		return pr_err("fd %u (unix socket): accepted from a closed listener, without its name in files.img",
			      e->fd);
	if (!s->name.data[0]) {
		int sk = socket(AF_UNIX, s->type | SOCK_CLOEXEC, 0), r;

		if (sk < 0)
			return pr_perror("fd %u: cannot create a unix socket", e->fd);
		memcpy(a.sun_path, s->name.data, s->name.len);
		r = bind(sk, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + s->name.len);
		close(sk);
		if (r)
			return pr_perror("fd %u: cannot listen on the abstract name of its closed listener again", e->fd);
		return 0;
	}
	snprintf(path, sizeof(path), "%s%s%.*s", s->name_dir ? s->name_dir : "", s->name_dir ? "/" : "",
		 (int)strnlen((const char *)s->name.data, s->name.len), (const char *)s->name.data);
	if (lstat(path, &st)) {
		/* bound, then removed again; by unix_undo if the restore fails in between */
		char **n;

		if (path[0] != '/')
			return 0;
		n = realloc(c->unix_made, (c->nr_unix_made + 1) * sizeof(*n));
		if (!n)
			return pr_err("out of memory");
		c->unix_made = n;
		if (!(n[c->nr_unix_made] = xstrdup(path)))
			return -1;
		c->nr_unix_made++;
		return 0;
	}
	if (!S_ISSOCK(st.st_mode))
		return pr_err("fd %u: cannot listen on %s, the name of its closed listener, again: a file that is "
			      "not a socket is there", e->fd, path);
	owner = sockdiag_unix_bound_at((uint64_t)major(st.st_dev) << 20 | minor(st.st_dev), st.st_ino);
	if (owner < 0)
		return -1;
	if (owner)
		return pr_err("fd %u: cannot listen on %s, the name of its closed listener, again: a live socket "
			      "(inode %lld) is bound there", e->fd, path, (long long)owner);
	return 0;
}

int check_unix_xproc(struct rst_ctx *c, const FdEntry *e)
{
	const UnixSkEntry *s = e->usk;
	struct rst_ctx *pc, *lc;
	FdEntry *p, *l;

	if (!s->xproc)
		return 0;
	p = s->has_peer_ino ? unix_tree_sk(c->tree, s->peer_ino, &pc) : NULL;
	if (s->type == SOCK_DGRAM || !p || (pc == c && !s->listener_gone && !p->usk->listener_gone) ||
	    p->usk->type != s->type || !p->usk->xproc || !p->usk->has_peer_ino || p->usk->peer_ino != e->ino ||
	    accepted(s) == accepted(p->usk))
		return pr_err("fd %u (unix socket): its connection to another process is not an accepted %s "
			      "connection with both ends in the images", e->fd, tname(s->type));
	if (s->listener_gone)
		return check_gone_name(c, e);
	if (!s->has_listener_ino)
		return 0;
	l = unix_tree_sk(c->tree, s->listener_ino, &lc);
	if (!l || l->usk->state != TCP_LISTEN || l->usk->type != s->type || !l->usk->has_name ||
	    !l->usk->name.len || l->usk->name.len > sizeof(((struct sockaddr_un *)0)->sun_path) ||
	    !l->usk->name_owned)
		return pr_err("fd %u (unix %s socket): its listening socket inode %llu is not a named listening "
			      "socket of the tree in the images", e->fd, tname(s->type),
			      (unsigned long long)s->listener_ino);
	return 0;
}

int unix_xproc_listener(struct rst_tree *t, uint64_t ino)
{
	for (size_t i = 0; t && i < t->nr; i++)
		for (size_t k = 0; !t->p[i]->proc->zombie && k < t->p[i]->nr_fds; k++) {
			const FdEntry *e = t->p[i]->fds[k];

			if (e->type == FD_UNIX && e->usk && !e->has_peer_fd && !e->has_from_pid && e->usk->xproc &&
			    !e->usk->listener_gone && e->usk->has_listener_ino && e->usk->listener_ino == ino)
				return 1;
		}
	return 0;
}

/* Our copy of fd of c's stub (pidfd_getfd), or -1 (logged). */
static int copy_of(struct rst_ctx *c, uint32_t fd)
{
	int pidfd = syscall(SYS_pidfd_open, c->pid, 0), r;

	if (pidfd < 0)
		return pr_perror("cannot open a pidfd for process %d", c->pid);
	r = syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	close(pidfd);
	if (r < 0)
		return pr_perror("process %d: cannot take a copy of fd %u (pidfd_getfd)", c->pid, fd);
	return r;
}

/* In c's stub: fd `from` of process `pid` (as the stub sees it) as a new fd; the number or -errno. */
static long rgetfd(struct rst_ctx *c, uint32_t pid, uint32_t from)
{
	long p = rsys(c, 0, SYS_pidfd_open, pid, 0, 0, 0, 0, 0), r;

	if (p < 0)
		return p;
	r = rsys(c, 0, SYS_pidfd_getfd, p, from, 0, 0, 0, 0);
	rsys(c, 0, SYS_close, p, 0, 0, 0, 0, 0);
	return r;
}

/* In c's stub: fd r (a temporary, closed) to number fd with cloexec. 0 or -errno. */
static long rplace(struct rst_ctx *c, long r, uint32_t fd, int cloexec)
{
	long d = rsys(c, 0, SYS_dup3, r, fd, cloexec ? O_CLOEXEC : 0, 0, 0, 0);

	rsys(c, 0, SYS_close, r, 0, 0, 0, 0, 0);
	return d < 0 ? d : 0;
}

/* Is fd number fd of process c one where the accepted end se of sc goes? */
static int shares(struct rst_ctx *c, uint32_t fd, struct rst_ctx *sc, const FdEntry *se, int depth)
{
	int i;

	if (c == sc && fd == se->fd)
		return 1;
	for (i = 0; i < (int)c->nr_fds && c->fds[i]->fd != fd; i++)
		;
	if (i == (int)c->nr_fds || depth > 2)
		return 0;
	if (c->fds[i]->has_from_pid)
		return c->fds[i]->from_pid == sc->proc->pid && c->fds[i]->from_fd == se->fd;
	if (c->fds[i]->has_peer_fd)
		return shares(c, c->fds[i]->peer_fd, sc, se, depth + 1);
	return 0;
}

/* Every fd of the tree sharing the accepted end se of sc gets it; epoll sets watch it again. */
static int spread(struct rst_tree *t, struct rst_ctx *sc, const FdEntry *se, const char *what)
{
	for (size_t i = 0; i < t->nr; i++) {
		struct rst_ctx *c = t->p[i];

		for (size_t k = 0; !c->proc->zombie && k < c->nr_fds; k++) {
			const FdEntry *e = c->fds[k];
			long r;

			if (e->parked || (c == sc && e == se) || !shares(c, e->fd, sc, se, 0))
				continue;
			r = c == sc ? rsys(c, 0, SYS_dup, se->fd, 0, 0, 0, 0, 0) : rgetfd(c, sc->proc->pid, se->fd);
			if (r >= 0)
				r = rplace(c, r, e->fd, !!(e->flags & O_CLOEXEC));
			if (r < 0)
				return pr_err("%s: cannot put it at fd %u of process %d too: %s", what, e->fd, c->pid,
					      strerror(-r));
			pr_info("%s: also at fd %u of process %d", what, e->fd, c->pid);
		}
		/* the placeholder's registrations went with it (its last close) */
		for (size_t k = 0; !c->proc->zombie && k < c->nr_fds; k++) {
			const FdEntry *e = c->fds[k];

			/* a set that also watches a fired one-shot pidfd is filled
			 * whole later, with this socket in place (pidfd.c) */
			if (e->type != FD_EPOLL || e->has_peer_fd || e->has_from_pid || pidfd_epoll_late(c, e))
				continue;
			for (size_t n = 0; n < e->n_tfds; n++) {
				struct epoll_event ev = { .events = e->tfds[n]->events, .data.u64 = e->tfds[n]->data };
				long r;

				if (!shares(c, e->tfds[n]->tfd, sc, se, 0))
					continue;
				if (scratch_write(c, EV_OFF, &ev, sizeof(ev)))
					return -1;
				r = rsys(c, 0, SYS_epoll_ctl, e->fd, EPOLL_CTL_ADD, e->tfds[n]->tfd, SCRATCH(c) + EV_OFF,
					 0, 0);
				if (r < 0)
					return pr_err("%s: process %d cannot register fd %u in epoll set fd %u again: %s",
						      what, c->pid, e->tfds[n]->tfd, e->fd, strerror(-r));
				pr_info("%s: in epoll set fd %u of process %d again", what, e->fd, c->pid);
			}
		}
	}
	return 0;
}

/* Room in sk's send buffer for bytes more at once (the saved size comes back with the options). */
static void room(int sk, const UnixSkEntry *to)
{
	size_t bytes = 0;
	int v;

	for (size_t q = 0; q < to->n_queue; q++)
		bytes += to->queue[q]->data.len;
	v = bytes * 2 + (1 << 20);
	if (bytes)
		setsockopt(sk, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v));
}

/* The queue of `to` sent again from fd of `fc` (the other end, in its own stub). */
static int refill(struct rst_ctx *fc, const FdEntry *from, const UnixSkEntry *to, const char *what)
{
	for (size_t q = 0; q < to->n_queue; q++)
		if (unix_rsend(fc, from->fd, to->type == SOCK_STREAM, to->queue[q]->data.data, to->queue[q]->data.len,
			       what))
			return -1;
	return 0;
}

/* In sc's stub: unlink the path name of ls (from its directory); a missing file is fine. 0 or -1. */
static int runlink(struct rst_ctx *sc, const UnixSkEntry *ls, const char *what)
{
	long r;

	if (unix_runlink(sc, ls, &r))
		return -1;
	if (r && r != -ENOENT)
		return pr_err("%s: cannot remove %.*s: %s", what, (int)ls->name.len, (const char *)ls->name.data,
			      strerror(-r));
	return 0;
}

/*
 * The closed listener of se, for the time of one accept, in sc's stub
 * (the client's SO_PEERCRED then names sc, the likeliest to have
 * listened): a stale socket file at its name goes first. Returns the
 * stub's fd, or -1 (logged).
 */
static long gone_listener(struct rst_ctx *sc, const FdEntry *se, const char *what)
{
	const UnixSkEntry *ss = se->usk;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	socklen_t al = offsetof(struct sockaddr_un, sun_path) + ss->name.len;
	long l, r;

	if (ss->name.data[0] && runlink(sc, ss, what))
		return -1;
	memcpy(a.sun_path, ss->name.data, ss->name.len);
	l = rsys(sc, 0, SYS_socket, AF_UNIX, ss->type | SOCK_CLOEXEC, 0, 0, 0, 0);
	if (l < 0)
		return pr_err("%s: cannot create a listener in process %d: %s", what, sc->pid, strerror(-l));
	if (scratch_write(sc, ADDR_OFF, &a, al) || (ss->name_dir && unix_rchdir(sc, ss->name_dir)))
		r = -EIO;
	else
		r = rsys(sc, 0, SYS_bind, l, SCRATCH(sc) + ADDR_OFF, al, 0, 0, 0);
	if (ss->name_dir && unix_rchdir(sc, sc->proc->cwd))
		r = r ? r : -EIO;
	if (!r)
		r = rsys(sc, 0, SYS_listen, l, 1, 0, 0, 0, 0);
	if (r) {
		rsys(sc, 0, SYS_close, l, 0, 0, 0, 0, 0);
		return pr_err("%s: cannot listen on the name of its closed listener again: %s", what, strerror(-r));
	}
	return l;
}

/* Accepted end se of sc, client ce of cc, listener le of lc (NULL: closed): the connection made again. */
static int reconnect(struct rst_tree *t, struct rst_ctx *sc, const FdEntry *se, struct rst_ctx *cc,
		     const FdEntry *ce, struct rst_ctx *lc, const FdEntry *le)
{
	const UnixSkEntry *ss = se->usk, *cs = ce->usk, *ls = le ? le->usk : se->usk;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	socklen_t al = offsetof(struct sockaddr_un, sun_path) + ls->name.len;
	char what[200], oe[200];
	int ssk = -1, csk = -1, ret = -1;
	long fl, r, lfd = -1;
	struct stat st;
	struct unix_diag d;

	snprintf(what, sizeof(what), "fd %u of process %d (accepted unix %s socket) and fd %u of process %d",
		 se->fd, sc->pid, tname(ss->type), ce->fd, cc->pid);
	if (!le) {
		lfd = gone_listener(sc, se, what);
		if (lfd < 0)
			return -1;
	}
	/* the client, from its own process: the accepted end's credentials */
	memcpy(a.sun_path, ls->name.data, ls->name.len);
	if (scratch_write(cc, ADDR_OFF, &a, al))
		return -1;
	if (ls->name_dir && unix_rchdir(cc, ls->name_dir))
		return -1;
	fl = rsys(cc, 0, SYS_fcntl, ce->fd, F_GETFL, 0, 0, 0, 0);
	if (fl >= 0)
		rsys(cc, 0, SYS_fcntl, ce->fd, F_SETFL, fl | O_NONBLOCK, 0, 0, 0);
	r = fl < 0 ? fl : rsys(cc, 0, SYS_connect, ce->fd, SCRATCH(cc) + ADDR_OFF, al, 0, 0, 0);
	if (fl >= 0)
		rsys(cc, 0, SYS_fcntl, ce->fd, F_SETFL, fl, 0, 0, 0);
	if (ls->name_dir && unix_rchdir(cc, cc->proc->cwd))
		return -1;
	if (r && !le) {
		rsys(sc, 0, SYS_close, lfd, 0, 0, 0, 0, 0);
		return pr_err("%s: the client cannot connect to the name of its closed listener again: %s", what,
			      strerror(-r));
	}
	if (r)
		return pr_err("%s: the client cannot connect to fd %u of process %d again: %s", what, le->fd, lc->pid,
			      strerror(-r));
	/* the accepted end, in its own process, from its listener */
	if (le)
		lfd = lc == sc ? (long)le->fd : rgetfd(sc, lc->proc->pid, le->fd);
	if (lfd < 0)
		return pr_err("%s: process %d cannot take the listener fd %u of process %d: %s", what, sc->pid, le->fd,
			      lc->pid, strerror(-lfd));
	r = rsys(sc, 0, SYS_accept4, lfd, 0, 0, SOCK_NONBLOCK, 0, 0);
	if (!le || lfd != (long)le->fd)
		rsys(sc, 0, SYS_close, lfd, 0, 0, 0, 0, 0);
	/* the closed listener's file: as at dump time, stale or gone */
	if (!le && ss->name.data[0] && ss->name_unlinked && runlink(sc, ss, what))
		r = r < 0 ? r : (rsys(sc, 0, SYS_close, r, 0, 0, 0, 0, 0), -EIO);
	if (r < 0)
		return pr_err("%s: cannot accept the connection again: %s", what, strerror(-r));
	r = rplace(sc, r, se->fd, !!(se->flags & O_CLOEXEC));
	if (r < 0)
		return pr_err("%s: cannot move it into place: %s", what, strerror(-r));
	ssk = copy_of(sc, se->fd);
	csk = copy_of(cc, ce->fd);
	if (ssk < 0 || csk < 0)
		goto out;
	/* the one accepted is this client's (another could have connected to the name) */
	memset(&d, 0, sizeof(d));
	r = fstat(ssk, &st) ? -1 : sockdiag_unix(st.st_ino, &d);
	free(d.icons);
	if (r || fstat(csk, &st) || d.peer != st.st_ino) {
		pr_err("%s: the connection accepted again is not the client's", what);
		goto out;
	}
	if (fcntl(ssk, F_SETFL, se->flags & STATUS_FLAGS) < 0) {
		pr_perror("%s: cannot set its flags", what);
		goto out;
	}
	if (spread(t, sc, se, what))
		goto out;
	/* options first: SO_PASSCRED decides whether what is sent carries credentials */
	if (sk_opts_apply(ssk, ss->opts, oe, sizeof(oe))) {
		pr_err("%s: %s", what, oe);
		goto out;
	}
	room(csk, ss);
	room(ssk, cs);
	if (refill(cc, ce, ss, what) || refill(sc, se, cs, what))
		goto out;
	if ((ss->has_shutdown && (ss->shutdown & 3) && shutdown(ssk, (ss->shutdown & 3) - 1)) ||
	    (cs->has_shutdown && (cs->shutdown & 3) && shutdown(csk, (cs->shutdown & 3) - 1))) {
		pr_perror("%s: cannot shut it down as saved (%u, %u)", what, ss->shutdown, cs->shutdown);
		goto out;
	}
	if (sk_opts_apply(ssk, ss->opts, oe, sizeof(oe)) || sk_opts_peek_off(ssk, ss->opts, oe, sizeof(oe)) ||
	    sk_opts_apply(csk, cs->opts, oe, sizeof(oe)) || sk_opts_peek_off(csk, cs->opts, oe, sizeof(oe))) {
		pr_err("%s: %s", what, oe);
		goto out;
	}
	pr_info("%s: connected again, %zu and %zu message(s) queued again", what, ss->n_queue, cs->n_queue);
	ret = 0;
out:
	if (ssk >= 0)
		close(ssk);
	if (csk >= 0)
		close(csk);
	return ret;
}

int restore_unix_xproc(struct rst_tree *t)
{
	for (size_t i = 0; i < t->nr; i++) {
		struct rst_ctx *sc = t->p[i];

		for (size_t k = 0; !sc->proc->zombie && k < sc->nr_fds; k++) {
			const FdEntry *se = sc->fds[k], *ce, *le;
			struct rst_ctx *cc, *lc;

			if (se->type != FD_UNIX || !se->usk || se->has_peer_fd || se->has_from_pid || se->parked ||
			    !se->usk->xproc || !accepted(se->usk))
				continue;
			ce = unix_tree_sk(t, se->usk->peer_ino, &cc);
			le = se->usk->listener_gone ? NULL : unix_tree_sk(t, se->usk->listener_ino, &lc);
			lc = le ? lc : NULL;
			if (!ce || (!le && !se->usk->listener_gone))	/* checked */
				return pr_err("fd %u of process %d: its client or listener is missing", se->fd, sc->pid);
			if (reconnect(t, sc, se, cc, ce, lc, le))
				return -1;
		}
	}
	/* a listener's name whose file was gone: kept for them (and for its icons, which unlink it) */
	for (size_t i = 0; i < t->nr; i++) {
		struct rst_ctx *lc = t->p[i];

		for (size_t k = 0; !lc->proc->zombie && k < lc->nr_fds; k++) {
			const FdEntry *le = lc->fds[k];
			const UnixSkEntry *ls = le->usk;

			if (le->type == FD_UNIX && ls && !le->has_peer_fd && !le->has_from_pid && ls->state == TCP_LISTEN &&
			    ls->name_owned && ls->name_unlinked && ls->has_name && ls->name.len && ls->name.data[0] &&
			    !ls->n_icons && unix_xproc_listener(t, le->ino) && unix_runlink_name(lc, le))
				return -1;
		}
	}
	return 0;
}
