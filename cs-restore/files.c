/*
 * File descriptors. check_files runs before anything is created (files
 * exist, ports can be bound); stub_files runs inside the stub and creates
 * every fd at its saved number: objects are first made at high numbers, then
 * everything else is closed and they are moved into place with dup3.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "util.h"
#include "restore.h"
#include "sk-opts.h"
#include "sk-xopts.h"
#include "sockets.h"

#define STATUS_FLAGS (O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME)


/* The flags epoll keeps in a registration when a one-shot fires
 * (fs/eventpoll.c EP_PRIVATE_BITS: events &= EPOLLWAKEUP | EPOLLONESHOT |
 * EPOLLET | EPOLLEXCLUSIVE). */
#define EP_PRIVATE (EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE)

int epoll_fired(uint32_t events)
{
	return (events & EPOLLONESHOT) && !(events & ~EP_PRIVATE);
}

/*
 * Fired one-shot registrations of epoll set E, made first, while the set
 * holds nothing that reports. EPOLL_CTL_ADD always adds EPOLLERR|EPOLLHUP
 * (epoll_ctl(2)), so adding the saved events would arm them for those: add
 * each armed for every event instead and fire it with an epoll_wait, which
 * leaves exactly the saved bits. A file ready for none of them (an empty
 * pipe, say) is set back to the saved bits, so it stays armed for
 * EPOLLERR|EPOLLHUP only: as close as the kernel allows (cs-restore(8)).
 * Runs in the stub: errors go to ERR.
 */
static int epoll_disarmed(FdEntry *e, char *err, size_t len)
{
	for (size_t t = 0; t < e->n_tfds; t++) {
		EpollTfdEntry *r = e->tfds[t];
		struct epoll_event one = { .events = r->events | EPOLL_ALL_EVENTS, .data.u64 = r->data }, got;

		if (!epoll_fired(r->events))
			continue;
		if (epoll_ctl(e->fd, EPOLL_CTL_ADD, r->tfd, &one)) {
			snprintf(err, len, "fd %u: cannot register fd %u in the epoll set: %m", e->fd, r->tfd);
			return -1;
		}
		if (epoll_wait(e->fd, &got, 1, 0) == 1)
			continue;
		one.events = r->events;
		if (epoll_ctl(e->fd, EPOLL_CTL_MOD, r->tfd, &one)) {
			snprintf(err, len, "fd %u: cannot register fd %u in the epoll set: %m", e->fd, r->tfd);
			return -1;
		}
	}
	return 0;
}

static int inet_addr_of(const InetSkEntry *s, struct sockaddr_storage *a, socklen_t *len)
{
	memset(a, 0, sizeof(*a));
	if (s->family == AF_INET && s->src_addr.len == 4) {
		struct sockaddr_in *in = (struct sockaddr_in *)a;

		in->sin_family = AF_INET;
		in->sin_port = htons(s->src_port);
		memcpy(&in->sin_addr, s->src_addr.data, 4);
		*len = sizeof(*in);
		return 0;
	}
	if (s->family == AF_INET6 && s->src_addr.len == 16) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)a;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(s->src_port);
		memcpy(&in6->sin6_addr, s->src_addr.data, 16);
		*len = sizeof(*in6);
		return 0;
	}
	return -1;
}

void sk_setint(int sk, int level, int name, int v)
{
	setsockopt(sk, level, name, &v, sizeof(v));
}

int inet_sockaddr(int family, const ProtobufCBinaryData *addr, uint32_t port, struct sockaddr_storage *a,
		  socklen_t *al)
{
	memset(a, 0, sizeof(*a));
	if (family == AF_INET && addr->len == 4 && port < 65536) {
		struct sockaddr_in *in = (struct sockaddr_in *)a;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		memcpy(&in->sin_addr, addr->data, 4);
		*al = sizeof(*in);
		return 0;
	}
	if (family == AF_INET6 && addr->len == 16 && port < 65536) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)a;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		memcpy(&in6->sin6_addr, addr->data, 16);
		*al = sizeof(*in6);
		return 0;
	}
	return -1;
}

/*
 * A listening socket, bound and listening as saved (listen_too: else only
 * bound, for the check phase), with its options (sk-opts.h, sk-xopts.h).
 * Returns the fd, or -1 with what failed in err.
 */
static int make_listener(const FdEntry *e, int listen_too, char *err, size_t len)
{
	const InetSkEntry *s = e->sk;
	struct sockaddr_storage a;
	socklen_t al;
	char addr[INET6_ADDRSTRLEN] = "?", oe[200];
	int sk = socket(s->family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);

	if (s->src_addr.len == 4 || s->src_addr.len == 16)
		inet_ntop(s->family, s->src_addr.data, addr, sizeof(addr));
	if (sk < 0) {
		snprintf(err, len, "fd %u: cannot create a socket: %m", e->fd);
		return -1;
	}
	if (inet_addr_of(s, &a, &al)) {
		close(sk);
		snprintf(err, len, "fd %u: malformed TCP listener in files.img", e->fd);
		return -1;
	}
	sk_setint(sk, SOL_SOCKET, SO_REUSEADDR, s->reuseaddr);
	sk_setint(sk, SOL_SOCKET, SO_REUSEPORT, s->reuseport);
	sk_setint(sk, IPPROTO_TCP, TCP_NODELAY, s->nodelay);
	sk_setint(sk, SOL_SOCKET, SO_KEEPALIVE, s->keepalive);
	if (s->family == AF_INET6)
		sk_setint(sk, IPPROTO_IPV6, IPV6_V6ONLY, s->v6only);
	if (sk_xopts_apply(sk, s, 1, oe, sizeof(oe))) {
		snprintf(err, len, "fd %u (TCP listener at %s port %u): %s", e->fd, addr, s->src_port, oe);
		goto fail;
	}
	if (bind(sk, (struct sockaddr *)&a, al)) {
		snprintf(err, len, "fd %u: cannot listen on %s port %u again: %m", e->fd, addr, s->src_port);
		goto fail;
	}
	if (sk_xopts_apply(sk, s, 0, oe, sizeof(oe)) || sk_opts_apply(sk, s->opts, oe, sizeof(oe))) {
		snprintf(err, len, "fd %u (TCP listener at %s port %u): %s", e->fd, addr, s->src_port, oe);
		goto fail;
	}
	if (listen_too && listen(sk, s->backlog)) {
		snprintf(err, len, "fd %u: cannot listen on %s port %u: %m", e->fd, addr, s->src_port);
		goto fail;
	}
	return sk;
fail:
	close(sk);
	return -1;
}

/* The stub's working area: above the highest fd, 64 spare, the error pipe, one per object. */
#define STUB_FD_GAP 64

int check_files(struct rst_ctx *c)
{
	struct rlimit rl;
	uint64_t maxfd = 0, objs = c->nr_fds + ghost_map_count(c);	/* ghostmap.c: mapped ghosts' fds */

	for (size_t i = 0; i < c->nr_fds; i++)
		if (c->fds[i]->fd > maxfd)
			maxfd = c->fds[i]->fd;
	/* stub_files puts every object above the highest fd before moving it
	 * into place: the hard RLIMIT_NOFILE must leave room (getrlimit(2)) */
	if (c->nr_fds && !getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_max != RLIM_INFINITY &&
	    maxfd + 1 + STUB_FD_GAP + 1 + objs + 1 > rl.rlim_max)
		return pr_err("fd %llu is too close to the hard limit of open files (RLIMIT_NOFILE %llu): the restore "
			      "needs %llu descriptors above it; raise the limit (ulimit -Hn) to at least %llu",
			      (unsigned long long)maxfd, (unsigned long long)rl.rlim_max,
			      (unsigned long long)(STUB_FD_GAP + 2 + objs),
			      (unsigned long long)(maxfd + STUB_FD_GAP + 3 + objs));
	for (size_t i = 0; i < c->nr_fds; i++) {
		FdEntry *e = c->fds[i];

		if (e->has_from_pid) {
			/* made by an earlier process of the tree (check_tree: it exists) */
			if (!e->has_from_fd || e->from_pid == (uint32_t)c->pid || !c->tree ||
			    !tree_ctx_before(c->tree, e->from_pid, c->idx))
				return pr_err("fd %u: comes from process %u, which is not made before process %d",
					      e->fd, e->from_pid, c->pid);
			continue;
		}
		switch (e->type) {
		case FD_REG:
		case FD_CHR:
		case FD_DIR:
			if (e->has_peer_fd || (e->type == FD_CHR && c->shell_job &&
					       (!strncmp(e->path, "/dev/pts/", 9) || !strncmp(e->path, "/dev/tty", 8))))
				break;
			if (check_regfile(c, e))	/* regfiles.c */
				return -1;
			break;
		case FD_INET:
			if (e->sk && !e->has_peer_fd) {
				char msg[300];

				if (sk_xopts_check(e->sk, msg, sizeof(msg)))	/* an interface that is gone */
					return pr_err("fd %u: %s", e->fd, msg);
			}
			if (e->sk && e->sk->has_backlog && !e->has_peer_fd) {
				char msg[300];
				int sk = make_listener(e, 0, msg, sizeof(msg));

				if (sk < 0)
					return pr_err("%s", msg);
				close(sk);
			}
			if (is_raw_sk(e)) {
				if (check_raw(e))	/* sk-raw.c */
					return -1;
				break;
			}
			if (e->sk && e->sk->type == SOCK_DGRAM && check_udp(e))
				return -1;
			if (is_tcp_est(e) && check_tcp_est(c, e))
				return -1;
			break;
		case FD_UNIX:
			if (check_unix(c, e))
				return -1;
			break;
		case FD_NETLINK:
			if (!e->has_peer_fd && check_netlink(e))	/* sk-netlink.c */
				return -1;
			break;
		case FD_PACKET:
			if (!e->has_peer_fd && check_packet(e))	/* sk-packet.c */
				return -1;
			break;
		case FD_FIFO:
			if (!e->has_peer_fd && check_fifo(e))	/* fifo.c */
				return -1;
			break;
		case FD_PIPE:
		case FD_EPOLL:
		case FD_EVENTFD:
			break;
		case FD_PTY_MASTER:
		case FD_PTY_SLAVE:
			if (check_pty(c, e))	/* pty.c */
				return -1;
			break;
		case FD_SHMEM:
			if (check_shmem_fd(c, e))	/* shmem.c */
				return -1;
			break;
		case FD_PIDFD:
			if (check_pidfd(c, e))	/* pidfd.c */
				return -1;
			break;
		default: {
			int r = check_anon_fd(e);	/* timerfd, signalfd, inotify */

			if (r < 0)
				return -1;
			if (r > 0)
				return pr_err("fd %u has an unknown type %u in files.img", e->fd, e->type);
		}
		}
	}
	return 0;
}

/* Position in c->fds of the entry for target fd, or -1. */
static int entry_of(struct rst_ctx *c, uint32_t fd)
{
	for (size_t i = 0; i < c->nr_fds; i++)
		if (c->fds[i]->fd == fd)
			return i;
	return -1;
}

/* temporaries are made at or above this fd number (stub_files) */
static int tmp_min;

/* Create the object for entry i; returns an fd (any number) or -1 with err set. */
static int make_object(struct rst_ctx *c, size_t i, int *tmp, char *err, size_t len)
{
	FdEntry *e = c->fds[i];
	int fd = -1;

	if (e->has_from_pid) {
		/* the open file description of an earlier process: it is set up */
		int pfd = syscall(SYS_pidfd_open, e->from_pid, 0);

		fd = pfd < 0 ? -1 : syscall(SYS_pidfd_getfd, pfd, e->from_fd, 0);
		if (fd < 0)
			snprintf(err, len, "fd %u: cannot take fd %u of process %u (pidfd_getfd): %m", e->fd,
				 e->from_fd, e->from_pid);
		if (pfd >= 0)
			close(pfd);
		return fd;
	}
	switch (e->type) {
	case FD_REG:
	case FD_CHR:
	case FD_DIR:
		if (e->type == FD_CHR && c->shell_job && (!strncmp(e->path, "/dev/pts/", 9) || !strncmp(e->path, "/dev/tty", 8))) {
			/* --shell-job: the process gets the terminal cs-restore runs on */
			for (int s = 0; s < 3 && fd < 0; s++)
				if (isatty(s))
					fd = dup(s);
			if (fd < 0)
				snprintf(err, len, "fd %u: --shell-job but cs-restore has no terminal", e->fd);
			return fd;
		}
		/* O_TMPFILE includes O_DIRECTORY, which a directory keeps */
		fd = open(e->path, (e->flags & ~(O_CREAT | O_TRUNC | O_EXCL | O_CLOEXEC |
						  (e->type == FD_DIR ? O_TMPFILE & ~O_DIRECTORY : O_TMPFILE))) |
			 O_NOCTTY);
		if (fd < 0) {
			snprintf(err, len, "fd %u: cannot open %s: %m", e->fd, e->path);
			return -1;
		}
		if (e->type != FD_CHR && e->has_pos && e->pos && lseek(fd, e->pos, SEEK_SET) < 0) {
			snprintf(err, len, "fd %u: cannot seek %s to %llu: %m", e->fd, e->path,
				 (unsigned long long)e->pos);
			close(fd);
			return -1;
		}
		return fd;
	case FD_PIPE: {
		int p[2], end = (e->flags & O_ACCMODE) == O_WRONLY;

		fd = stub_inherited_fd(c, e, err, len);	/* fifo.c: --inherit-fd */
		if (fd != -2)
			return fd;

		/* the first fd of this pipe makes it; the others take their end */
		for (size_t j = 0; j < i; j++)
			if (c->fds[j]->type == FD_PIPE && c->fds[j]->ino == e->ino && tmp[j] >= 0 &&
			    ((c->fds[j]->flags & O_ACCMODE) == O_WRONLY) == end)
				return dup(tmp[j]);
		for (size_t j = 0; j < i; j++)
			if (c->fds[j]->type == FD_PIPE && c->fds[j]->ino == e->ino && tmp[j] >= 0) {
				/* the other end was made: its pipe's spare end was kept */
				snprintf(err, len, "fd %u: pipe inode %llu has both ends opened separately: not supported",
					 e->fd, (unsigned long long)e->ino);
				return -1;
			}
		if (pipe2(p, 0)) {
			snprintf(err, len, "fd %u: cannot create a pipe: %m", e->fd);
			return -1;
		}
		if (pipe_set_size(p[1], e)) {	/* fifo.c */
			snprintf(err, len, "fd %u: cannot set the pipe size to %u bytes: %m", e->fd, e->pipe_size);
			return -1;
		}
		if (e->has_pipe_data && e->pipe_data.len) {
			if ((size_t)fcntl(p[1], F_GETPIPE_SZ) < e->pipe_data.len)
				fcntl(p[1], F_SETPIPE_SZ, e->pipe_data.len);
			if (write_all(p[1], e->pipe_data.data, e->pipe_data.len)) {
				snprintf(err, len, "fd %u: cannot refill the pipe: %m", e->fd);
				return -1;
			}
		}
		/* keep the other end only if the process has it too */
		for (size_t j = i + 1; j < c->nr_fds; j++)
			if (c->fds[j]->type == FD_PIPE && c->fds[j]->ino == e->ino &&
			    ((c->fds[j]->flags & O_ACCMODE) == O_WRONLY) != end && !c->fds[j]->has_peer_fd) {
				tmp[j] = fcntl(p[!end], F_DUPFD_CLOEXEC, tmp_min);
				break;
			}
		close(p[!end]);
		return p[end];
	}
	case FD_PTY_MASTER:
		return make_pty_master(e, err, len);	/* pty.c */
	case FD_PTY_SLAVE:
		return make_pty_slave(e, err, len);
	case FD_FIFO:
		return stub_fifo_fd(e, err, len);	/* fifo.c */
	case FD_SHMEM:
		return stub_shmem_fd(e, err, len);	/* memfd: the object cs-restore made */
	case FD_EPOLL:
		fd = epoll_create1(0);
		if (fd < 0)
			snprintf(err, len, "fd %u: cannot create an epoll instance: %m", e->fd);
		return fd;
	case FD_EVENTFD:
		/* eventfd() takes an unsigned int: a 64-bit counter is written */
		fd = eventfd(0, e->eventfd_semaphore ? EFD_SEMAPHORE : 0);
		if (fd < 0)
			snprintf(err, len, "fd %u: cannot create an eventfd: %m", e->fd);
		else if (e->eventfd_count && write(fd, &e->eventfd_count, 8) != 8) {
			snprintf(err, len, "fd %u: cannot set the eventfd counter: %m", e->fd);
			close(fd);
			return -1;
		}
		return fd;
	case FD_INET:
		if (e->sk->has_closed && e->sk->closed) {
			/* dropped by --tcp-close: a socket whose reads return 0 */
			int sp[2];

			if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp)) {
				snprintf(err, len, "fd %u: cannot create a socket pair: %m", e->fd);
				return -1;
			}
			/* closed on both sides (--tcp-established): its unread bytes first */
			if (e->sk->has_closed_rcvq && closed_fill(sp[1], &e->sk->closed_rcvq)) {
				snprintf(err, len, "fd %u: cannot queue the %zu unread bytes of its closed TCP "
					 "connection: %m", e->fd, e->sk->closed_rcvq.len);
				close(sp[0]);
				close(sp[1]);
				return -1;
			}
			close(sp[1]);
			return sp[0];
		}
		if (is_raw_sk(e))
			return raw_make(e, err, len);	/* sk-raw.c: raw and ping sockets */
		if (e->sk->type == SOCK_DGRAM)
			return udp_make(e, err, len);
		if (e->sk->tcp)
			return tcp_est_make(e, err, len);
		if (e->sk->has_backlog)
			return make_listener(e, 1, err, len);
		fd = socket(e->sk->family, SOCK_STREAM, IPPROTO_TCP);
		if (fd < 0)
			snprintf(err, len, "fd %u: cannot create a socket: %m", e->fd);
		return fd;
	case FD_NETLINK:
		return netlink_make(e, err, len);	/* sk-netlink.c */
	case FD_PACKET:
		return packet_make(e, err, len);	/* sk-packet.c */
	case FD_UNIX:
		/* every unix socket at once: pairs and connections need each other */
		if (unix_make_all(c, tmp, tmp_min, err, len))
			return -1;
		return dup(tmp[i]);
	}
	if (e->type == FD_PIDFD)
		return stub_reaped_pidfd(e, err, len);	/* pidfd-reaped.c */
	fd = make_anon_fd(e, err, len);	/* timerfd, signalfd, inotify */
	if (fd != -2)
		return fd;
	snprintf(err, len, "fd %u: unknown type %u", e->fd, e->type);
	return -1;
}

/* stub_files makes the fds in three rounds: pty masters, the rest, established TCP */
static size_t make_rank(const FdEntry *e)
{
	if (e->type == FD_PTY_MASTER && !e->has_from_pid)
		return 0;
	return is_tcp_est(e) ? 2 : 1;
}

int stub_errfd(const struct rst_ctx *c)
{
	int base = 0;

	for (size_t i = 0; i < c->nr_fds; i++)
		if ((int)c->fds[i]->fd >= base)
			base = c->fds[i]->fd + 1;
	return base + STUB_FD_GAP;
}

int stub_files(struct rst_ctx *c, int *errfdp, char *err, size_t len)
{
	int base = stub_errfd(c), *tmp, errfd = *errfdp;
	int nmap = ghost_map_count(c);	/* ghostmap.c: their fds follow the error pipe */

	tmp = calloc(c->nr_fds + 1, sizeof(int));
	if (!tmp) {
		snprintf(err, len, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < c->nr_fds; i++)
		tmp[i] = -1;
	/* the error pipe moves above every target fd; a child's stub may find it
	 * there already, where its parent (with the same highest fd) put it:
	 * dup3 onto itself is EINVAL (dup3(2)) */
	if (errfd != base) {
		if (dup3(errfd, base, O_CLOEXEC) < 0) {
			snprintf(err, len, "cannot move the error pipe: %m");
			return -1;
		}
		close(errfd);
	}
	errfd = *errfdp = base++;
	tmp_min = base + nmap;
	if (stub_ghosts(c, tmp, tmp_min, err, len))	/* regfiles.c: files deleted while open */
		return -1;
	/* pty masters first: a slave is opened by path. Established TCP
	 * connections last: a listener on their port must be bound before
	 * them (it does not share a port with a live connection) */
	for (size_t n = 0; n < 3 * c->nr_fds; n++) {
		size_t i = n % c->nr_fds;
		int fd;

		/* pidfds: made once every process exists (restore_pidfds, pidfd.c) */
		if (c->fds[i]->has_peer_fd || (c->fds[i]->type == FD_PIDFD && !pidfd_in_stub(c->fds[i])) || tmp[i] >= 0 ||
		    make_rank(c->fds[i]) != n / c->nr_fds)
			continue;
		fd = make_object(c, i, tmp, err, len);
		if (fd < 0)
			return -1;
		tmp[i] = fcntl(fd, F_DUPFD_CLOEXEC, tmp_min);
		close(fd);
		if (tmp[i] < 0) {
			snprintf(err, len, "fd %u: cannot move: %m", c->fds[i]->fd);
			return -1;
		}
	}
	/* everything below the error pipe that is not ours goes */
	syscall(SYS_close_range, 0, errfd - 1, 0);
	for (size_t i = 0; i < c->nr_fds; i++) {
		FdEntry *e = c->fds[i];
		int src = tmp[i];

		if (e->type == FD_PIDFD && !pidfd_in_stub(e))
			continue;
		if (e->has_peer_fd) {
			if (entry_of(c, e->peer_fd) < 0) {
				snprintf(err, len, "fd %u: shares a file with fd %u, which is not saved", e->fd, e->peer_fd);
				return -1;
			}
			src = e->peer_fd;	/* already in place: lower numbers come first */
		}
		if (dup3(src, e->fd, e->flags & O_CLOEXEC) < 0) {
			snprintf(err, len, "fd %u: cannot move into place: %m", e->fd);
			return -1;
		}
		if (!e->has_peer_fd && fcntl(e->fd, F_SETFL, e->flags & STATUS_FLAGS) < 0) {
			snprintf(err, len, "fd %u: cannot set its flags: %m", e->fd);
			return -1;
		}
	}
	/* epoll sets, once every target fd is at its number */
	for (size_t i = 0; i < c->nr_fds; i++) {
		FdEntry *e = c->fds[i];

		/* a set taken from an earlier process was filled there (EEXIST
		 * here); a set with a fired one-shot pidfd: all of it later (pidfd.c) */
		if (e->type != FD_EPOLL || e->has_peer_fd || e->has_from_pid || pidfd_epoll_late(c, e))
			continue;
		if (epoll_disarmed(e, err, len))
			return -1;
		for (size_t t = 0; t < e->n_tfds; t++) {
			struct epoll_event ev = { .events = e->tfds[t]->events, .data.u64 = e->tfds[t]->data };

			/* a pidfd does not exist yet: restore_pidfds registers it */
			if (epoll_fired(e->tfds[t]->events) || pidfd_watched(c, e->tfds[t]->tfd))
				continue;
			if (epoll_ctl(e->fd, EPOLL_CTL_ADD, e->tfds[t]->tfd, &ev)) {
				snprintf(err, len, "fd %u: cannot register fd %u in the epoll set: %m",
					 e->fd, e->tfds[t]->tfd);
				return -1;
			}
		}
	}
	/* the temporaries go; the error pipe stays until the stub stops, the
	 * fds of mapped ghosts until restore_mm has mapped them */
	syscall(SYS_close_range, errfd + 1 + nmap, ~0U, 0);
	free(tmp);
	return 0;
}
