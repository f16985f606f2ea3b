/*
 * sigflood.c - is every signal that arrives while cs-dump runs remote
 * syscalls (single and batched) delivered exactly once?
 *
 *   sigflood READY_FILE COUNT
 *
 * Three threads (main and two in pause()) with a SIGRTMIN handler that
 * counts its runs; the test queues COUNT SIGRTMIN signals (real-time:
 * each one is queued, none merged) while it runs cs-dump -R several times.
 * Each signal that a remote syscall takes out of delivery must be given
 * back at the release. After SIGUSR2 (and a short pause for signals still
 * queued) the count must be COUNT.
 *
 * CS_TEST_CORRUPT: count (expects one signal more).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <time.h>

#include "tprog.h"

static unsigned long got;

static void on_rt(int sig)
{
	(void)sig;
	__atomic_fetch_add(&got, 1, __ATOMIC_RELAXED);
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "count", NULL };
	struct sigaction sa = { 0 };
	unsigned long want;
	pthread_t t;

	tp_init("sigflood", argc, argv);
	tp_corrupt_check_mode(modes);
	if (argc < 3)
		tp_die("usage: sigflood READY_FILE COUNT");
	want = strtoul(argv[2], NULL, 10) + (tp_corrupting("count") ? 1 : 0);
	tp_block_usr2();
	sa.sa_handler = on_rt;
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGRTMIN, &sa, NULL))
		tp_die("sigaction");
	for (int i = 0; i < 2; i++)
		if (pthread_create(&t, NULL, sleeper, NULL))
			tp_die("pthread_create");
	tp_write_ready(argv[1]);
	tp_wait_usr2();
	/* the last ones sent may still be on their way */
	for (int i = 0; i < 100 && __atomic_load_n(&got, __ATOMIC_RELAXED) < want; i++)
		nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
	tp_check_u64("SIGRTMIN handler runs", __atomic_load_n(&got, __ATOMIC_RELAXED), want);
	tp_finish(1);
}
