/*
 * sigflood.c - is every signal that arrives while cs-dump runs remote
 * syscalls (single and batched) delivered exactly once?
 *
 *   sigflood READY_FILE COUNT [ign-trap|queued|ordered]
 *   sigflood send PID COUNT    (the sender of ordered: sigqueue(3) of
 *                               SIGRTMIN to PID with values 1..COUNT, as fast
 *                               as the queue takes them)
 *
 * Three threads (main and two in pause()) with a SIGRTMIN handler that
 * counts its runs; the test queues COUNT SIGRTMIN signals (real-time:
 * each one is queued, none merged) while it runs cs-dump -R several times.
 * Each signal that a remote syscall takes out of delivery must be given
 * back at the release. After SIGUSR2 (and a short pause for signals still
 * queued) the count must be COUNT.
 *
 * queued: the test sends them with sigqueue(3) and the value 4242; each
 * must arrive as sent (si_code SI_QUEUE, that value), even one that cs-dump
 * took out of delivery and gave back.
 *
 * ordered: only main takes SIGRTMIN (the other threads block it, so that
 * no two handlers run at once) and the values must come 1, 2, 3...: signal(7)
 * says real-time signals of one number are delivered in the order they
 * were sent, and one that cs-dump took out of delivery must not come back
 * behind the ones sent after it.
 *
 * ign-trap: SIGTRAP is SIG_IGN, and must still be after the dump (a
 * breakpoint trap, which ends cs-dump's batches, would reset it: cs-dump
 * must not use one then).
 *
 * CS_TEST_CORRUPT: count (expects one signal more), trap (SIGTRAP set back
 * to SIG_DFL before the check), order (ordered: two more queued to itself
 * after the wake-up, COUNT+2 before COUNT+1).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <time.h>

#include "tprog.h"

static unsigned long got, as_queued;
static int ordered;
static long last_v, bad_v = -1, bad_after;	/* ordered: the last value, the first out of order */

static void on_rt(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	__atomic_fetch_add(&got, 1, __ATOMIC_RELAXED);
	if (si->si_code == SI_QUEUE && si->si_value.sival_int == 4242)
		__atomic_fetch_add(&as_queued, 1, __ATOMIC_RELAXED);
	if (ordered) {
		if (si->si_value.sival_int != last_v + 1 && bad_v < 0) {
			bad_v = si->si_value.sival_int;
			bad_after = last_v;
		}
		last_v = si->si_value.sival_int;
	}
}

static void *sleeper(void *arg)
{
	sigset_t rt;

	(void)arg;
	sigemptyset(&rt);
	sigaddset(&rt, SIGRTMIN);
	if (ordered)
		pthread_sigmask(SIG_BLOCK, &rt, NULL);
	for (;;)
		pause();
	return NULL;
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "count", "trap", "order", NULL };
	int ign_trap = argc > 3 && !strcmp(argv[3], "ign-trap");
	int queued = argc > 3 && !strcmp(argv[3], "queued");
	struct sigaction sa = { 0 };
	unsigned long want;
	pthread_t t;

	if (argc == 4 && !strcmp(argv[1], "send")) {
		pid_t pid = atoi(argv[2]);
		long n = atol(argv[3]);

		for (long i = 1; i <= n; i++) {
			union sigval v = { .sival_int = i };

			while (sigqueue(pid, SIGRTMIN, v))
				if (errno != EAGAIN) {
					perror("sigflood send: sigqueue");
					return 1;
				} else
					usleep(100);
		}
		return 0;
	}
	ordered = argc > 3 && !strcmp(argv[3], "ordered");
	tp_init("sigflood", argc, argv);
	tp_corrupt_check_mode(modes);
	if (argc < 3)
		tp_die("usage: sigflood READY_FILE COUNT");
	want = strtoul(argv[2], NULL, 10) + (tp_corrupting("count") ? 1 : 0);
	tp_block_usr2();
	sa.sa_sigaction = on_rt;
	sa.sa_flags = SA_RESTART | SA_SIGINFO;
	if (sigaction(SIGRTMIN, &sa, NULL))
		tp_die("sigaction");
	if (ign_trap && signal(SIGTRAP, SIG_IGN) == SIG_ERR)
		tp_die("signal SIGTRAP");
	for (int i = 0; i < 2; i++)
		if (pthread_create(&t, NULL, sleeper, NULL))
			tp_die("pthread_create");
	tp_write_ready(argv[1]);
	tp_wait_usr2();
	if (ordered && tp_corrupting("order")) {
		/* two more, the wrong way round */
		want += 2;
		sigqueue(getpid(), SIGRTMIN, (union sigval){ .sival_int = (int)strtol(argv[2], NULL, 10) + 2 });
		sigqueue(getpid(), SIGRTMIN, (union sigval){ .sival_int = (int)strtol(argv[2], NULL, 10) + 1 });
	}
	/* the last ones sent may still be on their way */
	for (int i = 0; i < 100 && __atomic_load_n(&got, __ATOMIC_RELAXED) < want; i++)
		nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
	tp_check_u64("SIGRTMIN handler runs", __atomic_load_n(&got, __ATOMIC_RELAXED), want);
	if (queued)
		tp_check_u64("SIGRTMIN with their sigqueue value and si_code",
			     __atomic_load_n(&as_queued, __ATOMIC_RELAXED), want);
	if (ordered && bad_v >= 0) {
		char d[96];

		snprintf(d, sizeof(d), "value %ld came after %ld", bad_v, bad_after);
		tp_differs("SIGRTMIN order of sigqueue values", "%s", d);
	}
	if (ign_trap) {
		struct sigaction old;

		if (tp_corrupting("trap"))
			signal(SIGTRAP, SIG_DFL);
		if (sigaction(SIGTRAP, NULL, &old))
			tp_die("sigaction SIGTRAP");
		if (old.sa_handler != SIG_IGN)
			tp_differs("SIGTRAP disposition", "not SIG_IGN any more");
	}
	tp_finish(ign_trap || ordered ? 2 : 1);
}
