/*
 * pidfd - pidfds held on processes of the tree (pidfd_open(2)), as systemd
 * and Go's os/exec hold them on their children.
 *
 *   pidfd READY_FILE              round trip
 *   pidfd READY_FILE epoll        round trip: an epoll set watching pidfds
 *   pidfd READY_FILE thread       round trip: thread pidfds on threads other
 *                                 than a leader, here and in a child
 *   pidfd READY_FILE outside PID  holds a pidfd on PID (outside the tree)
 *   pidfd READY_FILE reaped       round trip: pidfds on children it has reaped
 *
 * Round trip: a zombie child (exit status 7) is not reaped, a pidfd held
 * on it. A child blocks in sigwaitinfo(SIGUSR1) and reports every
 * SIGUSR1 with its getpid() over a pipe. The parent holds a pidfd on it
 * (blocking, FD_CLOEXEC), a dup of that one without FD_CLOEXEC, one on
 * itself with PIDFD_NONBLOCK and, on Linux 6.9+, a thread pidfd
 * (PIDFD_THREAD) on itself. After SIGUSR2 it checks, value by value: the
 * "Pid:" of each fdinfo, O_NONBLOCK and FD_CLOEXEC, the thread flag;
 * pidfd_send_signal through the child's pidfd reaches the child (its
 * report names its PID), through its own reaches itself; poll() says the
 * child runs, then, once the child is killed through its pidfd, readable,
 * and waitid(P_PIDFD) reaps it killed by SIGKILL; the zombie's pidfd says
 * readable, its Pid: is the zombie's, and waitid(P_PIDFD) gets its status.
 *
 * epoll: an epoll set watches the pidfds of a running child, of a zombie
 * child and of the process itself (one-shot), and an eventfd, and holds
 * two one-shot registrations that have fired (the pidfd of a second
 * zombie, an eventfd with a count); after SIGUSR2 the registrations
 * (events, data) in its fdinfo are checked, the set reports the zombie's
 * data at once and nothing else, once the child is killed through its
 * pidfd it reports the child's data with EPOLLIN, and the fired one-shot
 * of the second zombie stays quiet once it is reaped. A second child
 * inherits the set and the pidfds (kcmp(2): the same files after the
 * restore). CS_TEST_CORRUPT:
 * epoll-data (the child's registration gets another data), epoll-del (it
 * is removed), epoll-events (made edge-triggered), epoll-oneshot (the
 * fired one-shot armed again), epoll-heir (the heir's set is another).
 *
 * thread: a thread T of the process and a thread CT of a child, each held
 * by a thread pidfd (T's with PIDFD_NONBLOCK), both watched by an epoll
 * set. After SIGUSR2: "Pid:" is T's (CT's) TID, the flags; a signal sent
 * through each is pending for that thread only (SigPnd of
 * /proc/PID/task/TID/status; not for the leader, not shared); the epoll
 * registrations; once the thread is made to exit through its pidfd, the
 * set reports its data. CS_TEST_CORRUPT: tid (T's pidfd names the leader
 * instead), tflags (PIDFD_NONBLOCK cleared), ctid (CT's names the child's
 * leader).
 *
 * reaped: pidfds on three children that exited and were reaped, as a
 * supervisor holds them between reaping a worker and closing its pidfd:
 * one plain (FD_CLOEXEC), one with PIDFD_NONBLOCK and no FD_CLOEXEC, one
 * registered in an epoll set, and on Linux 6.9+ a thread pidfd
 * (PIDFD_THREAD) on a fourth. After SIGUSR2, for each: fdinfo "Pid: -1",
 * O_NONBLOCK, FD_CLOEXEC, the thread flag, waitid(P_PIDFD) is ECHILD,
 * pidfd_send_signal ESRCH, poll readable; the set's registration (events,
 * data) and epoll_wait reports it at once with its data (EPOLLIN|EPOLLHUP,
 * measured on 6.18). CS_TEST_CORRUPT: rpid (the plain one is a pidfd on a
 * live child instead), rflags (PIDFD_NONBLOCK cleared), rcloexec
 * (FD_CLOEXEC set on the second), rdata (the registration's data changed).
 * A dup of the plain one (no FD_CLOEXEC) and a child that inherits the set
 * and the pidfds: the same open files after the restore (kcmp(2)).
 *
 * Writes the child's PID to READY_FILE.pids. CS_TEST_CORRUPT (round
 * trip): pid (the child's pidfd is made one on the parent), flags
 * (PIDFD_NONBLOCK cleared), cloexec (FD_CLOEXEC cleared on the child's
 * pidfd).
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <linux/kcmp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "tprog.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif
#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif

/* every value counts as checked, differing or not */
#define CK(...) do { tp_check_u64(__VA_ARGS__); checked++; } while (0)

static int pidfd_open(pid_t pid, unsigned flags)
{
	return syscall(SYS_pidfd_open, pid, flags);
}

static int send_sig(int pfd, int sig)
{
	return syscall(SYS_pidfd_send_signal, pfd, sig, NULL, 0);
}

/* "Pid:" and "flags:" of our fd */
static void fdinfo(int fd, long *pid, unsigned *flags)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		tp_die("cannot read %s", path);
	*pid = -2;
	*flags = 0;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "Pid: %ld", pid);
		sscanf(line, "flags: %o", flags);
	}
	fclose(f);
}

static void write_pids(const char *ready, pid_t child)
{
	char p[4096];
	FILE *f;

	snprintf(p, sizeof(p), "%s.pids", ready);
	f = fopen(p, "we");
	if (!f || fprintf(f, "%d\n", child) < 0 || fclose(f))
		tp_die("cannot write %s", p);
}

/* Refusal modes: hold the pidfd and wait; never checked. */
static int refusal(const char *ready, const char *mode, const char *arg)
{
	int fd = -1;

	if (!strcmp(mode, "outside")) {
		fd = pidfd_open(arg ? atoi(arg) : 1, 0);
	} else
		tp_die("unknown mode %s", mode);
	if (fd < 0)
		tp_die("cannot open the pidfd (%s)", mode);
	tp_write_ready(ready);
	tp_wait_usr2();
	return 0;
}

/* ---- epoll: an epoll set watching pidfds ------------------------------- */

#define D_CHILD 0x1122334455667788ULL
#define D_ZOMB 0x0badc0ffee000007ULL
#define D_SELF 0x5e1f5e1f00000001ULL
#define D_EVFD 0xe7e7e7e7e7e7e7e7ULL
#define D_ZOMB2 0x0badc0ffee000008ULL
#define D_EVFD2 0xe7e7e7e7e7e7e7e8ULL
#define D_T 0x7777000000000001ULL
#define D_CT 0x7777000000000002ULL

/* The registration of fd tfd in epoll set ep, from its fdinfo: 0, or -1 if none. */
static int ep_reg(int ep, int tfd, unsigned *events, unsigned long long *data)
{
	char path[64], line[256];
	int ret = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", ep);
	f = fopen(path, "re");
	if (!f)
		tp_die("cannot read %s", path);
	while (fgets(line, sizeof(line), f)) {
		int t;

		if (sscanf(line, "tfd: %d events: %x data: %llx", &t, events, data) == 3 && t == tfd) {
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

/* How many registrations epoll set ep has. */
static unsigned ep_count(int ep)
{
	char path[64], line[256];
	unsigned n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", ep);
	f = fopen(path, "re");
	if (!f)
		tp_die("cannot read %s", path);
	while (fgets(line, sizeof(line), f))
		n += !strncmp(line, "tfd:", 4);
	fclose(f);
	return n;
}

/* Check fd tfd's registration in ep: events (as fdinfo shows them) and data. */
static unsigned ck_reg(const char *what, int ep, int tfd, unsigned events, unsigned long long data)
{
	unsigned long long d = 0;
	unsigned ev = 0;
	char w[128];

	if (ep_reg(ep, tfd, &ev, &d)) {
		tp_differs(what, "fd %d is not in the epoll set", tfd);
		return 1;
	}
	snprintf(w, sizeof(w), "%s: events", what);
	tp_check_u64(w, ev, events);
	snprintf(w, sizeof(w), "%s: data", what);
	tp_check_u64(w, d, data);
	return 2;
}

/* epoll_wait on ep for up to ms until data is reported: its events, or 0. */
static unsigned ep_wait_for(int ep, unsigned long long data, int ms)
{
	struct epoll_event ev[8];
	struct timespec t0, now;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int n = epoll_wait(ep, ev, 8, 100);

		for (int i = 0; i < n; i++)
			if (ev[i].data.u64 == data)
				return ev[i].events;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 > ms)
			return 0;
		if (n > 0)
			usleep(10000);	/* others, level-triggered, return at once */
	}
}

static void add(int ep, int fd, unsigned events, unsigned long long data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };

	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
		tp_die("epoll_ctl(ADD) of fd %d", fd);
}

static int run_epoll(const char *ready)
{
	static const char *const modes[] = { "epoll-data", "epoll-del", "epoll-events", "epoll-oneshot", "epoll-heir",
					      NULL };
	const unsigned lt = EPOLLIN | EPOLLERR | EPOLLHUP;	/* EPOLL_CTL_ADD adds ERR|HUP */
	int ep, pchild, pzomb, pzomb2, pself, evfd, evfd2, n;
	unsigned checked = 0;
	pid_t child, zombie, zombie2, heir;
	struct epoll_event got[8];
	siginfo_t si;

	tp_corrupt_check_mode(modes);
	child = fork();
	if (child < 0)
		tp_die("fork");
	if (child == 0)
		for (;;)
			pause();
	zombie = fork();
	if (zombie == 0)
		_exit(7);
	zombie2 = fork();
	if (zombie2 == 0)
		_exit(8);
	pchild = pidfd_open(child, 0);
	pzomb = pidfd_open(zombie, 0);
	pzomb2 = pidfd_open(zombie2, 0);
	pself = pidfd_open(getpid(), PIDFD_NONBLOCK);
	evfd = eventfd(0, EFD_CLOEXEC);
	evfd2 = eventfd(1, EFD_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (pchild < 0 || pzomb < 0 || pzomb2 < 0 || pself < 0 || evfd < 0 || evfd2 < 0 || ep < 0)
		tp_die("pidfd_open, eventfd or epoll_create1");
	poll(&(struct pollfd){ .fd = pzomb, .events = POLLIN }, 1, 5000);	/* zombies now */
	poll(&(struct pollfd){ .fd = pzomb2, .events = POLLIN }, 1, 5000);
	/* one-shots that fire at once: the second zombie's pidfd, an eventfd */
	add(ep, pzomb2, EPOLLIN | EPOLLONESHOT, D_ZOMB2);
	add(ep, evfd2, EPOLLIN | EPOLLONESHOT, D_EVFD2);
	if (epoll_wait(ep, got, 8, 1000) != 2)	/* both ready: they fire together */
		tp_die("the one-shots did not fire");
	add(ep, pchild, EPOLLIN, D_CHILD);
	add(ep, pzomb, EPOLLIN, D_ZOMB);
	add(ep, pself, EPOLLIN | EPOLLONESHOT, D_SELF);
	add(ep, evfd, EPOLLIN, D_EVFD);
	/* a child that inherits the set and the pidfds: the same open files */
	heir = fork();
	if (heir == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (tp_corrupting("epoll-heir"))	/* a set of its own */
			dup3(epoll_create1(0), ep, O_CLOEXEC);
		for (;;)
			pause();
	}
	write_pids(ready, child);
	if (tp_corrupting("epoll-data"))
		epoll_ctl(ep, EPOLL_CTL_MOD, pchild, &(struct epoll_event){ .events = EPOLLIN, .data.u64 = ~D_CHILD });
	if (tp_corrupting("epoll-del"))
		epoll_ctl(ep, EPOLL_CTL_DEL, pchild, NULL);
	if (tp_corrupting("epoll-events"))
		epoll_ctl(ep, EPOLL_CTL_MOD, pchild,
			  &(struct epoll_event){ .events = EPOLLIN | EPOLLET, .data.u64 = D_CHILD });
	if (tp_corrupting("epoll-oneshot"))	/* armed again */
		epoll_ctl(ep, EPOLL_CTL_MOD, pzomb2,
			  &(struct epoll_event){ .events = EPOLLIN | EPOLLONESHOT, .data.u64 = D_ZOMB2 });
	tp_write_ready(ready);
	tp_wait_usr2();

	CK("the heir's epoll set: the same file", syscall(SYS_kcmp, getpid(), heir, KCMP_FILE, ep, ep), 0);
	CK("the heir's pidfd on the child: the same file", syscall(SYS_kcmp, getpid(), heir, KCMP_FILE, pchild, pchild),
	   0);
	send_sig(pidfd_open(heir, 0), SIGKILL);
	waitpid(heir, NULL, 0);
	CK("epoll set: registrations", ep_count(ep), 6);
	/* fired: EPOLLONESHOT alone left (fs/eventpoll.c EP_PRIVATE_BITS) */
	checked += ck_reg("second zombie's pidfd in the set (one-shot, fired)", ep, pzomb2, EPOLLONESHOT, D_ZOMB2);
	checked += ck_reg("second eventfd in the set (one-shot, fired)", ep, evfd2, EPOLLONESHOT, D_EVFD2);
	checked += ck_reg("child's pidfd in the set", ep, pchild, lt, D_CHILD);
	checked += ck_reg("zombie's pidfd in the set", ep, pzomb, lt, D_ZOMB);
	checked += ck_reg("own pidfd in the set", ep, pself, lt | EPOLLONESHOT, D_SELF);
	checked += ck_reg("eventfd in the set", ep, evfd, lt, D_EVFD);
	/* the zombie's pidfd is readable at once, nothing else */
	n = epoll_wait(ep, got, 8, 0);
	CK("epoll_wait at once: events", n, 1);
	CK("epoll_wait at once: the zombie's data", n >= 1 ? got[0].data.u64 : 0, D_ZOMB);
	CK("epoll_wait at once: EPOLLIN", n >= 1 ? got[0].events & EPOLLIN : 0, EPOLLIN);
	/* the child killed through its pidfd: the set reports it */
	if (send_sig(pchild, SIGKILL))
		tp_differs("child's pidfd", "pidfd_send_signal(SIGKILL): %s", strerror(errno));
	CK("epoll_wait after the kill: the child's pidfd, EPOLLIN", ep_wait_for(ep, D_CHILD, 3000) & EPOLLIN, EPOLLIN);
	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, pchild, &si, WEXITED))
		tp_differs("child's pidfd", "waitid(P_PIDFD): %s", strerror(errno));
	CK("waitid(P_PIDFD): the child's pid", si.si_pid, child);
	memset(&si, 0, sizeof(si));
	waitid(P_PIDFD, pzomb, &si, WEXITED | WNOHANG);
	CK("waitid(P_PIDFD): the zombie's status", si.si_code == CLD_EXITED ? si.si_status : -1, 7);
	memset(&si, 0, sizeof(si));
	waitid(P_PIDFD, pzomb2, &si, WEXITED | WNOHANG);
	CK("waitid(P_PIDFD): the second zombie's status", si.si_code == CLD_EXITED ? si.si_status : -1, 8);
	/* reaped, its pidfd reports EPOLLIN|EPOLLHUP: the fired one-shot stays quiet */
	CK("fired one-shot of the second zombie, once reaped", ep_wait_for(ep, D_ZOMB2, 300), 0);
	tp_finish(checked);
}

/* ---- thread: thread pidfds on threads other than a leader -------------- */

#define SIG_PROBE (SIGRTMIN + 3)	/* sent through a thread pidfd, stays pending */
#define SIG_QUIT (SIGRTMIN + 4)		/* makes the thread return */

static pid_t t_tid;

/* Wait for SIG_QUIT (blocked), then return: the thread exits. */
static void *quitter(void *a)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIG_QUIT);
	__atomic_store_n(&t_tid, gettid(), __ATOMIC_SEQ_CST);
	while (sigwaitinfo(&s, NULL) != SIG_QUIT)
		;
	(void)a;
	return NULL;
}

/* Field key (a hex signal mask) of /proc/PID/task/TID/status. */
static uint64_t task_mask(pid_t pid, pid_t tid, const char *key)
{
	char path[96], line[256];
	uint64_t m = ~0ULL;
	size_t kl = strlen(key);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	f = fopen(path, "re");
	if (!f)
		return ~0ULL;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':')
			m = strtoull(line + kl + 1, NULL, 16);
	fclose(f);
	return m;
}

/*
 * Thread pidfd pfd of thread tid of process pid (leader leader): its Pid:,
 * flags, a SIG_PROBE through it pending for that thread only.
 */
static unsigned ck_thread_pidfd(const char *what, int pfd, pid_t pid, pid_t tid, unsigned nonblock)
{
	const uint64_t bit = 1ULL << (SIG_PROBE - 1);
	unsigned fl, n = 0;
	char w[128];
	long p;

	fdinfo(pfd, &p, &fl);
#define CKW(s, g, x) do { snprintf(w, sizeof(w), "%s: %s", what, s); tp_check_u64(w, g, x); n++; } while (0)
	CKW("Pid", p, tid);
	CKW("thread flag (O_EXCL)", fl & O_EXCL, O_EXCL);
	CKW("O_NONBLOCK", fl & O_NONBLOCK, nonblock);
	if (send_sig(pfd, SIG_PROBE))
		tp_differs(what, "pidfd_send_signal: %s", strerror(errno));
	CKW("signal pending for the thread", task_mask(pid, tid, "SigPnd") & bit, bit);
	CKW("signal pending for the leader", task_mask(pid, pid, "SigPnd") & bit, 0);
	CKW("signal pending for the process", task_mask(pid, pid, "ShdPnd") & bit, 0);
#undef CKW
	return n;
}

static int run_thread(const char *ready)
{
	static const char *const modes[] = { "tid", "tflags", "ctid", NULL };
	const unsigned lt = EPOLLIN | EPOLLERR | EPOLLHUP;
	int tp[2], pt, pct, pchild, ep;
	pid_t child, ct = 0, me = getpid();
	unsigned checked = 0;
	pthread_t t;
	sigset_t s;
	siginfo_t si;

	tp_corrupt_check_mode(modes);
	sigemptyset(&s);
	sigaddset(&s, SIG_PROBE);
	sigaddset(&s, SIG_QUIT);
	sigprocmask(SIG_BLOCK, &s, NULL);	/* every thread: the probe stays pending */
	if (pipe2(tp, O_CLOEXEC))
		tp_die("pipe");
	child = fork();
	if (child < 0)
		tp_die("fork");
	if (child == 0) {
		pthread_t c;

		if (pthread_create(&c, NULL, quitter, NULL))
			_exit(3);
		while (!__atomic_load_n(&t_tid, __ATOMIC_SEQ_CST))
			usleep(1000);
		if (write(tp[1], &t_tid, sizeof(t_tid)) != sizeof(t_tid))
			_exit(3);
		for (;;)
			pause();
	}
	if (read(tp[0], &ct, sizeof(ct)) != sizeof(ct))
		tp_die("no thread ID from the child");
	close(tp[0]);
	close(tp[1]);
	if (pthread_create(&t, NULL, quitter, NULL))
		tp_die("pthread_create");
	while (!__atomic_load_n(&t_tid, __ATOMIC_SEQ_CST))
		usleep(1000);
	pt = pidfd_open(t_tid, PIDFD_THREAD | PIDFD_NONBLOCK);
	if (pt < 0 && errno == EINVAL) {
		tp_log("no PIDFD_THREAD here");
		kill(child, SIGKILL);
		exit(TP_EXIT_SKIP);
	}
	pct = pidfd_open(ct, PIDFD_THREAD);
	pchild = pidfd_open(child, 0);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (pt < 0 || pct < 0 || pchild < 0 || ep < 0)
		tp_die("pidfd_open or epoll_create1");
	write_pids(ready, child);
	if (tp_corrupting("tid"))
		dup2(pidfd_open(me, PIDFD_THREAD | PIDFD_NONBLOCK), pt);
	if (tp_corrupting("tflags"))
		fcntl(pt, F_SETFL, 0);
	if (tp_corrupting("ctid"))
		dup2(pidfd_open(child, PIDFD_THREAD), pct);
	add(ep, pt, EPOLLIN, D_T);
	add(ep, pct, EPOLLIN, D_CT);
	tp_write_ready(ready);
	tp_wait_usr2();

	checked += ck_thread_pidfd("thread pidfd on T", pt, me, t_tid, O_NONBLOCK);
	checked += ck_thread_pidfd("thread pidfd on the child's CT", pct, child, ct, 0);
	CK("epoll set: registrations", ep_count(ep), 2);
	checked += ck_reg("T's thread pidfd in the set", ep, pt, lt, D_T);
	checked += ck_reg("CT's thread pidfd in the set", ep, pct, lt, D_CT);
	CK("epoll_wait while the threads run", epoll_wait(ep, &(struct epoll_event){ 0 }, 1, 0), 0);
	/* each thread made to exit through its pidfd: the set reports it */
	if (send_sig(pt, SIG_QUIT))
		tp_differs("thread pidfd on T", "pidfd_send_signal: %s", strerror(errno));
	CK("epoll_wait once T exits: EPOLLIN", ep_wait_for(ep, D_T, 3000) & EPOLLIN, EPOLLIN);
	if (send_sig(pct, SIG_QUIT))
		tp_differs("thread pidfd on CT", "pidfd_send_signal: %s", strerror(errno));
	CK("epoll_wait once CT exits: EPOLLIN", ep_wait_for(ep, D_CT, 3000) & EPOLLIN, EPOLLIN);
	send_sig(pchild, SIGKILL);
	memset(&si, 0, sizeof(si));
	waitid(P_PIDFD, pchild, &si, WEXITED);
	CK("waitid(P_PIDFD): the child killed", si.si_code == CLD_KILLED ? si.si_status : 0, SIGKILL);
	tp_finish(checked);
}

#define D_REAPED 0x4ea9ed0000000003ULL

/* A child that exits at once, reaped; the pidfd opened on it (flags) before. */
static int reaped_pidfd(unsigned flags)
{
	pid_t c = fork();
	int fd;

	if (c < 0)
		tp_die("fork");
	if (c == 0)
		_exit(0);
	fd = pidfd_open(c, flags);	/* ours, not waited for: at worst a zombie */
	waitpid(c, NULL, 0);
	return fd;
}

/* Each check of a reaped pidfd; the number of values checked. */
static unsigned ck_reaped(const char *what, int fd, unsigned nonblock, int cloexec, unsigned thread)
{
	char w[128];
	long pid;
	unsigned fl, n = 0;
	siginfo_t si;
	int r, e;

	fdinfo(fd, &pid, &fl);
	snprintf(w, sizeof(w), "%s: Pid", what);
	tp_check_u64(w, pid, -1), n++;
	snprintf(w, sizeof(w), "%s: O_NONBLOCK", what);
	tp_check_u64(w, fl & O_NONBLOCK, nonblock), n++;
	snprintf(w, sizeof(w), "%s: thread flag (O_EXCL)", what);
	tp_check_u64(w, fl & O_EXCL, thread), n++;
	snprintf(w, sizeof(w), "%s: FD_CLOEXEC", what);
	tp_check_u64(w, fcntl(fd, F_GETFD), cloexec ? FD_CLOEXEC : 0), n++;
	memset(&si, 0, sizeof(si));
	r = waitid(P_PIDFD, fd, &si, WEXITED | WNOHANG);
	e = r < 0 ? errno : 0;
	snprintf(w, sizeof(w), "%s: waitid(P_PIDFD) errno (ECHILD %d)", what, ECHILD);
	tp_check_u64(w, e, ECHILD), n++;
	r = send_sig(fd, 0);
	e = r < 0 ? errno : 0;
	snprintf(w, sizeof(w), "%s: pidfd_send_signal errno (ESRCH %d)", what, ESRCH);
	tp_check_u64(w, e, ESRCH), n++;
	snprintf(w, sizeof(w), "%s: poll readable", what);
	tp_check_u64(w, poll(&(struct pollfd){ .fd = fd, .events = POLLIN }, 1, 0), 1), n++;
	return n;
}

static int run_reaped(const char *ready)
{
	static const char *const modes[] = { "rpid", "rflags", "rcloexec", "rdata", NULL };
	int plain, nb, watched, thr, ep, n, pdup;
	unsigned checked = 0, ev;
	struct epoll_event got[4];
	pid_t live = 0, heir;

	tp_corrupt_check_mode(modes);
	plain = reaped_pidfd(0);
	nb = reaped_pidfd(PIDFD_NONBLOCK);
	watched = reaped_pidfd(0);
	thr = reaped_pidfd(PIDFD_THREAD);	/* Linux 6.9 */
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (plain < 0 || nb < 0 || watched < 0 || ep < 0)
		tp_die("pidfd_open of a child that exits, or epoll_create1");
	if (thr < 0)
		tp_log("no PIDFD_THREAD here (%s): not checked", strerror(errno));
	fcntl(nb, F_SETFD, 0);
	add(ep, watched, EPOLLIN, D_REAPED);
	/* measured: what the set reports of a reaped pidfd */
	n = epoll_wait(ep, got, 4, 0);
	if (n != 1 || got[0].data.u64 != D_REAPED)
		tp_die("the set does not report the reaped pidfd before the dump (%d)", n);
	ev = got[0].events;
	tp_log("a reaped pidfd in an epoll set reports events %#x", ev);
	if (tp_corrupting("rpid")) {
		live = fork();
		if (live == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			for (;;)
				pause();
		}
		dup3(pidfd_open(live, 0), plain, O_CLOEXEC);
	}
	if (tp_corrupting("rflags"))
		fcntl(nb, F_SETFL, 0);
	if (tp_corrupting("rcloexec"))
		fcntl(nb, F_SETFD, FD_CLOEXEC);
	if (tp_corrupting("rdata"))
		epoll_ctl(ep, EPOLL_CTL_MOD, watched, &(struct epoll_event){ .events = EPOLLIN, .data.u64 = ~D_REAPED });
	pdup = dup(plain);	/* the same open file, without FD_CLOEXEC */
	/* a child that inherits the set and the pidfds: the same open files */
	heir = fork();
	if (heir == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	write_pids(ready, getpid());
	tp_write_ready(ready);
	tp_wait_usr2();

	CK("the heir's epoll set: the same file", syscall(SYS_kcmp, getpid(), heir, KCMP_FILE, ep, ep), 0);
	CK("the heir's reaped pidfd (PIDFD_NONBLOCK): the same file",
	   syscall(SYS_kcmp, getpid(), heir, KCMP_FILE, nb, nb), 0);
	CK("dup of the reaped child's pidfd: the same file", syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, plain, pdup),
	   0);
	send_sig(pidfd_open(heir, 0), SIGKILL);
	waitpid(heir, NULL, 0);
	checked += ck_reaped("dup of the reaped child's pidfd", pdup, 0, 0, 0);
	checked += ck_reaped("reaped child's pidfd", plain, 0, 1, 0);
	checked += ck_reaped("reaped child's pidfd (PIDFD_NONBLOCK, no FD_CLOEXEC)", nb, O_NONBLOCK, 0, 0);
	checked += ck_reaped("reaped child's pidfd in the epoll set", watched, 0, 1, 0);
	if (thr >= 0)
		checked += ck_reaped("reaped child's thread pidfd", thr, 0, 1, O_EXCL);
	CK("epoll set: registrations", ep_count(ep), 1);
	checked += ck_reg("reaped child's pidfd in the set", ep, watched, EPOLLIN | EPOLLERR | EPOLLHUP, D_REAPED);
	memset(got, 0, sizeof(got));
	n = epoll_wait(ep, got, 4, 0);
	CK("epoll_wait: events", n, 1);
	CK("epoll_wait: the reaped pidfd's data", n >= 1 ? got[0].data.u64 : 0, D_REAPED);
	CK("epoll_wait: the events (as before the dump)", n >= 1 ? got[0].events : 0, ev);
	if (live > 0)
		kill(live, SIGKILL);
	tp_finish(checked);
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "pid", "flags", "cloexec", NULL };
	int rp[2], pchild, pdup, pself, pthr, pzomb;
	unsigned checked = 0, fl;
	pid_t child, zombie, me = getpid();
	long pid;
	sigset_t usr1;

	tp_init("pidfd", argc, argv);
	tp_block_usr2();
	if (argc > 2 && !strcmp(argv[2], "epoll"))
		return run_epoll(argv[1]);
	if (argc > 2 && !strcmp(argv[2], "thread"))
		return run_thread(argv[1]);
	if (argc > 2 && !strcmp(argv[2], "reaped"))
		return run_reaped(argv[1]);
	if (argc > 2)
		return refusal(argv[1], argv[2], argc > 3 ? argv[3] : NULL);
	tp_corrupt_check_mode(modes);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	if (pipe2(rp, O_CLOEXEC))
		tp_die("pipe");
	child = fork();
	if (child < 0)
		tp_die("fork");
	if (child == 0) {
		close(rp[0]);
		for (;;) {
			pid_t p = getpid();

			if (sigwaitinfo(&usr1, NULL) == SIGUSR1 && write(rp[1], &p, sizeof(p)) != sizeof(p))
				_exit(3);
		}
	}
	pchild = pidfd_open(child, 0);
	pself = pidfd_open(me, O_NONBLOCK);	/* PIDFD_NONBLOCK */
	if (pchild < 0 || pself < 0)
		tp_die("pidfd_open");
	/* a zombie not reaped: its pidfd reports the exit, waitid its status */
	zombie = fork();
	if (zombie == 0)
		_exit(7);
	pzomb = pidfd_open(zombie, 0);
	if (pzomb < 0)
		tp_die("pidfd_open of the zombie");
	{
		struct pollfd p = { .fd = pzomb, .events = POLLIN };

		poll(&p, 1, 5000);	/* a zombie once this returns */
	}
	pdup = dup(pchild);	/* shares the open file, without FD_CLOEXEC */
	pthr = pidfd_open(me, PIDFD_THREAD);	/* Linux 6.9 */
	if (pthr < 0)
		tp_log("no PIDFD_THREAD here (%s): not checked", strerror(errno));
	write_pids(argv[1], child);
	if (tp_corrupting("pid")) {
		/* a decoy that reports like the child: the pidfd names it instead */
		pid_t d = fork();

		if (d == 0) {
			for (;;) {
				pid_t p = getpid();

				if (sigwaitinfo(&usr1, NULL) == SIGUSR1 && write(rp[1], &p, sizeof(p)) != sizeof(p))
					_exit(3);
			}
		}
		dup2(pidfd_open(d, 0), pchild);
	}
	close(rp[1]);	/* after the decoy took it */
	if (tp_corrupting("flags"))
		fcntl(pself, F_SETFL, 0);
	if (tp_corrupting("cloexec"))
		fcntl(pchild, F_SETFD, 0);
	tp_write_ready(argv[1]);
	tp_wait_usr2();

	fdinfo(pchild, &pid, &fl);
	CK("child's pidfd: Pid", pid, child);
	CK("child's pidfd: O_NONBLOCK", fcntl(pchild, F_GETFL) & O_NONBLOCK, 0);
	CK("child's pidfd: FD_CLOEXEC", fcntl(pchild, F_GETFD), FD_CLOEXEC);
	fdinfo(pdup, &pid, &fl);
	CK("dup of the child's pidfd: Pid", pid, child);
	CK("dup of the child's pidfd: FD_CLOEXEC", fcntl(pdup, F_GETFD), 0);
	fdinfo(pself, &pid, &fl);
	CK("own pidfd: Pid", pid, me);
	CK("own pidfd: O_NONBLOCK", fcntl(pself, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
	CK("own pidfd: thread flag", fl & O_EXCL, 0);
	if (pthr >= 0) {
		fdinfo(pthr, &pid, &fl);
		CK("thread pidfd: Pid", pid, me);
		CK("thread pidfd: thread flag (O_EXCL)", fl & O_EXCL, O_EXCL);
		CK("thread pidfd: O_NONBLOCK", fl & O_NONBLOCK, 0);
	}
	fdinfo(pzomb, &pid, &fl);
	CK("zombie's pidfd: Pid", pid, zombie);
	{
		struct pollfd p = { .fd = pzomb, .events = POLLIN };
		siginfo_t si;

		CK("zombie's pidfd: poll", poll(&p, 1, 0), 1);
		memset(&si, 0, sizeof(si));
		if (waitid(P_PIDFD, pzomb, &si, WEXITED | WNOHANG))
			tp_differs("zombie's pidfd", "waitid(P_PIDFD): %s", strerror(errno));
		CK("zombie's pidfd: waitid pid", si.si_pid, zombie);
		CK("zombie's pidfd: exit status", si.si_code == CLD_EXITED ? si.si_status : -1, 7);
	}
	/* a signal through each reaches its process */
	{
		pid_t got = 0;
		sigset_t pend;

		if (send_sig(pchild, SIGUSR1))
			tp_differs("child's pidfd", "pidfd_send_signal: %s", strerror(errno));
		else if (poll(&(struct pollfd){ .fd = rp[0], .events = POLLIN }, 1, 5000) != 1 ||
			 read(rp[0], &got, sizeof(got)) != sizeof(got))
			tp_differs("child's pidfd", "no report from the child");
		CK("child's pidfd: SIGUSR1 reached pid", got, child);
		if (send_sig(pself, SIGUSR1))
			tp_differs("own pidfd", "pidfd_send_signal: %s", strerror(errno));
		sigpending(&pend);
		CK("own pidfd: SIGUSR1 pending here", sigismember(&pend, SIGUSR1), 1);
	}
	/* poll: running, then readable once killed through it */
	{
		struct pollfd p = { .fd = pchild, .events = POLLIN };
		siginfo_t si;

		CK("child's pidfd: poll while it runs", poll(&p, 1, 0), 0);
		if (send_sig(pchild, SIGKILL))
			tp_differs("child's pidfd", "pidfd_send_signal(SIGKILL): %s", strerror(errno));
		CK("child's pidfd: poll after the kill", poll(&p, 1, 5000), 1);
		CK("child's pidfd: POLLIN", p.revents & POLLIN, POLLIN);
		memset(&si, 0, sizeof(si));
		if (waitid(P_PIDFD, pdup, &si, WEXITED | WNOHANG))
			tp_differs("dup of the child's pidfd", "waitid(P_PIDFD): %s", strerror(errno));
		CK("waitid(P_PIDFD): pid", si.si_pid, child);
		CK("waitid(P_PIDFD): SIGKILL", si.si_code == CLD_KILLED ? si.si_status : 0,
					 SIGKILL);
	}
	send_sig(pdup, SIGKILL);	/* whatever went wrong, the child goes */
	waitid(P_PIDFD, pdup, &(siginfo_t){ 0 }, WEXITED | WNOHANG);
	tp_finish(checked);
}
