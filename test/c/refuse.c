/*
 * refuse.c - one process holding one kind of state that cs-dump must refuse,
 * or that it used to get wrong.
 *
 *   refuse READY_FILE MODE
 *
 * Modes that cs-dump must refuse (no check after SIGUSR2 beyond exiting 0):
 *   plain         nothing special (the target of the namespace, pipe,
 *                 process group, zombie-parent, traced and other-uid cases)
 *   deleted-cwd   its working directory, made next to READY_FILE, removed
 *   proc-fd       an fd open on /proc/self/stat
 *   sys-fd        an fd open on a sysfs file
 *   o-path        an O_PATH fd on a regular file made next to READY_FILE
 *   mqueue-fd     an fd on a POSIX message queue (unlinked at once)
 *   ns-fd         an fd on /proc/self/ns/net (a namespace file)
 *   overmounted   an fd on DIR/over/file, DIR that of READY_FILE (the test
 *                 mounts over DIR/over)
 *   overmounted-cwd  its working directory DIR/over/sub (the test mounts
 *                 over DIR/over)
 *   flock         an fd holding a flock(2) lock on such a file
 *   posix-lock    an fd holding a POSIX (fcntl F_SETLK) lock
 *   ofd-lock      an fd holding an open file description lock (F_OFD_SETLK)
 *   thread        a second thread, blocked (its TID is not a process)
 *   no-vdso       its [vdso] unmapped (it makes no vDSO call afterwards)
 *   time-kids     unshare(CLONE_NEWTIME) done by itself, without exec: its
 *                 children would get a time namespace it is not in
 *
 * Modes checked value by value after SIGUSR2 (dump and restore must keep):
 *   eventfd-big   an eventfd whose counter is 0x123456789 (above 2^32)
 *   fresh-socket  TCP sockets never bound: IPv4 blocking, IPv6 O_NONBLOCK
 *                 (IPv6 left out when the kernel has none); after: domain,
 *                 type, protocol, flags, port 0, not listening, and that
 *                 the IPv4 one can still bind, listen and accept
 *   listen-queue  a TCP listener on 127.0.0.1 (fd 3, port in
 *                 READY_FILE.port) that never accepts: the test connects
 *                 clients that stay in its accept queue (refused without
 *                 --tcp-close, dropped with it); after: still listening
 *                 on the same port, and it accepts a new client
 *   many-fds      soft RLIMIT_NOFILE 2048, /dev/null at fds 1023, 1024 and
 *                 1500 and nothing else above 2; after: exactly those fds
 *                 open, on /dev/null, and the limit unchanged
 *
 * CS_TEST_CORRUPT: eventfd (counter + 1), socket (IPv4 socket bound),
 * fds (fd 1500 closed, 1501 opened), listener (listen-queue's listener
 * replaced by one on another port).
 */
#define _GNU_SOURCE
#include <limits.h>
#include <mqueue.h>
#include <pthread.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "tprog.h"

#define EVENTFD_VALUE	0x123456789ull
#define NOFILE_SOFT	2048
static const int high_fds[] = { 1023, 1024, 1500 };

static unsigned nchecked;
static int listen_port;	/* listen-queue */

static void *thread_main(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

/* A regular file next to READY_FILE, opened read-write with FLAGS. */
static int side_file(const char *ready, const char *name, int flags)
{
	char dir[PATH_MAX], path[PATH_MAX + 64];
	int fd;

	tp_dirname(ready, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, flags | O_CREAT, 0644);
	if (fd < 0)
		tp_die("cannot open %s", path);
	return fd;
}

static int sockopt(int fd, int opt)
{
	int v = -1;
	socklen_t l = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, opt, &v, &l))
		tp_differs("socket", "fd %d: getsockopt %d: %s", fd, opt, strerror(errno));
	return v;
}

static void check_fresh(int fd, int family)
{
	struct sockaddr_storage a;
	socklen_t al = sizeof(a);
	int port;

	tp_check_u64("socket domain", sockopt(fd, SO_DOMAIN), family);
	tp_check_u64("socket type", sockopt(fd, SO_TYPE), SOCK_STREAM);
	tp_check_u64("socket protocol", sockopt(fd, SO_PROTOCOL), IPPROTO_TCP);
	tp_check_u64("socket listening", sockopt(fd, SO_ACCEPTCONN), 0);
	if (getsockname(fd, (struct sockaddr *)&a, &al)) {
		tp_differs("socket", "fd %d: getsockname: %s", fd, strerror(errno));
		return;
	}
	tp_check_u64("socket address family", a.ss_family, family);
	port = family == AF_INET ? ((struct sockaddr_in *)&a)->sin_port : ((struct sockaddr_in6 *)&a)->sin6_port;
	tp_check_u64("socket port", port, 0);
	nchecked += 6;
}

/* The restored socket works: bind it, listen, take a connection. */
static void check_usable(int fd)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int c, s;

	nchecked++;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1) ||
	    getsockname(fd, (struct sockaddr *)&a, &al)) {
		tp_differs("socket use", "bind/listen on 127.0.0.1: %s", strerror(errno));
		return;
	}
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a))) {
		tp_differs("socket use", "connect to the restored socket: %s", strerror(errno));
		return;
	}
	s = accept(fd, NULL, NULL);
	if (s < 0)
		tp_differs("socket use", "accept: %s", strerror(errno));
	else
		close(s);
	close(c);
}

/* The listener of listen-queue: on port, and a new client is accepted
 * (after whatever was still queued). */
static void check_listener(int fd, int port)
{
	struct sockaddr_in a = { 0 }, me = { 0 }, peer;
	socklen_t al = sizeof(a);
	int c, s, i;

	tp_check_u64("listener listening", sockopt(fd, SO_ACCEPTCONN), 1);
	nchecked += 2;
	if (getsockname(fd, (struct sockaddr *)&a, &al)) {
		tp_differs("listener", "getsockname: %s", strerror(errno));
		return;
	}
	tp_check_u64("listener port", ntohs(a.sin_port), port);
	c = socket(AF_INET, SOCK_STREAM, 0);
	al = sizeof(me);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) || getsockname(c, (struct sockaddr *)&me, &al)) {
		tp_differs("listener", "connect to it: %s", strerror(errno));
		return;
	}
	nchecked++;
	for (i = 0; i < 16; i++) {
		al = sizeof(peer);
		s = accept(fd, (struct sockaddr *)&peer, &al);
		if (s < 0) {
			tp_differs("listener", "accept: %s", strerror(errno));
			break;
		}
		close(s);
		if (peer.sin_port == me.sin_port)
			break;
	}
	if (i == 16)
		tp_differs("listener", "the new client was not among 16 accepted connections");
	close(c);
}

static int is_high(int fd)
{
	for (unsigned i = 0; i < sizeof(high_fds) / sizeof(*high_fds); i++)
		if (high_fds[i] == fd)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "eventfd", "socket", "fds", "listener", NULL };
	const char *mode;
	int fd = -1, fd6 = -1;
	struct stat null_st = { 0 };

	tp_init("refuse", argc, argv);
	if (argc < 3) {
		tp_log("usage: refuse READY_FILE MODE");
		exit(TP_EXIT_SETUP);
	}
	mode = argv[2];
	tp_corrupt_check_mode(modes);
	tp_block_usr2();

	if (!strcmp(mode, "plain")) {
		;
	} else if (!strcmp(mode, "deleted-cwd")) {
		char dir[PATH_MAX], path[PATH_MAX + 16];

		tp_dirname(argv[1], dir, sizeof(dir));
		snprintf(path, sizeof(path), "%s/gone", dir);
		if (mkdir(path, 0755) || chdir(path) || rmdir(path))
			tp_die("cannot make, enter and remove %s", path);
	} else if (!strcmp(mode, "proc-fd")) {
		if (open("/proc/self/stat", O_RDONLY) < 0)
			tp_die("cannot open /proc/self/stat");
	} else if (!strcmp(mode, "sys-fd")) {
		static const char *const f[] = { "/sys/kernel/mm/transparent_hugepage/enabled",
						 "/sys/devices/system/cpu/online", "/sys/kernel/uevent_seqnum" };
		for (unsigned i = 0; i < sizeof(f) / sizeof(*f) && fd < 0; i++)
			fd = open(f[i], O_RDONLY);
		if (fd < 0) {
			tp_log("no sysfs file to open");
			exit(TP_EXIT_SKIP);
		}
	} else if (!strcmp(mode, "o-path")) {
		close(side_file(argv[1], "opath-file", O_RDWR));
		fd = side_file(argv[1], "opath-file", O_PATH);
	} else if (!strcmp(mode, "mqueue-fd")) {
		char name[64];

		/* unlinked at once: nothing is left behind; the fd stays a queue */
		snprintf(name, sizeof(name), "/cs-refuse-%d", (int)getpid());
		fd = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, NULL);
		if (fd < 0 || mq_unlink(name))
			tp_die("mq_open %s", name);
	} else if (!strcmp(mode, "ns-fd")) {
		if (open("/proc/self/ns/net", O_RDONLY) < 0)
			tp_die("cannot open /proc/self/ns/net");
	} else if (!strcmp(mode, "overmounted")) {
		char dir[PATH_MAX], path[PATH_MAX + 16];

		/* the test mounts a tmpfs over DIR/over once this is ready */
		tp_dirname(argv[1], dir, sizeof(dir));
		snprintf(path, sizeof(path), "%s/over", dir);
		if (mkdir(path, 0755) && errno != EEXIST)
			tp_die("mkdir %s", path);
		fd = side_file(argv[1], "over/file", O_RDWR);
	} else if (!strcmp(mode, "overmounted-cwd")) {
		char dir[PATH_MAX], path[PATH_MAX + 16];

		tp_dirname(argv[1], dir, sizeof(dir));
		snprintf(path, sizeof(path), "%s/over", dir);
		if (mkdir(path, 0755) && errno != EEXIST)
			tp_die("mkdir %s", path);
		snprintf(path, sizeof(path), "%s/over/sub", dir);
		if ((mkdir(path, 0755) && errno != EEXIST) || chdir(path))
			tp_die("mkdir and chdir %s", path);
	} else if (!strcmp(mode, "flock")) {
		if (flock(side_file(argv[1], "lock-file", O_RDWR), LOCK_EX))
			tp_die("flock");
	} else if (!strcmp(mode, "posix-lock") || !strcmp(mode, "ofd-lock")) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };

		fd = side_file(argv[1], "lock-file", O_RDWR);
		if (fcntl(fd, mode[0] == 'o' ? F_OFD_SETLK : F_SETLK, &fl))
			tp_die("fcntl %s", mode);
	} else if (!strcmp(mode, "time-kids")) {
		if (unshare(0x80 /* CLONE_NEWTIME, Linux 5.6 */)) {
			tp_log("unshare(CLONE_NEWTIME): %s", strerror(errno));
			exit(TP_EXIT_SKIP);
		}
	} else if (!strcmp(mode, "thread")) {
		pthread_t t;

		if (pthread_create(&t, NULL, thread_main, NULL))
			tp_die("pthread_create");
	} else if (!strcmp(mode, "no-vdso")) {
		unsigned long lo = 0, hi = 0;
		char line[512];
		FILE *f = fopen("/proc/self/maps", "r");

		if (!f)
			tp_die("/proc/self/maps");
		while (fgets(line, sizeof(line), f))
			if (strstr(line, "[vdso]"))
				sscanf(line, "%lx-%lx", &lo, &hi);
		fclose(f);
		if (!hi) {
			tp_log("no [vdso] to unmap");
			exit(TP_EXIT_SKIP);
		}
		if (munmap((void *)lo, hi - lo))
			tp_die("munmap [vdso]");
	} else if (!strcmp(mode, "eventfd-big")) {
		uint64_t v = EVENTFD_VALUE;

		fd = eventfd(0, 0);
		if (fd < 0 || write(fd, &v, 8) != 8)
			tp_die("eventfd");
		if (tp_corrupting("eventfd")) {
			v = 1;
			if (write(fd, &v, 8) != 8)
				tp_die("eventfd write");
		}
	} else if (!strcmp(mode, "fresh-socket")) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			tp_die("socket AF_INET");
		fd6 = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (tp_corrupting("socket")) {
			struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

			if (bind(fd, (struct sockaddr *)&a, sizeof(a)))
				tp_die("bind");
		}
	} else if (!strcmp(mode, "listen-queue")) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t al = sizeof(a);
		char path[4200], buf[16];
		int pf, n;

		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd != 3 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 8) ||
		    getsockname(fd, (struct sockaddr *)&a, &al))
			tp_die("a listener at fd 3 on 127.0.0.1");
		listen_port = ntohs(a.sin_port);
		snprintf(path, sizeof(path), "%s.port", argv[1]);
		n = snprintf(buf, sizeof(buf), "%d\n", listen_port);
		pf = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (pf < 0 || write(pf, buf, n) != n || close(pf))
			tp_die("cannot write %s", path);
		if (tp_corrupting("listener")) {
			/* another listener at fd 3, on another port */
			close(fd);
			a.sin_port = 0;
			fd = socket(AF_INET, SOCK_STREAM, 0);
			if (fd != 3 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 8))
				tp_die("a second listener at fd 3");
		}
	} else if (!strcmp(mode, "many-fds")) {
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl))
			tp_die("getrlimit");
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < NOFILE_SOFT) {
			tp_log("hard RLIMIT_NOFILE %llu is below %d", (unsigned long long)rl.rlim_max, NOFILE_SOFT);
			exit(TP_EXIT_SKIP);
		}
		rl.rlim_cur = NOFILE_SOFT;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			tp_die("setrlimit");
		fd = open("/dev/null", O_RDWR);
		if (fd < 0 || fstat(fd, &null_st))
			tp_die("/dev/null");
		for (unsigned i = 0; i < sizeof(high_fds) / sizeof(*high_fds); i++)
			if (dup2(fd, high_fds[i]) != high_fds[i])
				tp_die("dup2 to %d", high_fds[i]);
		close(fd);
		if (tp_corrupting("fds")) {
			close(1500);
			if (dup2(1024, 1501) != 1501)
				tp_die("dup2");
		}
	} else {
		errno = EINVAL;
		tp_die("unknown mode %s", mode);
	}

	tp_write_ready(argv[1]);
	tp_wait_usr2();

	if (!strcmp(mode, "eventfd-big")) {
		uint64_t v = 0;

		if (read(fd, &v, 8) != 8)
			tp_differs("eventfd", "read: %s", strerror(errno));
		tp_check_u64("eventfd counter", v, EVENTFD_VALUE);
		nchecked++;
	} else if (!strcmp(mode, "fresh-socket")) {
		check_fresh(fd, AF_INET);
		tp_check_u64("IPv4 socket flags", fcntl(fd, F_GETFL) & (O_NONBLOCK | O_ACCMODE), O_RDWR);
		nchecked++;
		if (fd6 >= 0) {
			check_fresh(fd6, AF_INET6);
			tp_check_u64("IPv6 socket flags", fcntl(fd6, F_GETFL) & (O_NONBLOCK | O_ACCMODE),
				     O_RDWR | O_NONBLOCK);
			nchecked++;
		}
		check_usable(fd);
	} else if (!strcmp(mode, "listen-queue")) {
		check_listener(fd, listen_port);
	} else if (!strcmp(mode, "many-fds")) {
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl))
			tp_die("getrlimit");
		tp_check_u64("RLIMIT_NOFILE soft", rl.rlim_cur, NOFILE_SOFT);
		nchecked++;
		for (int f = 3; f < NOFILE_SOFT; f++) {
			struct stat st;
			int open_now = fcntl(f, F_GETFD) >= 0;

			nchecked++;
			if (open_now != is_high(f)) {
				tp_differs("fd table", "fd %d is %s", f, open_now ? "open" : "closed");
				continue;
			}
			if (open_now && (fstat(f, &st) || st.st_rdev != null_st.st_rdev || !S_ISCHR(st.st_mode)))
				tp_differs("fd table", "fd %d is not /dev/null", f);
		}
	}
	tp_finish(nchecked);
}
