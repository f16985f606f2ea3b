/*
 * Unix sockets (unix(7)): what sock_diag's UNIX_DIAG reports (type, state,
 * name, peer, backlog, shutdown), the simple options, and the receive queue
 * copied with MSG_PEEK. Every peer must be in the process: check_unix_peers
 * decides how cs-restore reconnects each pair, or refuses. Connections not
 * accepted yet, whose client has no peer inode: sk-unix-icons.c.
 */
#include <errno.h>
#include <limits.h>
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

/* What the checks need beyond the image: one slot per unix fd of the target. */
struct usk {
	FdEntry *e;
	struct unix_diag d;
	int name_lost;		/* a relative path name whose directory is unknown */
	int no_peer;		/* connected, no peer inode: in flight (sk-unix-icons.c) or refused */
	int checked;		/* describes its socket (check_unix_peers looked at it) */
	pid_t pid;		/* the process it was collected in */
};
static struct usk *usks;
static size_t nr_usks;

static const char *type_name(unsigned type)
{
	switch (type) {
	case SOCK_STREAM:
		return "stream";
	case SOCK_DGRAM:
		return "dgram";
	case SOCK_SEQPACKET:
		return "seqpacket";
	}
	return "unknown";
}

/* "@name" for an abstract name, the path otherwise; in buf. */
static const char *name_str(const char *name, int len, char *buf, size_t size)
{
	int n = len < (int)size - 2 ? len : (int)size - 2;

	if (len && name[0] == 0) {
		buf[0] = '@';
		memcpy(buf + 1, name + 1, n - 1);
		buf[n] = 0;
	} else {
		memcpy(buf, name, n);
		buf[n] = 0;
	}
	for (int i = 0; i < n; i++)
		if (buf[i] && (buf[i] < 32 || buf[i] == 127))
			buf[i] = '?';
	return buf;
}

/* A path name: where its file is, and whether it is still this socket's. */
static int path_name(struct dump_ctx *c, int fd, struct usk *u, UnixSkEntry *s)
{
	char path[PATH_MAX + 128], dir[PATH_MAX], name[sizeof(u->d.name) + 1];
	struct stat st;

	memcpy(name, u->d.name, u->d.name_len);
	name[u->d.name_len] = 0;
	name[strnlen(name, u->d.name_len)] = 0;
	if (name[0] == '/') {
		snprintf(path, sizeof(path), "%s", name);
	} else {
		/* bound relative to the working directory of the moment: we can
		 * only hope it is still the current one, and check the inode */
		char link[64];
		ssize_t l;

		snprintf(link, sizeof(link), "/proc/%d/cwd", c->pid);
		l = readlink(link, dir, sizeof(dir) - 1);
		if (l < 0)
			return pr_perror("fd %d: cannot read the working directory of %d", fd, c->pid);
		dir[l] = 0;
		snprintf(path, sizeof(path), "%s/%s", dir, name);
	}
	if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && u->d.has_vfs && st.st_ino == u->d.vfs_ino &&
	    ((uint64_t)major(st.st_dev) << 20 | minor(st.st_dev)) == u->d.vfs_dev) {
		s->has_name_mode = s->has_name_uid = s->has_name_gid = 1;
		s->name_mode = st.st_mode & 07777;
		s->name_uid = st.st_uid;
		s->name_gid = st.st_gid;
		if (name[0] != '/' && !(s->name_dir = xstrdup(dir)))
			return -1;
		return 0;
	}
	if (name[0] != '/')
		u->name_lost = 1;	/* refused in check_unix_peers if the name is its own */
	s->has_name_unlinked = 1;
	s->name_unlinked = 1;
	return 0;
}

int dump_unix(struct dump_ctx *c, int fd, FdEntry *e, int sk)
{
	UnixSkEntry *s = xzalloc(sizeof(*s));
	struct usk *u, *nu = xrealloc(usks, (nr_usks + 1) * sizeof(*usks));
	char what[128];
	int r;

	if (!s || !nu) {
		free(s);
		if (nu)
			usks = nu;
		return -1;
	}
	usks = nu;
	unix_sk_entry__init(s);
	e->usk = s;
	u = &usks[nr_usks];
	memset(u, 0, sizeof(*u));
	u->e = e;
	u->pid = c->pid;
	r = sockdiag_unix(e->ino, &u->d);
	if (r == 1)
		return pr_err("fd %d (unix socket, inode %llu) is not found by sock_diag", fd,
			      (unsigned long long)e->ino);
	if (r)
		return -1;
	nr_usks++;
	s->type = u->d.type;
	s->state = u->d.state;
	snprintf(what, sizeof(what), "fd %d (unix %s socket, inode %llu)", fd, type_name(s->type),
		 (unsigned long long)e->ino);
	if (s->type != SOCK_STREAM && s->type != SOCK_DGRAM && s->type != SOCK_SEQPACKET)
		return pr_err("%s: socket type %u is not supported", what, s->type);
	if (sk_opts_filter_refuse(sk, what))
		return -1;
	s->opts = sk_opts_save(sk, 0);
	if (!s->opts)
		return -1;
	if (u->d.name_len) {
		s->has_name = 1;
		s->name.len = u->d.name_len;
		s->name.data = xmalloc(u->d.name_len);
		if (!s->name.data)
			return -1;
		memcpy(s->name.data, u->d.name, u->d.name_len);
		if (u->d.name[0] && path_name(c, fd, u, s))
			return -1;
	}
	if (u->d.shutdown) {
		s->has_shutdown = 1;
		s->shutdown = u->d.shutdown;
	}
	if (s->state == TCP_LISTEN) {
		s->has_backlog = 1;
		s->backlog = u->d.wqueue;
		return unix_icons_listener(c, fd, e, &u->d, sk);	/* sk-unix-icons.c */
	}
	if (u->d.peer) {
		s->has_peer_ino = 1;
		s->peer_ino = u->d.peer;
	} else if (s->state == TCP_ESTABLISHED && s->type != SOCK_DGRAM) {
		/* no peer inode: the peer was closed (which shut this one down
		 * both ways), or it is a connection no listener accepted yet,
		 * which has no inode before accept(2): decided by
		 * check_unix_peers, once every listener of the tree is known */
		u->no_peer = 1;
		if (u->d.shutdown == 3) {
			s->has_peer_closed = 1;
			s->peer_closed = 1;
		}
	}
	/* a connection-oriented socket has a queue only once connected */
	if (s->type != SOCK_DGRAM && s->state != TCP_ESTABLISHED)
		return 0;
	return sk_peek_queue(sk, s->type != SOCK_STREAM, 0,
			     s->type == SOCK_SEQPACKET && (u->d.shutdown & 1 /* RCV_SHUTDOWN */), what,
			     &s->queue, &s->n_queue);
}

static struct usk *usk_by_ino(uint64_t ino)
{
	for (size_t i = 0; i < nr_usks; i++)
		if (usks[i].d.ino == ino && !usks[i].e->has_peer_fd)
			return &usks[i];
	return NULL;
}

FdEntry *unix_fd_by_ino(uint64_t ino, const struct unix_diag **d, pid_t *pid)
{
	struct usk *u = usk_by_ino(ino);

	if (!u || u->e->has_from_pid)
		return NULL;
	*d = &u->d;
	*pid = u->pid;
	return u->e;
}

FdEntry *unix_name_taken(const FdEntry *e, pid_t *pid)
{
	const UnixSkEntry *s = e->usk;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
	struct stat st;
	uint64_t dev;

	if (!s || !s->name_unlinked || !s->has_name || !s->name.len || !s->name.data[0] || s->name.len >= sizeof(path))
		return NULL;
	memcpy(path, s->name.data, s->name.len);
	path[s->name.len] = 0;
	if (path[0] != '/' || lstat(path, &st) || !S_ISSOCK(st.st_mode))
		return NULL;
	dev = (uint64_t)major(st.st_dev) << 20 | minor(st.st_dev);
	for (size_t i = 0; i < nr_usks; i++) {
		struct usk *u = &usks[i];

		if (u->e != e && !u->e->has_peer_fd && !u->e->has_from_pid && u->d.has_vfs &&
		    u->d.vfs_ino == st.st_ino && u->d.vfs_dev == dev) {
			*pid = u->pid;
			return u->e;
		}
	}
	return NULL;
}

/* The listener of the process whose name is name (len bytes) and type type. */
static struct usk *listener_named(const char *name, int len, int type)
{
	for (size_t i = 0; i < nr_usks; i++) {
		struct usk *l = &usks[i];

		if (!l->e->has_peer_fd && l->d.state == TCP_LISTEN && l->d.type == type && l->d.name_len == len &&
		    !memcmp(l->d.name, name, len))
			return l;
	}
	return NULL;
}

/*
 * The listener of the tree that u was accepted from, for a connected socket
 * whose peer is closed (nothing else tells): an accepted socket carries its
 * listener's name and, for a path, its socket file (UNIX_DIAG_VFS), which
 * no socket that bound a path of its own shares; an abstract name is
 * unique while the listener is bound to it.
 */
static struct usk *accepted_from(const struct usk *u)
{
	for (size_t i = 0; i < nr_usks; i++) {
		const struct usk *l = &usks[i];

		if (l == u || l->e->has_peer_fd || l->d.state != TCP_LISTEN || l->d.type != u->d.type ||
		    l->d.name_len != u->d.name_len || memcmp(l->d.name, u->d.name, u->d.name_len))
			continue;
		if (!u->d.name[0] || (u->d.has_vfs && l->d.has_vfs && u->d.vfs_ino == l->d.vfs_ino &&
				      u->d.vfs_dev == l->d.vfs_dev))
			return &usks[i];
	}
	return NULL;
}

static int same_name(const struct usk *a, const char *name, int len)
{
	return a->d.name_len == len && !memcmp(a->d.name, name, len);
}

/* Connection-oriented pair u - p: which one was accepted, from which listener. */
static int check_stream_pair(struct usk *u, struct usk *p)
{
	struct usk *lu = u->d.name_len ? listener_named(u->d.name, u->d.name_len, u->d.type) : NULL;
	struct usk *lp = p->d.name_len ? listener_named(p->d.name, p->d.name_len, p->d.type) : NULL;
	char nb[128];

	if (!u->d.name_len && !p->d.name_len)
		return 0;	/* a socketpair */
	/* an accepted socket carries its listener's name; the client's may be its own */
	if (lu && (!lp || !p->d.name_len)) {
		u->e->usk->has_listener_ino = 1;
		u->e->usk->listener_ino = lu->d.ino;
		return 0;
	}
	if (lp && !lu)
		return 0;	/* the other way round: decided for p */
	if (u->d.name_len && !p->d.name_len) {
		/* a listener always has a name, which its accepted sockets
		 * share: u was accepted, and its listener is closed. cs-restore
		 * listens on the name again for the time of the accept */
		if (u->name_lost)
			return pr_err("fd %u (unix %s socket, inode %llu) was accepted from a listening socket "
				      "bound to relative path %s, which no process has any more and whose "
				      "directory is unknown: not supported", u->e->fd, type_name(u->d.type),
				      (unsigned long long)u->d.ino,
				      name_str(u->d.name, u->d.name_len, nb, sizeof(nb)));
		u->e->usk->has_listener_gone = u->e->usk->listener_gone = 1;
		u->e->usk->has_xproc = u->e->usk->xproc = 1;
		p->e->usk->has_xproc = p->e->usk->xproc = 1;
		pr_info("fd %u of %d (unix %s socket) was accepted from a listening socket named %s that is "
			"closed", u->e->fd, u->pid, type_name(u->d.type),
			name_str(u->d.name, u->d.name_len, nb, sizeof(nb)));
		return 0;
	}
	if (!u->d.name_len)
		return 0;	/* decided for p */
	return pr_err("fd %u of %d (unix %s socket, inode %llu): both ends of its connection are bound and no "
		      "listening socket of the tree has either name: not supported", u->e->fd, u->pid,
		      type_name(u->d.type), (unsigned long long)u->d.ino);
}

/* Can cs-restore put every queued datagram of u back with its sender's name? */
static int check_dgram_queue(struct dump_ctx *c, struct usk *u, struct usk *peer, int mutual)
{
	UnixSkEntry *s = u->e->usk;
	char nb[128];

	for (size_t i = 0; i < s->n_queue; i++) {
		SkQueueMsg *m = s->queue[i];
		struct usk *from = NULL;

		if (!m->has_src) {
			if (mutual || u->d.name_len)
				continue;
		} else {
			for (size_t j = 0; j < nr_usks && !from; j++)
				if (usks[j].d.type == SOCK_DGRAM && !usks[j].e->has_peer_fd &&
				    same_name(&usks[j], (const char *)m->src.data, m->src.len))
					from = &usks[j];
			if (from && (u->d.name_len || (mutual && from == peer)))
				continue;
			if (!from)
				return pr_err("fd %u (unix %s socket, inode %llu) has a datagram queued from %s, a "
					      "socket outside process %d: not supported", u->e->fd,
					      type_name(u->d.type), (unsigned long long)u->d.ino,
					      name_str((const char *)m->src.data, m->src.len, nb, sizeof(nb)), c->pid);
		}
		return pr_err("fd %u (unix %s socket, inode %llu) has a datagram queued that cannot be sent "
			      "to it again (it has no name): not supported", u->e->fd, type_name(u->d.type),
			      (unsigned long long)u->d.ino);
	}
	return 0;
}

/*
 * A connection that a client outside the process made to one of its
 * listening sockets, dropped under --tcp-close as a TCP connection is: it is
 * recorded as a socket whose peer has closed (restored as one end of a
 * socket pair whose other end is closed: reads return 0), without its name
 * (the listener's) and without its unread bytes. The live one is untouched:
 * with -R the process keeps serving it; killed, the client sees it close.
 */
static void drop_accepted(struct usk *u)
{
	UnixSkEntry *s = u->e->usk;
	char nb[128];

	pr_info("fd %u: unix %s connection from a client outside the process (on listener %s) dropped "
		"(--tcp-close)", u->e->fd, type_name(u->d.type), name_str(u->d.name, u->d.name_len, nb, sizeof(nb)));
	s->has_peer_ino = 0;
	s->has_peer_closed = s->peer_closed = 1;
	s->has_name = 0;
	s->has_shutdown = s->shutdown = 0;
	for (size_t q = 0; q < s->n_queue; q++)
		sk_queue_msg__free_unpacked(s->queue[q], NULL);
	free(s->queue);
	s->queue = NULL;
	s->n_queue = 0;
}

int check_unix_peers(struct dump_ctx *c, int tcp_close, int ext_unix_sk)
{
	/* first: which sockets without a peer inode are clients in flight */
	if (unix_icons_check(c))
		return -1;
	for (size_t i = 0; i < nr_usks; i++) {
		struct usk *u = &usks[i], *p;
		UnixSkEntry *s = u->e->usk;
		int mutual;

		if (u->e->has_peer_fd || u->e->has_from_pid)
			continue;
		u->checked = 1;
		if (u->no_peer && !s->has_icon_listener && !s->peer_closed)
			return pr_err("fd %u (unix %s socket, inode %llu) is connected to a socket that no process has "
				      "accepted yet (it has no inode), and the listening socket is not in the dumped "
				      "tree: not supported", u->e->fd, type_name(u->d.type), (unsigned long long)u->d.ino);
		p = u->d.peer ? usk_by_ino(u->d.peer) : NULL;
		if (u->d.peer && !p) {
			/* accepted from a listener of ours: a client connection */
			int accepted = u->d.type != SOCK_DGRAM && u->d.state == TCP_ESTABLISHED && u->d.name_len &&
				       listener_named(u->d.name, u->d.name_len, u->d.type);

			if (accepted && tcp_close) {
				drop_accepted(u);
				continue;
			}
			if (u->d.type == SOCK_DGRAM) {
				char what[96];

				snprintf(what, sizeof(what), "fd %u (unix dgram socket, inode %llu)", u->e->fd,
					 (unsigned long long)u->d.ino);
				if (unix_ext_peer(&u->d, s, what, c->pid, ext_unix_sk))
					return -1;
			} else {
				return pr_err("fd %u (unix %s socket, inode %llu) is connected to socket inode %llu, "
					      "which is outside process %d: %s", u->e->fd, type_name(u->d.type),
					      (unsigned long long)u->d.ino, (unsigned long long)u->d.peer, c->pid,
					      accepted ? "a client connection: use --tcp-close to drop it"
						       : "not supported (connecting again would make a new connection, "
							 "not the same one; --ext-unix-sk is for datagram sockets)");
			}
		}
		mutual = p && p->d.peer == u->d.ino;
		if (u->d.type != SOCK_DGRAM && p && check_stream_pair(u, p))
			return -1;
		if (u->d.type != SOCK_DGRAM && p && p->pid != u->pid && (u->d.name_len || p->d.name_len)) {
			/* accepted, with its client in another process: connected from
			 * there again at restore (cs-restore/sk-unix-xproc.c) */
			s->has_xproc = s->xproc = 1;
			pr_info("fd %u of %d (unix %s socket) is connected to fd %u of %d", u->e->fd, u->pid,
				type_name(u->d.type), p->e->fd, p->pid);
		}
		if (u->d.type == SOCK_DGRAM && p && !mutual && !p->d.name_len)
			return pr_err("fd %u (unix dgram socket, inode %llu) is connected to fd %u, which has no "
				      "name to connect to again: not supported", u->e->fd,
				      (unsigned long long)u->d.ino, p->e->fd);
		if (u->d.type == SOCK_DGRAM && mutual && (u->d.name_len || p->d.name_len) &&
		    !(u->d.name_len && p->d.name_len))
			return pr_err("fd %u (unix dgram socket, inode %llu) and fd %u are connected to each "
				      "other, and only one of them has a name: not supported", u->e->fd,
				      (unsigned long long)u->d.ino, p->e->fd);
		if (s->peer_closed && s->has_name && !s->has_listener_ino && u->d.type != SOCK_DGRAM &&
		    (p = accepted_from(u))) {
			/* its name is its listener's: made again by an accept, not a bind */
			if (p->pid != u->pid)
				return pr_err("fd %u of process %d (unix %s socket, inode %llu) was accepted from "
					      "listener fd %u of process %d, and its client is closed: an accepted "
					      "socket without its client in another process than its listener is "
					      "not supported", u->e->fd, u->pid, type_name(u->d.type),
					      (unsigned long long)u->d.ino, p->e->fd, p->pid);
			s->has_listener_ino = 1;
			s->listener_ino = p->d.ino;
			pr_info("fd %u of %d (unix %s socket): accepted from listener fd %u, its client closed",
				u->e->fd, u->pid, type_name(u->d.type), p->e->fd);
		}
		if (s->has_name && !s->has_listener_ino && !s->listener_gone) {
			s->has_name_owned = 1;
			s->name_owned = 1;
			if (u->name_lost) {
				char nb[128];

				return pr_err("fd %u (unix %s socket, inode %llu) is bound to relative path %s, "
					      "which is not in the working directory any more: not supported",
					      u->e->fd, type_name(u->d.type), (unsigned long long)u->d.ino,
					      name_str(u->d.name, u->d.name_len, nb, sizeof(nb)));
			}
		}
		if (u->d.type == SOCK_DGRAM && check_dgram_queue(c, u, p, mutual))
			return -1;
	}
	return 0;
}

/* The process that makes u's socket at restore: its own, or the one it is parked in. */
static pid_t maker(const struct usk *u)
{
	return u->e->has_from_pid ? (pid_t)u->e->from_pid : u->pid;
}

int unix_check_dgram_senders(void)
{
	char nb[128];

	for (size_t i = 0; i < nr_usks; i++) {
		struct usk *u = &usks[i];
		UnixSkEntry *s = u->e->usk;

		if (!u->checked || u->d.type != SOCK_DGRAM)
			continue;
		for (size_t q = 0; q < s->n_queue; q++) {
			SkQueueMsg *m = s->queue[q];
			struct usk *from = NULL;

			for (size_t j = 0; m->has_src && j < nr_usks && !from; j++)
				if (usks[j].checked && usks[j].d.type == SOCK_DGRAM &&
				    same_name(&usks[j], (const char *)m->src.data, m->src.len))
					from = &usks[j];
			if (from && maker(from) != maker(u))
				return pr_err("fd %u of %d (unix dgram socket, inode %llu) has a datagram queued from %s, "
					      "a socket that process %d makes again at restore, not process %d, which "
					      "makes this one: not supported", u->e->fd, u->pid,
					      (unsigned long long)u->d.ino,
					      name_str((const char *)m->src.data, m->src.len, nb, sizeof(nb)),
					      maker(from), maker(u));
		}
	}
	return 0;
}
