/*
 * forker.c - a process that forks short-lived children all the time, for
 * the tree seize retry of cs-dump (tprog.h protocol).
 *
 *   forker READY [PERIOD_US [reap|threads]]
 *   forker READY leader-exit      one child whose main thread has called
 *                                 pthread_exit while another thread runs
 *                                 (refused: it looks like a zombie)
 *
 * The parent forks a child every PERIOD_US microseconds (default 1000);
 * each child sleeps about 1.5 ms and exits with a status of its own
 * (1 + its number % 100). The parent reaps its children as they exit
 * (SIGCHLD is left at its default, so an exited child stays a zombie until
 * then) and checks each status against the one it gave the child. So at
 * any moment a few children are alive and a few are zombies, and new ones
 * appear while cs-dump walks the tree. With "reap", SIGCHLD is ignored
 * instead: the kernel reaps each child as it exits (no zombie ever), and
 * the parent keeps no record of them. With "threads", a second thread of
 * the parent also creates a short-lived thread every PERIOD_US and joins
 * it (threads exit while cs-dump seizes the parent's threads).
 *
 * On SIGUSR2 the parent forks 5 more children, then waits for every child
 * it has not reaped yet, and checks: each one's exit status, that none is
 * missing (waitpid ECHILD: a child the restore lost), its PID, and a
 * 64 KiB buffer it filled at start.
 *
 * CS_TEST_CORRUPT: memory (a byte of the buffer changes), lost (the parent
 * expects a child that does not exist), status (it expects another status
 * from the next child it reaps).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include "tprog.h"

#define MAX_KIDS 4096
#define BUF_SIZE (64 << 10)

static struct kid { pid_t pid; int status; } kids[MAX_KIDS];
static size_t nr_kids;
static unsigned char buf[BUF_SIZE];
static unsigned long forked, bad;
static int autoreap;
static long period_us;
static volatile int stop_threads;

static void *short_thread(void *arg)
{
	return arg;
}

/* Creates and joins a thread every period until told to stop. */
static void *spawner(void *arg)
{
	struct timespec ts = { 0, period_us * 1000 };

	while (!stop_threads) {
		pthread_t t;
		void *r;

		if (pthread_create(&t, NULL, short_thread, arg) == 0)
			pthread_join(t, &r);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void fill(unsigned char *b)
{
	for (size_t i = 0; i < BUF_SIZE; i++)
		b[i] = (unsigned char)(i * 131 + 7);
}

static void got(pid_t pid, int st)
{
	for (size_t i = 0; i < nr_kids; i++) {
		if (kids[i].pid != pid)
			continue;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != kids[i].status) {
			tp_differs("child status", "child %d: got %#x want exit %d", pid, st, kids[i].status);
			bad++;
		}
		kids[i] = kids[--nr_kids];
		return;
	}
	tp_differs("children", "reaped %d, which this process never forked", pid);
	bad++;
}

static void reap_ready(void)
{
	int st;
	pid_t p;

	while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
		if (autoreap) {
			tp_differs("children", "SIGCHLD is ignored, but child %d was a zombie (status %#x)", p, st);
			continue;
		}
		got(p, st);
	}
}

static void fork_one(void)
{
	int status = 1 + forked % 100;
	pid_t p;

	if (nr_kids == MAX_KIDS)
		return;
	p = fork();
	if (p < 0)
		tp_die("fork");
	if (p == 0) {
		struct timespec ts = { 0, 1500 * 1000 };

		nanosleep(&ts, NULL);
		_exit(status);
	}
	forked++;
	if (autoreap)
		return;
	kids[nr_kids].pid = p;
	kids[nr_kids].status = status;
	nr_kids++;
}

static void *sleeper(void *arg)
{
	for (;;)
		pause();
	return arg;
}

static int leader_exit(const char *ready)
{
	pid_t p = fork();

	if (p < 0)
		tp_die("fork");
	if (p == 0) {
		pthread_t t;

		/* the test kills the parent: this child goes with it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1 || pthread_create(&t, NULL, sleeper, NULL))
			_exit(2);
		pthread_exit(NULL);
	}
	tp_write_ready(ready);
	tp_wait_usr2();
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
	tp_finish(0);
}

int main(int argc, char **argv)
{
	static const char *modes[] = { "memory", "lost", "status", NULL };
	long period = argc > 2 ? atol(argv[2]) : 1000;
	struct timespec ts = { 0, period * 1000 };
	unsigned char want[BUF_SIZE];
	unsigned long at_ready = 0;
	unsigned checked = 0;
	pid_t me = getpid();
	sigset_t usr2;
	int ready = 0;

	tp_init("forker", argc, argv);
	tp_corrupt_check_mode(modes);
	if (argc > 2 && !strcmp(argv[2], "leader-exit")) {
		tp_block_usr2();
		return leader_exit(argv[1]);
	}
	autoreap = argc > 3 && !strcmp(argv[3], "reap");
	if (autoreap)
		signal(SIGCHLD, SIG_IGN);
	tp_block_usr2();
	period_us = period;
	if (argc > 3 && !strcmp(argv[3], "threads")) {
		pthread_t sp;

		if (pthread_create(&sp, NULL, spawner, NULL))
			tp_die("pthread_create");
		pthread_detach(sp);
	}
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	fill(buf);
	for (;;) {
		fork_one();
		reap_ready();
		if (!ready && forked >= 20) {
			ready = 1;
			at_ready = forked;
			if (tp_corrupting("memory"))
				buf[BUF_SIZE / 2] ^= 1;
			if (tp_corrupting("lost") && nr_kids < MAX_KIDS) {
				kids[nr_kids].pid = me;	/* never a child of its own */
				kids[nr_kids++].status = 1;
			}
			if (tp_corrupting("status") && nr_kids)
				kids[0].status = 101;
			tp_write_ready(argv[1]);
		}
		/* the period's sleep, and the wake-up */
		if (sigtimedwait(&usr2, NULL, &ts) == SIGUSR2)
			break;
	}
	stop_threads = 1;
	/* forking works after a restore too: a few more, reaped below */
	for (int i = 0; i < 5; i++)
		fork_one();
	while (nr_kids) {
		int st;
		pid_t p;

		p = waitpid(kids[0].pid, &st, 0);
		if (p < 0 && errno == EINTR)
			continue;
		if (p < 0) {
			tp_differs("children", "child %d (status %d to come) is gone: %s", kids[0].pid, kids[0].status,
				   strerror(errno));
			kids[0] = kids[--nr_kids];
			continue;
		}
		got(p, st);
		checked++;
	}
	reap_ready();
	checked++;
	if (autoreap) {
		/* waits until every child has exited, then ECHILD: none is a zombie */
		int st;
		pid_t p;

		while ((p = waitpid(-1, &st, 0)) > 0 || (p < 0 && errno == EINTR))
			if (p > 0)
				tp_differs("children", "SIGCHLD is ignored, but child %d was a zombie (status %#x)", p,
					   st);
		checked++;
	}
	tp_check_u64("pid", getpid(), me);
	fill(want);
	checked++;
	for (size_t i = 0; i < BUF_SIZE; i++)
		if (buf[i] != want[i]) {
			tp_differs("memory", "byte %zu: got %#x want %#x", i, buf[i], want[i]);
			break;
		}
	tp_log("%lu children forked, %lu before ready", forked, at_ready);
	tp_finish(checked);
}
