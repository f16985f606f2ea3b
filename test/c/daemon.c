/*
 * daemon.c - what a glibc server such as redis or memcached sets up that
 * the other test programs do not: a malloc arena reserved with
 * MAP_NORESERVE (jemalloc does so where the kernel overcommits) with pages
 * given back by MADV_DONTNEED, transparent huge pages disabled for the
 * process (redis does so where THP is "always"), and an epoll loop serving
 * clients of other processes on a TCP and a unix listener.
 *
 *   daemon READY_FILE [NTCP [NUNIX]]  the server, waiting for NTCP clients
 *                                     on its TCP listener and NUNIX (default
 *                                     NTCP) on its unix one
 *   daemon READY_FILE client PORT PATH
 *                                     a client: connects to 127.0.0.1:PORT
 *                                     (not when PORT is 0) and to the unix
 *                                     socket PATH (not when PATH is -), sends
 *                                     "hello" on each, and stays until SIGUSR2
 *
 * The server listens on 127.0.0.1 (an ephemeral port) and at daemon.sock in
 * the directory of READY_FILE, writes "PORT PATH" to READY_FILE.addr, then
 * the ready file, then accepts the clients on each listener in its epoll loop
 * (level-triggered, EPOLLIN|EPOLLRDHUP, a tag in each event's data) without
 * reading what they sent, writes READY_FILE.accepted, and waits for SIGUSR2.
 *
 * After SIGUSR2 it reads one word from READY_FILE.expect (missing: "live"):
 *   live     the clients are still connected: each one's "hello" is still
 *            queued (MSG_PEEK)
 *   dropped  a dump with --tcp-close dropped them: each client fd is still
 *            a socket, and reads end of file (then the server closes it)
 * and checks in both cases, value by value: the arena's VmFlags say "nr",
 * its pattern pages hold their pattern and its MADV_DONTNEED pages are zero;
 * PR_GET_THP_DISABLE is 1; the epoll set reports exactly each client fd,
 * with its tag, readable; both listeners have their address and accept a
 * fresh connection that carries bytes both ways.
 *
 * CS_TEST_CORRUPT: noreserve (the arena mapped again without
 * MAP_NORESERVE), pattern (a pattern byte changed), dontneed (a dropped page
 * written), thp (THP enabled again), epoll (the first client removed from
 * the epoll set), tag (the first client's tag changed), listener (the TCP
 * listener moved to another port), client (the first client's "hello"
 * read: nothing is queued on it any more).
 */
#define _GNU_SOURCE
#include <limits.h>
#include <poll.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "tprog.h"

#define ARENA_PAGES	4096	/* 16 MiB reserved */
#define MAX_CLIENTS	16
#define TAG_LISTEN_TCP	0x1000
#define TAG_LISTEN_UNIX	0x1001
#define TAG_CLIENT	0x5ca1ab1e00000000ULL

static const char *const modes[] = { "noreserve", "pattern", "dontneed", "thp", "epoll", "tag", "listener",
				     "client", NULL };

static unsigned nchecked;
static uint8_t *arena;
static size_t pagesz;
static int ep, ltcp, lunix, nclients, clients[2 * MAX_CLIENTS];
static uint16_t port;
static char spath[PATH_MAX];

#define check(cond, what, ...)                                  \
	do {                                                    \
		nchecked++;                                     \
		if (!(cond))                                    \
			tp_differs(what, __VA_ARGS__);          \
	} while (0)

/* Pages 0, 3, 6, ... hold a pattern; 1, 4, 7, ... were given back; the
 * rest were never touched. */
static uint8_t pattern(size_t page, size_t i)
{
	return (uint8_t)(page * 31 + i * 7 + 1);
}

static void fill_arena(void)
{
	for (size_t p = 0; p < ARENA_PAGES; p += 3)
		for (size_t i = 0; i < pagesz; i++)
			arena[p * pagesz + i] = pattern(p, i);
	for (size_t p = 1; p < ARENA_PAGES; p += 3) {
		memset(arena + p * pagesz, 0xee, pagesz);
		if (madvise(arena + p * pagesz, pagesz, MADV_DONTNEED))
			tp_die("madvise MADV_DONTNEED");
	}
}

static void map_arena(int flags)
{
	void *want = arena;

	arena = mmap(want, ARENA_PAGES * pagesz, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
	if (arena == MAP_FAILED)
		tp_die("mmap the arena");
	fill_arena();
}

/* The VmFlags line of the mapping at addr in /proc/self/smaps, into out. */
static int vmflags_of(void *addr, char *out, size_t len)
{
	char line[512], want[32];
	FILE *f = fopen("/proc/self/smaps", "r");
	int in = 0;

	if (!f)
		return -1;
	snprintf(want, sizeof(want), "%lx-", (unsigned long)addr);
	while (fgets(line, sizeof(line), f)) {
		if (strchr(line, '-') && strchr(line, ' ') && strchr(line, '-') < strchr(line, ' '))
			in = !strncmp(line, want, strlen(want));
		if (in && !strncmp(line, "VmFlags:", 8)) {
			snprintf(out, len, "%.*s", (int)(len - 1), line + 8);
			out[strcspn(out, "\n")] = 0;
			fclose(f);
			return 0;
		}
	}
	fclose(f);
	return -1;
}

static void add(int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u64 = tag };

	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
		tp_die("epoll_ctl ADD %d", fd);
}

static void listen_both(const char *ready)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	socklen_t l = sizeof(in);
	char dir[PATH_MAX], addr[PATH_MAX + 64], tmp[PATH_MAX + 80];
	int one = 1, fd;

	tp_dirname(ready, dir, sizeof(dir));
	if ((size_t)snprintf(spath, sizeof(spath), "%s/daemon.sock", dir) >= sizeof(un.sun_path))
		tp_die("socket path %s too long", spath);
	ltcp = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (ltcp < 0 || setsockopt(ltcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(ltcp, (struct sockaddr *)&in, sizeof(in)) || listen(ltcp, 64) ||
	    getsockname(ltcp, (struct sockaddr *)&in, &l))
		tp_die("TCP listener");
	port = ntohs(in.sin_port);
	unlink(spath);
	memcpy(un.sun_path, spath, strlen(spath));
	lunix = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (lunix < 0 || bind(lunix, (struct sockaddr *)&un, sizeof(un)) || listen(lunix, 64))
		tp_die("unix listener at %s", spath);
	snprintf(addr, sizeof(addr), "%s.addr", ready);
	snprintf(tmp, sizeof(tmp), "%s.tmp", addr);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || dprintf(fd, "%u %s\n", port, spath) < 0 || close(fd) || rename(tmp, addr))
		tp_die("cannot write %s", addr);
}

/* The epoll loop until ntcp and nunix clients came. */
static void serve(int ntcp, int nunix)
{
	int got_tcp = 0, got_unix = 0;

	while (got_tcp < ntcp || got_unix < nunix) {
		struct epoll_event evs[8];
		int r = epoll_wait(ep, evs, 8, -1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			tp_die("epoll_wait");
		for (int i = 0; i < r; i++) {
			int l = evs[i].data.u64 == TAG_LISTEN_TCP ? ltcp : evs[i].data.u64 == TAG_LISTEN_UNIX ? lunix : -1;
			int c;

			if (l < 0)
				continue;	/* a client: read only at check time */
			c = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (c < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (c < 0 || nclients == 2 * MAX_CLIENTS)
				tp_die("accept");
			clients[nclients] = c;
			add(c, TAG_CLIENT | nclients);
			nclients++;
			*(l == ltcp ? &got_tcp : &got_unix) += 1;
		}
	}
}

static void corrupt(void)
{
	if (tp_corrupting("noreserve")) {
		munmap(arena, ARENA_PAGES * pagesz);
		map_arena(MAP_FIXED);
	} else if (tp_corrupting("pattern")) {
		arena[3 * pagesz + 100] ^= 1;
	} else if (tp_corrupting("dontneed")) {
		arena[4 * pagesz + 5] = 1;
	} else if (tp_corrupting("thp")) {
		prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0);
	} else if (tp_corrupting("epoll") && nclients) {
		epoll_ctl(ep, EPOLL_CTL_DEL, clients[0], NULL);
	} else if (tp_corrupting("tag") && nclients) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u64 = 42 };

		epoll_ctl(ep, EPOLL_CTL_MOD, clients[0], &ev);
	} else if (tp_corrupting("listener")) {
		struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

		if (s < 0 || bind(s, (struct sockaddr *)&in, sizeof(in)) || listen(s, 64) || dup2(s, ltcp) < 0)
			tp_die("moving the listener");
		close(s);
	} else if (tp_corrupting("client") && nclients) {
		char b[8];

		if (recv(clients[0], b, sizeof(b), 0) != 5)
			tp_die("reading the first client's hello");
	}
}

static void read_expect(const char *ready, char *mode, size_t len)
{
	char path[PATH_MAX + 16];
	FILE *f;

	snprintf(mode, len, "live");
	snprintf(path, sizeof(path), "%s.expect", ready);
	f = fopen(path, "r");
	if (!f)
		return;
	if (!fgets(mode, len, f))
		snprintf(mode, len, "live");
	mode[strcspn(mode, " \n")] = 0;
	fclose(f);
}

static void check_memory(void)
{
	char fl[512];
	size_t bad = 0, first = 0;
	int thp = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0);

	check(vmflags_of(arena, fl, sizeof(fl)) == 0 && strstr(fl, " nr"), "arena VmFlags",
	      "got \"%s\", want MAP_NORESERVE (nr)", vmflags_of(arena, fl, sizeof(fl)) ? "(none)" : fl);
	for (size_t p = 0; p < ARENA_PAGES; p++)
		for (size_t i = 0; i < pagesz; i++) {
			uint8_t want = p % 3 == 0 ? pattern(p, i) : 0;

			if (arena[p * pagesz + i] != want && !bad++)
				first = p * pagesz + i;
		}
	check(!bad, "arena contents", "%zu bytes, first at offset %zu: got 0x%02x", bad, first, arena[first]);
	check(thp == 1, "PR_GET_THP_DISABLE", "got %d want 1", thp);
}

static void check_clients(const char *mode)
{
	struct epoll_event evs[2 * MAX_CLIENTS + 4];
	int seen[2 * MAX_CLIENTS] = { 0 }, n = epoll_wait(ep, evs, 2 * MAX_CLIENTS + 4, 0);
	int live = !strcmp(mode, "live");

	if (!live && strcmp(mode, "dropped")) {
		errno = EINVAL;
		tp_die("unknown expectation \"%s\"", mode);
	}
	for (int i = 0; i < n; i++) {
		uint64_t tag = evs[i].data.u64;
		int k = (int)(tag & 0xffffffff);

		check((tag & ~0xffffffffULL) == TAG_CLIENT && k < nclients, "epoll event",
		      "tag 0x%llx is no client's", (unsigned long long)tag);
		if ((tag & ~0xffffffffULL) == TAG_CLIENT && k < nclients) {
			seen[k]++;
			check(evs[i].events & EPOLLIN, "epoll events", "client %d: 0x%x, no EPOLLIN", k, evs[i].events);
		}
	}
	for (int k = 0; k < nclients; k++) {
		char b[16];
		struct stat st;
		ssize_t r = recv(clients[k], b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);

		check(seen[k] == 1, "epoll set", "client %d (fd %d) reported %d times, want once", k, clients[k], seen[k]);
		check(fstat(clients[k], &st) == 0 && S_ISSOCK(st.st_mode), "client fd", "fd %d is not a socket",
		      clients[k]);
		if (live)
			check(r == 5 && !memcmp(b, "hello", 5), "client connection",
			      "fd %d: recv gave %zd (%s), want the queued \"hello\"", clients[k], r,
			      r < 0 ? strerror(errno) : "bytes");
		else
			check(r == 0, "dropped client connection", "fd %d: recv gave %zd (%s), want end of file",
			      clients[k], r, r < 0 ? strerror(errno) : "bytes");
		if (!live)
			close(clients[k]);	/* what a server does at end of file */
	}
}

/* A fresh client on listener l (address a) is accepted and carries bytes. */
static void check_fresh(int l, int family, const struct sockaddr *a, socklen_t al, const char *what)
{
	int c = socket(family, SOCK_STREAM, 0), s = -1;
	struct pollfd p = { l, POLLIN, 0 };
	char b[8] = "";

	if (c < 0 || connect(c, a, al)) {
		check(0, what, "cannot connect: %s", strerror(errno));
		goto out;
	}
	if (poll(&p, 1, 2000) != 1 || (s = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		check(0, what, "no connection to accept: %s", strerror(errno));
		goto out;
	}
	check(send(c, "ping", 4, 0) == 4 && recv(s, b, sizeof(b), 0) == 4 && !memcmp(b, "ping", 4) &&
	      send(s, "pong", 4, 0) == 4 && recv(c, b, sizeof(b), 0) == 4 && !memcmp(b, "pong", 4),
	      what, "bytes did not go both ways");
out:
	if (s >= 0)
		close(s);
	if (c >= 0)
		close(c);
}

static void check_listeners(void)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) }, got;
	struct sockaddr_un un = { .sun_family = AF_UNIX }, gun;
	socklen_t l = sizeof(got), ul = sizeof(gun);

	check(getsockname(ltcp, (struct sockaddr *)&got, &l) == 0 && ntohs(got.sin_port) == port, "TCP listener port",
	      "got %u want %u", ntohs(got.sin_port), port);
	check(getsockname(lunix, (struct sockaddr *)&gun, &ul) == 0 && !strcmp(gun.sun_path, spath),
	      "unix listener path", "got %s want %s", gun.sun_path, spath);
	in.sin_port = htons(port);
	check_fresh(ltcp, AF_INET, (struct sockaddr *)&in, sizeof(in), "TCP listener");
	memcpy(un.sun_path, spath, strlen(spath));
	check_fresh(lunix, AF_UNIX, (struct sockaddr *)&un, sizeof(un), "unix listener");
}

static int client(const char *ready, int argc, char **argv)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	int t, u;

	if (argc != 5 || strlen(argv[4]) >= sizeof(un.sun_path))
		tp_die("usage: daemon READY client PORT PATH");
	in.sin_port = htons(atoi(argv[3]));
	memcpy(un.sun_path, argv[4], strlen(argv[4]));
	if (in.sin_port && ((t = socket(AF_INET, SOCK_STREAM, 0)) < 0 || connect(t, (struct sockaddr *)&in, sizeof(in)) ||
			    send(t, "hello", 5, 0) != 5))
		tp_die("client of port %s", argv[3]);
	if (strcmp(argv[4], "-") && ((u = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
				     connect(u, (struct sockaddr *)&un, sizeof(un)) || send(u, "hello", 5, 0) != 5))
		tp_die("client of %s", argv[4]);
	tp_write_ready(ready);
	tp_wait_usr2();
	return 0;
}

int main(int argc, char **argv)
{
	char path[PATH_MAX + 16], mode[32];
	int ntcp, nunix;

	tp_init("daemon", argc, argv);
	tp_block_usr2();
	if (argc > 2 && !strcmp(argv[2], "client"))
		return client(argv[1], argc, argv);
	tp_corrupt_check_mode(modes);
	ntcp = argc > 2 ? atoi(argv[2]) : 0;
	nunix = argc > 3 ? atoi(argv[3]) : ntcp;
	if (ntcp < 0 || nunix < 0 || ntcp > MAX_CLIENTS || nunix > MAX_CLIENTS)
		tp_die("at most %d clients on each listener", MAX_CLIENTS);
	pagesz = sysconf(_SC_PAGESIZE);
	map_arena(MAP_NORESERVE);
	if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
		tp_die("PR_SET_THP_DISABLE");
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		tp_die("epoll_create1");
	listen_both(argv[1]);
	add(ltcp, TAG_LISTEN_TCP);
	add(lunix, TAG_LISTEN_UNIX);
	tp_write_ready(argv[1]);
	serve(ntcp, nunix);
	corrupt();
	snprintf(path, sizeof(path), "%s.accepted", argv[1]);
	if (close(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)))
		tp_die("cannot create %s", path);
	tp_wait_usr2();
	read_expect(argv[1], mode, sizeof(mode));
	check_memory();
	check_clients(mode);
	check_listeners();
	tp_finish(nchecked);
}
