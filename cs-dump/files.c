/*
 * File descriptors: regular files, character devices, pipes and FIFOs (fifo.c), epoll, eventfd,
 * inet sockets. Objects are inspected through copies taken with pidfd_getfd
 * (kernel 5.6, pidfd_getfd(2)), so the target's own fds are never touched.
 * Anything else stops the dump with an error naming the fd and its kind.
 */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/kcmp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "util.h"
#include "sockdiag.h"
#include "sk-opts.h"
#include "sk-xopts.h"
#include "sk-rawopts.h"
#include "dump.h"
#include "sockets.h"

#ifndef TCP_REPAIR
#define TCP_REPAIR 19
#endif

static int getfd(struct dump_ctx *c, int fd)
{
	int r = syscall(SYS_pidfd_getfd, c->pidfd, fd, 0);

	if (r < 0)
		pr_perror("cannot copy fd %d of %d (pidfd_getfd)", fd, c->pid);
	return r;
}

static int epoll_tfds(struct dump_ctx *c, int fd, FdEntry *e)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", c->pid, fd);
	f = fopen(path, "re");
	if (!f)
		return pr_perror("cannot read %s", path);
	while (fgets(line, sizeof(line), f)) {
		unsigned tfd, events;
		unsigned long long data;
		EpollTfdEntry *t, **arr;

		unsigned long ino;
		unsigned sdev;
		struct stat st;
		char fdpath[64];

		if (sscanf(line, "tfd: %u events: %x data: %llx pos:%*d ino:%lx sdev:%x", &tfd, &events, &data,
			   &ino, &sdev) != 5)
			continue;
		/* A registration is keyed by (file, fd number): the number is the
		 * one the fd had at EPOLL_CTL_ADD (fs/eventpoll.c ep_show_fdinfo;
		 * sdev is the kernel's dev_t, MAJOR << 20 | MINOR). If that fd was
		 * closed or now names another file, EPOLL_CTL_ADD cannot make the
		 * same key again: refuse rather than register the wrong file. */
		snprintf(fdpath, sizeof(fdpath), "/proc/%d/fd/%u", c->pid, tfd);
		if (stat(fdpath, &st) || st.st_ino != ino || st.st_dev != makedev(sdev >> 20, sdev & 0xfffff)) {
			fclose(f);
			return pr_err("epoll fd %d watches fd %u, which is now another file (inode %lu): "
				      "the fd was moved or closed after EPOLL_CTL_ADD; not supported",
				      fd, tfd, ino);
		}
		t = xzalloc(sizeof(*t));
		arr = xrealloc(e->tfds, (e->n_tfds + 1) * sizeof(*arr));
		if (!t || !arr) {
			fclose(f);
			return -1;
		}
		e->tfds = arr;
		epoll_tfd_entry__init(t);
		t->tfd = tfd;
		t->events = events;
		t->data = data;
		arr[e->n_tfds++] = t;
	}
	fclose(f);
	return 0;
}

static int sockopt_int(int sk, int level, int name)
{
	int v = 0;
	socklen_t l = sizeof(v);

	getsockopt(sk, level, name, &v, &l);
	return v;
}

/*
 * A listener's accept queue: connections the kernel has completed (the
 * client sent its request, maybe) that the process has not accepted yet.
 * They cannot be kept: nothing puts a connection back into a listener's
 * queue. When the process is killed its listener goes, and the kernel
 * resets each of them (inet_csk_listen_stop, net/ipv4/inet_connection_sock.c):
 * the dump refuses, as for the established ones, unless --tcp-close says
 * they may be dropped. With -R they stay the running process's, which
 * accepts them later, like connections made after the dump: not refused.
 * Connections that complete after this look, while the process is frozen,
 * go the same way (tcpi_unacked of a listener is its accept queue length,
 * tcp_get_info, net/ipv4/tcp.c).
 */
static int dump_listen_queue(struct dump_ctx *c, int fd, unsigned port, unsigned queued, int tcp)
{
	if (!queued)
		return 0;
	if (c->leave_running) {
		pr_info("fd %d: TCP listener on port %u: %u connection(s) not accepted yet, left to the "
			"running process (not in the image)", fd, port, queued);
		return 0;
	}
	if (!(tcp & DUMP_TCP_CLOSE))
		return pr_err("fd %d is a TCP listener on port %u with %u connection(s) not accepted yet, which "
			      "cannot be kept: use --tcp-close to drop them", fd, port, queued);
	pr_info("fd %d: TCP listener on port %u: %u connection(s) not accepted yet dropped (--tcp-close)",
		fd, port, queued);
	return 0;
}

static int dump_inet(struct dump_ctx *c, int fd, FdEntry *e, int sk, int family, int tcp)
{
	InetSkEntry *s = xzalloc(sizeof(*s));
	struct sockaddr_storage a;
	socklen_t al = sizeof(a);
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	int type = sockopt_int(sk, SOL_SOCKET, SO_TYPE), proto = sockopt_int(sk, SOL_SOCKET, SO_PROTOCOL);

	if (!s)
		return -1;
	inet_sk_entry__init(s);
	e->sk = s;
	s->family = family;
	s->type = type;
	s->proto = proto;
	if (type == SOCK_DGRAM && proto == IPPROTO_UDP)
		return dump_udp(c, fd, e, sk, family);
	if (sk_rawkind(family, type, proto))
		return dump_raw(c, fd, e, sk, family);	/* sk-raw.c: raw, ping, UDP-Lite */
	if (type != SOCK_STREAM || proto != IPPROTO_TCP)
		return pr_err("fd %d is an %s socket of type %d protocol %d: only TCP, UDP, UDP-Lite, ping and raw "
			      "sockets are supported yet",
			      fd, family == AF_INET ? "AF_INET" : "AF_INET6", type, proto);
	if (getsockname(sk, (struct sockaddr *)&a, &al))
		return pr_perror("cannot read the address of fd %d", fd);
	/*
	 * The state, and a listener's backlog, from TCP_INFO on our copy:
	 * for TCP_LISTEN, tcpi_unacked is the accept queue and tcpi_sacked
	 * the backlog (tcp_get_info, net/ipv4/tcp.c, since 2.6.x). A
	 * sock_diag dump would walk every bucket of the host's TCP hash
	 * tables for each descriptor: milliseconds per fd while frozen.
	 */
	if (getsockopt(sk, IPPROTO_TCP, TCP_INFO, &ti, &tl) || tl < offsetof(struct tcp_info, tcpi_sacked) + 4)
		return pr_perror("cannot read TCP_INFO of fd %d (TCP socket, inode %llu)", fd,
				 (unsigned long long)e->ino);
	s->state = ti.tcpi_state;
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&a;

		s->src_addr.len = 4;
		s->src_addr.data = xmalloc(4);
		memcpy(s->src_addr.data, &in->sin_addr, 4);
		s->src_port = ntohs(in->sin_port);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a;

		s->src_addr.len = 16;
		s->src_addr.data = xmalloc(16);
		memcpy(s->src_addr.data, &in6->sin6_addr, 16);
		s->src_port = ntohs(in6->sin6_port);
		s->has_v6only = 1;
		s->v6only = sockopt_int(sk, IPPROTO_IPV6, IPV6_V6ONLY);
	}
	s->has_reuseaddr = s->has_reuseport = s->has_nodelay = s->has_keepalive = 1;
	s->reuseaddr = sockopt_int(sk, SOL_SOCKET, SO_REUSEADDR);
	s->reuseport = sockopt_int(sk, SOL_SOCKET, SO_REUSEPORT);
	s->nodelay = sockopt_int(sk, IPPROTO_TCP, TCP_NODELAY);
	s->keepalive = sockopt_int(sk, SOL_SOCKET, SO_KEEPALIVE);
	s->dst_addr.len = 0;
	s->dst_addr.data = NULL;
	if (ti.tcpi_state == TCP_LISTEN) {
		char what[64];

		s->has_backlog = 1;
		s->backlog = ti.tcpi_sacked;
		snprintf(what, sizeof(what), "fd %d (TCP listener, port %u)", fd, s->src_port);
		s->opts = sk_opts_save(sk, 1);
		if (!s->opts || sk_xopts_save(sk, s, what))
			return -1;
		return dump_listen_queue(c, fd, s->src_port, ti.tcpi_unacked, tcp);
	}
	if (ti.tcpi_state == TCP_CLOSE && !s->src_port)
		return 0;	/* a fresh socket, never bound */
	{
		char addr[INET6_ADDRSTRLEN] = "?";
		struct sockaddr_storage p;
		socklen_t pl = sizeof(p);
		int port = 0;

		if (getpeername(sk, (struct sockaddr *)&p, &pl) == 0) {
			if (p.ss_family == AF_INET) {
				inet_ntop(AF_INET, &((struct sockaddr_in *)&p)->sin_addr, addr, sizeof(addr));
				port = ntohs(((struct sockaddr_in *)&p)->sin_port);
			} else {
				inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&p)->sin6_addr, addr, sizeof(addr));
				port = ntohs(((struct sockaddr_in6 *)&p)->sin6_port);
			}
		}
		/* closed on both sides, the descriptor still open: its unread bytes, then EOF */
		if ((tcp & DUMP_TCP_ESTABLISHED) && ti.tcpi_state == TCP_CLOSE && ti.tcpi_rcv_mss)
			return dump_tcp_closed(fd, e, sk);
		if ((tcp & DUMP_TCP_ESTABLISHED) && (tcp_state_keepable(ti.tcpi_state) || !(tcp & DUMP_TCP_CLOSE)))
			return dump_tcp_est(c, fd, e, sk, ti.tcpi_state);
		if (!(tcp & DUMP_TCP_CLOSE))
			return pr_err("fd %d is a TCP connection (state %d, local port %u, peer %s:%d): "
				      "use --tcp-established to keep it or --tcp-close to drop it",
				      fd, ti.tcpi_state, s->src_port, addr, port);
		pr_info("fd %d: TCP connection to %s:%d dropped (--tcp-close)", fd, addr, port);
		s->has_closed = 1;
		s->closed = 1;
	}
	return 0;
}

static int is_tty(const char *path, const struct stat *st)
{
	return S_ISCHR(st->st_mode) && (!strncmp(path, "/dev/pts/", 9) || !strncmp(path, "/dev/tty", 8) ||
					!strcmp(path, "/dev/console") || major(st->st_rdev) == 136 ||
					major(st->st_rdev) == 4 || major(st->st_rdev) == 5);
}

/*
 * fd of c into e. *copy: our pidfd_getfd copy of it, taken once its kind
 * is not refused outright (O_PATH, procfs, check_reopenable); the caller reads the owner
 * through it too (dump_fown) and closes it or keeps it (keep_copy).
 */
static int dump_fd(struct dump_ctx *c, int fd, FdEntry *e, int tcp, int shell_job, int *copy)
{
	char path[64], link[4096], val[64];
	struct stat st;
	ssize_t l;

	fd_entry__init(e);
	e->fd = fd;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", c->pid, fd);
	l = readlink(path, link, sizeof(link) - 1);
	if (l < 0)
		return pr_perror("cannot read %s", path);
	link[l] = 0;
	if (stat(path, &st))
		return pr_perror("cannot stat fd %d (%s)", fd, link);
	if (proc_fdinfo_field(c->pid, fd, "flags", val, sizeof(val)))
		return pr_err("cannot read the flags of fd %d", fd);
	e->flags = strtoul(val, NULL, 8);
	if (proc_fdinfo_field(c->pid, fd, "pos", val, sizeof(val)) == 0) {
		e->has_pos = 1;
		e->pos = strtoull(val, NULL, 10);
	}
	e->has_ino = e->has_mode = 1;
	e->ino = st.st_ino;
	e->mode = st.st_mode;
	if (e->flags & O_PATH)
		return pr_err("fd %d (%s) is an O_PATH descriptor: not supported yet", fd, link);
	if (!strncmp(link, "/proc/", 6) || !strcmp(link, "/proc") || !strncmp(link, "/sys/", 5))
		return pr_err("fd %d is %s, a file of procfs or sysfs: not supported yet", fd, link);
	/* file locks: dump_locks; files deleted while open: dump_ghosts */

	if ((S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) && check_reopenable(c, fd, link, &st))
		return -1;
	*copy = getfd(c, fd);
	if (*copy < 0)
		return -1;
	if (S_ISREG(st.st_mode)) {
		e->type = FD_REG;
		e->path = xstrdup(link);
		e->has_size = e->has_mtime_ns = 1;
		e->size = st.st_size;
		e->mtime_ns = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
		return 0;
	}
	if (S_ISDIR(st.st_mode)) {
		/* etcd keeps its WAL directory open to fsync it; the offset is the
		 * file system's readdir cookie (ext4: a hash), given back as is */
		if (!st.st_nlink)
			return pr_err("fd %d is directory %s, removed while open: not supported", fd, link);
		e->type = FD_DIR;
		e->path = xstrdup(link);
		return e->path ? 0 : -1;
	}
	if (S_ISCHR(st.st_mode)) {
		int r;

		e->path = xstrdup(link);
		e->has_rdev = 1;
		e->rdev = st.st_rdev;
		r = dump_pty(c, fd, link, &st, e);	/* pty.c: a master, or a slave (its master may be in the tree) */
		if (r <= 0)
			return r;
		if (is_tty(link, &st) && !shell_job)
			return pr_err("fd %d is terminal %s: use --shell-job to dump a process attached to a terminal",
				      fd, link);
		e->type = FD_CHR;
		return 0;
	}
	if (S_ISFIFO(st.st_mode)) {
		if (strncmp(link, "pipe:", 5))
			return dump_fifo(c, fd, *copy, e, link, &st);	/* fifo.c */
		e->type = FD_PIPE;
		return dump_pipe_data(c, fd, *copy, e, "pipe");
	}
	if (S_ISSOCK(st.st_mode)) {
		int family = sockopt_int(*copy, SOL_SOCKET, SO_DOMAIN);

		if (family == AF_UNIX) {
			e->type = FD_UNIX;
			return dump_unix(c, fd, e, *copy);
		}
		if (family == AF_NETLINK) {
			e->type = FD_NETLINK;
			return dump_netlink(c, fd, e, *copy);	/* sk-netlink.c */
		}
		if (family == AF_PACKET) {
			e->type = FD_PACKET;
			return dump_packet(c, fd, e, *copy);	/* sk-packet.c */
		}
		e->type = FD_INET;
		if (family != AF_INET && family != AF_INET6)
			return pr_err("fd %d is a socket of family %d: only unix, netlink and packet sockets, "
				      "and TCP, UDP, UDP-Lite, ping and raw sockets over IPv4/IPv6, are supported yet",
				      fd, family);
		return dump_inet(c, fd, e, *copy, family, tcp);
	}
	if (!strcmp(link, "anon_inode:[eventpoll]")) {
		e->type = FD_EPOLL;
		return epoll_tfds(c, fd, e);
	}
	if (!strcmp(link, "anon_inode:[eventfd]")) {
		e->type = FD_EVENTFD;
		if (proc_fdinfo_field(c->pid, fd, "eventfd-count", val, sizeof(val)))
			return pr_err("cannot read the counter of eventfd %d", fd);
		e->has_eventfd_count = 1;
		e->eventfd_count = strtoull(val, NULL, 16);
		if (proc_fdinfo_field(c->pid, fd, "eventfd-semaphore", val, sizeof(val)) == 0) {
			e->has_eventfd_semaphore = 1;
			e->eventfd_semaphore = atoi(val);
		}
		return 0;
	}
	{
		int r = dump_anon_fd(c, fd, link, e);	/* timerfd, signalfd, inotify */

		if (r <= 0)
			return r;
	}
	return pr_err("fd %d is %s: this kind of file is not supported yet", fd, link);
}

/*
 * After dump_fd and dump_fown: our copy of e's fd is closed, but that of a
 * TCP connection to be dropped (closed), which is kept in c->repair_fds
 * and put in repair mode before the kill (tcp_repair_dropped).
 */
static int keep_copy(struct dump_ctx *c, FdEntry *e, int copy)
{
	int *r;

	if (e->type != FD_INET || !e->sk || !e->sk->has_closed || !e->sk->closed) {
		close(copy);
		return 0;
	}
	r = xrealloc(c->repair_fds, (c->nr_repair + 1) * sizeof(int));
	if (!r) {
		close(copy);
		return -1;
	}
	c->repair_fds = r;
	r[c->nr_repair++] = copy;
	return 0;
}

static int cmp_fd(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

int dump_files(struct dump_ctx *c, int tcp, int shell_job)
{
	char path[64];
	struct dirent *de;
	int *fds = NULL, n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", c->pid);
	d = opendir(path);
	if (!d)
		return pr_perror("cannot list %s", path);
	while ((de = readdir(d))) {
		int *nf;

		if (de->d_name[0] == '.')
			continue;
		nf = xrealloc(fds, (n + 1) * sizeof(int));
		if (!nf) {
			closedir(d);
			free(fds);
			return -1;
		}
		fds = nf;
		fds[n++] = atoi(de->d_name);
	}
	closedir(d);
	qsort(fds, n, sizeof(int), cmp_fd);
	c->fds = xzalloc((n + 1) * sizeof(*c->fds));
	if (!c->fds) {
		free(fds);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		FdEntry *e = xzalloc(sizeof(*e));
		int copy = -1;

		if (!e)
			goto err;
		c->fds[c->nr_fds++] = e;
		if (dump_fd(c, fds[i], e, tcp, shell_job, &copy) || dump_fown(c, fds[i], copy, e)) {
			if (copy >= 0)
				close(copy);
			goto err;
		}
		if (keep_copy(c, e, copy))
			goto err;
		/* an fd dup'ed from an earlier one shares its open file description */
		for (size_t j = 0; j + 1 < c->nr_fds; j++)
			if (c->fds[j]->ino == e->ino && c->fds[j]->type == e->type &&
			    syscall(SYS_kcmp, c->pid, c->pid, KCMP_FILE, c->fds[j]->fd, e->fd) == 0) {
				e->has_peer_fd = 1;
				e->peer_fd = c->fds[j]->has_peer_fd ? c->fds[j]->peer_fd : c->fds[j]->fd;
				break;
			}
	}
	free(fds);
	/* pipes with an end elsewhere and unix peers are checked once every
	 * process of the tree is collected (tree_check_pipes, check_unix_peers) */
	if (tree_share_fds(c))
		return -1;
	pr_info("%zu fds collected", c->nr_fds);
	return 0;
err:
	free(fds);
	return -1;
}

int write_files(struct dump_ctx *c)
{
	char n[64];
	struct img *img = img_create(c->dirfd, img_pname(n, sizeof(n), "files", c->sfx), MAGIC_FILES);

	if (!img)
		return -1;
	for (size_t i = 0; i < c->nr_fds; i++)
		if (img_write_msg(img, &c->fds[i]->base)) {
			img_free(img);
			return -1;
		}
	return img_close(img, &c->sums);
}

void tcp_repair_dropped(struct dump_ctx *c)
{
	int one = 1;

	for (size_t i = 0; i < c->nr_repair; i++)
		if (setsockopt(c->repair_fds[i], IPPROTO_TCP, TCP_REPAIR, &one, sizeof(one)))
			pr_warn("cannot put a dropped connection in repair mode: %m");
}

void dump_ctx_free(struct dump_ctx *c)
{
	for (size_t i = 0; i < c->nr_repair; i++)
		close(c->repair_fds[i]);
	free(c->repair_fds);
	c->nr_repair = 0;
	free(c->tcp_held);	/* the kill path: the fds were in repair_fds */
	c->tcp_held = NULL;
	c->nr_tcp_held = 0;
	if (c->pagebuf)
		munmap(c->pagebuf, c->pagebuf_len);
	c->pagebuf = NULL;
	if (c->prebuf)
		munmap(c->prebuf, c->prebuf_len);
	c->prebuf = NULL;
	track_free(c);
	free(c->thread_sb);
	c->thread_sb = NULL;
	if (c->dirfd >= 0)
		close(c->dirfd);
	if (c->pidfd >= 0)
		close(c->pidfd);
	c->dirfd = c->pidfd = -1;
	pt_free(&c->pt);
	go_rt_close(c->go);
	c->go = NULL;
}
