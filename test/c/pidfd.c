/*
 * pidfd - pidfds held on processes of the tree (pidfd_open(2)), as systemd
 * and Go's os/exec hold them on their children.
 *
 *   pidfd READY_FILE              round trip
 *   pidfd READY_FILE outside PID  holds a pidfd on PID (outside the tree)
 *   pidfd READY_FILE reaped       holds a pidfd on a child it has reaped
 *   pidfd READY_FILE thread       holds a thread pidfd on one of its threads
 *   pidfd READY_FILE epoll        an epoll set watches a pidfd
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
 * Writes the child's PID to READY_FILE.pids. CS_TEST_CORRUPT: pid (the
 * child's pidfd is made one on the parent), flags (PIDFD_NONBLOCK cleared),
 * cloexec (FD_CLOEXEC cleared on the child's pidfd).
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "tprog.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
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

static pid_t idle_tid;

static void *idle(void *a)
{
	(void)a;
	__atomic_store_n(&idle_tid, gettid(), __ATOMIC_SEQ_CST);
	for (;;)
		pause();
	return NULL;
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
	} else if (!strcmp(mode, "reaped")) {
		pid_t c = fork();

		if (c == 0) {
			pause();
			_exit(0);
		}
		fd = pidfd_open(c, 0);
		kill(c, SIGKILL);
		waitpid(c, NULL, 0);
	} else if (!strcmp(mode, "thread")) {
		pthread_t t;

		if (pthread_create(&t, NULL, idle, NULL))
			tp_die("pthread_create");
		while (!__atomic_load_n(&idle_tid, __ATOMIC_SEQ_CST))
			usleep(1000);
		fd = pidfd_open(idle_tid, PIDFD_THREAD);
		if (fd < 0 && errno == EINVAL) {
			tp_log("no PIDFD_THREAD here");
			exit(TP_EXIT_SKIP);
		}
	} else if (!strcmp(mode, "epoll")) {
		struct epoll_event ev = { .events = EPOLLIN };
		int ep = epoll_create1(0);

		fd = pidfd_open(getpid(), 0);
		if (ep < 0 || fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
			tp_die("cannot watch a pidfd with epoll");
	} else
		tp_die("unknown mode %s", mode);
	if (fd < 0)
		tp_die("cannot open the pidfd (%s)", mode);
	tp_write_ready(ready);
	tp_wait_usr2();
	return 0;
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
