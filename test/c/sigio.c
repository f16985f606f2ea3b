/*
 * sigio.c - do fd owners (F_SETOWN_EX) and their signals (F_SETSIG) come
 * back, and does the kernel still deliver SIGIO to them?
 *
 *   sigio READY_FILE [outside]
 *
 * The program leads a process group of its own (setpgid), then sets up
 * three pipes with O_ASYNC on their read ends:
 *   a  owner: the process (F_OWNER_PID), signal SIGRTMIN+3 (F_SETSIG)
 *   b  owner: a worker thread (F_OWNER_TID), signal SIGIO (F_SETSIG 0)
 *   c  owner: its own process group (F_OWNER_PGRP), signal SIGRTMIN+5
 * and a pipe d with an owner and no O_ASYNC (the owner is kept all the
 * same). SIGIO and both real-time signals are blocked everywhere.
 * outside: d's owner is the program's parent instead (for the refusal
 * test: a process outside the dumped tree).
 *
 * After SIGUSR2 it checks each fd's F_GETOWN_EX (type and ID) and F_GETSIG
 * and its O_ASYNC flag, then writes a byte into a, b and c and waits for
 * the signals: a's SIGRTMIN+3 in the process queue with si_fd = a and
 * si_band POLLIN, b's SIGIO in the worker's own queue (not pending for the
 * main thread), c's SIGRTMIN+5.
 *
 * CS_TEST_CORRUPT: owner (a's owner cleared), sig (c's signal back to 0),
 * tid (b owned by the process instead of the thread).
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>

#include "tprog.h"

static int pa[2], pb[2], pc[2], pd[2];
static pid_t worker_tid;
static pthread_barrier_t ready;
static unsigned checked;

static void set_owner(int fd, int type, pid_t id, int sig, int async)
{
	struct f_owner_ex o = { .type = type, .pid = id };

	if (fcntl(fd, F_SETOWN_EX, &o) || fcntl(fd, F_SETSIG, sig) ||
	    (async && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_ASYNC)))
		tp_die("fcntl owner of fd %d", fd);
}

static void check_owner(const char *name, int fd, int type, pid_t id, int sig, int async)
{
	struct f_owner_ex o;
	char what[64];
	int fl = fcntl(fd, F_GETFL);

	if (fcntl(fd, F_GETOWN_EX, &o)) {
		tp_differs(name, "F_GETOWN_EX failed: %s", strerror(errno));
		return;
	}
	snprintf(what, sizeof(what), "%s owner type", name);
	tp_check_u64(what, o.type, type);
	snprintf(what, sizeof(what), "%s owner", name);
	tp_check_u64(what, o.pid, id);
	snprintf(what, sizeof(what), "%s F_GETSIG", name);
	tp_check_u64(what, fcntl(fd, F_GETSIG), sig);
	snprintf(what, sizeof(what), "%s O_ASYNC", name);
	tp_check_u64(what, !!(fl & O_ASYNC), async);
	checked += 4;
}

/* wait up to 5 s for SIG in the calling thread's or the process queue */
static int wait_sig(int sig, siginfo_t *si)
{
	sigset_t s;
	struct timespec ts = { 5, 0 };

	sigemptyset(&s);
	sigaddset(&s, sig);
	for (;;) {
		int r = sigtimedwait(&s, si, &ts);
		if (r == sig)
			return 0;
		if (r < 0 && errno == EINTR)
			continue;
		return -1;
	}
}

static void block_all(void)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGIO);
	sigaddset(&s, SIGRTMIN + 3);
	sigaddset(&s, SIGRTMIN + 5);
	sigaddset(&s, SIGUSR2);
	if (pthread_sigmask(SIG_BLOCK, &s, NULL))
		tp_die("sigmask");
}

static int b_got;

static void *worker(void *arg)
{
	siginfo_t si;

	(void)arg;
	worker_tid = syscall(SYS_gettid);
	pthread_barrier_wait(&ready);
	/* the main thread says when: after SIGUSR2 and the write into b */
	pthread_barrier_wait(&ready);
	if (wait_sig(SIGIO, &si) == 0)
		b_got = 1;	/* plain SIGIO (F_SETSIG 0) carries no si_fd */
	pthread_barrier_wait(&ready);
	return NULL;
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "owner", "sig", "tid", NULL };
	int outside = argc > 2 && !strcmp(argv[2], "outside");
	pthread_t th;
	pid_t me;
	siginfo_t si;

	tp_init("sigio", argc, argv);
	tp_corrupt_check_mode(modes);
	block_all();
	if (setpgid(0, 0))
		tp_die("setpgid");
	me = getpid();
	if (pipe(pa) || pipe(pb) || pipe(pc) || pipe(pd))
		tp_die("pipe");
	pthread_barrier_init(&ready, NULL, 2);
	if (pthread_create(&th, NULL, worker, NULL))
		tp_die("pthread_create");
	pthread_barrier_wait(&ready);

	set_owner(pa[0], F_OWNER_PID, me, SIGRTMIN + 3, 1);
	set_owner(pb[0], F_OWNER_TID, worker_tid, 0, 1);
	set_owner(pc[0], F_OWNER_PGRP, me, SIGRTMIN + 5, 1);
	set_owner(pd[0], F_OWNER_PID, outside ? getppid() : me, 0, 0);
	if (tp_corrupting("owner"))
		set_owner(pa[0], F_OWNER_PID, 0, SIGRTMIN + 3, 1);
	if (tp_corrupting("sig"))
		fcntl(pc[0], F_SETSIG, 0);
	if (tp_corrupting("tid"))
		set_owner(pb[0], F_OWNER_PID, me, 0, 1);

	tp_write_ready(argv[1]);
	tp_wait_usr2();

	check_owner("a", pa[0], F_OWNER_PID, me, SIGRTMIN + 3, 1);
	check_owner("b", pb[0], F_OWNER_TID, worker_tid, 0, 1);
	check_owner("c", pc[0], F_OWNER_PGRP, me, SIGRTMIN + 5, 1);
	check_owner("d", pd[0], F_OWNER_PID, outside ? getppid() : me, 0, 0);

	if (write(pa[1], "a", 1) != 1 || write(pc[1], "c", 1) != 1)
		tp_die("write");
	checked += 3;
	if (wait_sig(SIGRTMIN + 3, &si))
		tp_differs("a's signal", "got none in 5 s want SIGRTMIN+3");
	else if (si.si_fd != pa[0] || !(si.si_band & POLLIN))
		tp_differs("a's signal", "got si_fd %d si_band %#lx want si_fd %d and POLLIN", si.si_fd,
			   (long)si.si_band, pa[0]);
	if (wait_sig(SIGRTMIN + 5, &si))
		tp_differs("c's signal", "got none in 5 s want SIGRTMIN+5 (to the process group)");
	else if (si.si_fd != pc[0])
		tp_differs("c's signal", "got si_fd %d want %d", si.si_fd, pc[0]);
	if (write(pb[1], "b", 1) != 1)
		tp_die("write");
	/* sent to the worker thread, b's SIGIO is not pending for main; sent
	 * to the process, it would be (sigpending: thread and process) */
	{
		sigset_t p;

		poll(NULL, 0, 100);
		sigpending(&p);
		if (sigismember(&p, SIGIO))
			tp_differs("b's SIGIO", "got it pending for the main thread or the process want it "
				   "for the worker thread only");
		checked++;
	}
	pthread_barrier_wait(&ready);
	pthread_barrier_wait(&ready);
	if (!b_got)
		tp_differs("b's SIGIO", "got none in the worker thread in 5 s want SIGIO");
	pthread_join(th, NULL);
	tp_finish(checked);
}
