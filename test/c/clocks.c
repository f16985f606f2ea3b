/*
 * clocks.c - do CLOCK_MONOTONIC and CLOCK_BOOTTIME continue across a
 * checkpoint/restore into a time namespace (cs-restore --timens)?
 *
 *   clocks READY_FILE [MAX_JUMP_MS]
 *
 * A sampler thread reads, every 50 ms (a relative clock_nanosleep), both
 * clocks through the vDSO (glibc's clock_gettime, which jumps to the vDSO
 * address cached at start-up: after a restore that is where cs-restore
 * moved the new [vdso], reading the new [vvar]), through the raw syscall,
 * and through the vDSO again, plus CLOCK_REALTIME, and keeps the samples.
 *
 * Verification on SIGUSR2, over every sample since set-up and one taken
 * now:
 *  vdso       each raw-syscall reading lies between the two vDSO readings
 *             around it (1 ms slack): the vDSO sees the same namespace
 *             offsets as the kernel;
 *  monotonic  never goes back, and never moves more than 50 ms +
 *             MAX_JUMP_MS (default 1500) between two samples: the time the
 *             process spent frozen does not count on it;
 *  boottime   likewise, and BOOTTIME - MONOTONIC stays the same (10 ms
 *             slack): both offsets were set together;
 *  realtime   runs at least as fast as MONOTONIC (10 ms slack); the largest
 *             gap between them is reported as the time spent frozen.
 * It prints "clocks: frozen_ms=F samples=N max_step_ms=M" on stdout.
 *
 * CS_TEST_CORRUPT: mono-jump (the sampler adds 10 s to both MONOTONIC
 * readings after set-up, as a restore without a time namespace would),
 * vdso (it adds 1 s to the vDSO readings of BOOTTIME, as a vDSO reading the
 * wrong data page would).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>

#include "tprog.h"

#define NS 1000000000LL
#define MS 1000000LL
#define PERIOD (50 * MS)
#define MAX_SAMPLES 8192	/* 50 ms each: ~7 minutes */

struct sample {
	int64_t mono_v1, mono_sys, mono_v2;
	int64_t boot_v1, boot_sys, boot_v2;
	int64_t real;
};

static struct sample samples[MAX_SAMPLES];
static unsigned nsamples;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int corrupt_mono, corrupt_vdso;	/* active once set up */

static int64_t vdso_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec * NS + ts.tv_nsec;
}

static int64_t sys_ns(clockid_t clk)
{
	struct timespec ts;

	syscall(SYS_clock_gettime, clk, &ts);
	return ts.tv_sec * NS + ts.tv_nsec;
}

static void take(struct sample *s)
{
	s->mono_v1 = vdso_ns(CLOCK_MONOTONIC);
	s->mono_sys = sys_ns(CLOCK_MONOTONIC);
	s->mono_v2 = vdso_ns(CLOCK_MONOTONIC);
	s->boot_v1 = vdso_ns(CLOCK_BOOTTIME);
	s->boot_sys = sys_ns(CLOCK_BOOTTIME);
	s->boot_v2 = vdso_ns(CLOCK_BOOTTIME);
	s->real = sys_ns(CLOCK_REALTIME);
	if (__atomic_load_n(&corrupt_mono, __ATOMIC_RELAXED)) {
		s->mono_v1 += 10 * NS;
		s->mono_sys += 10 * NS;
		s->mono_v2 += 10 * NS;
	}
	if (__atomic_load_n(&corrupt_vdso, __ATOMIC_RELAXED)) {
		s->boot_v1 += NS;
		s->boot_v2 += NS;
	}
}

static void record(void)
{
	pthread_mutex_lock(&lock);
	if (nsamples < MAX_SAMPLES)
		take(&samples[nsamples++]);
	pthread_mutex_unlock(&lock);
}

static void *sampler(void *arg)
{
	struct timespec p = { 0, PERIOD };

	(void)arg;
	for (;;) {
		/* a restore turns an interrupted sleep into EINTR: just sample */
		clock_nanosleep(CLOCK_MONOTONIC, 0, &p, NULL);
		record();
	}
	return NULL;
}

static unsigned checked;

static void check_sample(unsigned i, const struct sample *s)
{
	checked += 2;
	if (s->mono_sys < s->mono_v1 - MS || s->mono_sys > s->mono_v2 + MS)
		tp_differs("vdso", "sample %u: CLOCK_MONOTONIC by syscall %lld ns is not between the vDSO's "
			   "%lld and %lld ns", i, (long long)s->mono_sys, (long long)s->mono_v1, (long long)s->mono_v2);
	if (s->boot_sys < s->boot_v1 - MS || s->boot_sys > s->boot_v2 + MS)
		tp_differs("vdso", "sample %u: CLOCK_BOOTTIME by syscall %lld ns is not between the vDSO's "
			   "%lld and %lld ns", i, (long long)s->boot_sys, (long long)s->boot_v1, (long long)s->boot_v2);
}

static void check_step(unsigned i, const struct sample *a, const struct sample *b, int64_t max_jump,
		       int64_t *frozen, int64_t *max_step)
{
	int64_t dm = b->mono_sys - a->mono_sys, db = b->boot_sys - a->boot_sys, dr = b->real - a->real;

	checked += 4;
	if (dm > *max_step)
		*max_step = dm;
	if (dm < 0)
		tp_differs("monotonic", "went back %.3f s between samples %u and %u", -dm / 1e9, i - 1, i);
	else if (dm > PERIOD + max_jump)
		tp_differs("monotonic", "jumped %.3f s between samples %u and %u (%.3f s by the wall clock)",
			   dm / 1e9, i - 1, i, dr / 1e9);
	if (db < 0)
		tp_differs("boottime", "went back %.3f s between samples %u and %u", -db / 1e9, i - 1, i);
	else if (db > PERIOD + max_jump)
		tp_differs("boottime", "jumped %.3f s between samples %u and %u", db / 1e9, i - 1, i);
	if (llabs((b->boot_sys - b->mono_sys) - (a->boot_sys - a->mono_sys)) > 10 * MS)
		tp_differs("boottime", "BOOTTIME - MONOTONIC changed by %.3f s between samples %u and %u",
			   ((b->boot_sys - b->mono_sys) - (a->boot_sys - a->mono_sys)) / 1e9, i - 1, i);
	if (dr < dm - 10 * MS)
		tp_differs("realtime", "ran %.3f s while MONOTONIC ran %.3f s (samples %u and %u)", dr / 1e9,
			   dm / 1e9, i - 1, i);
	else if (dr - dm > *frozen)
		*frozen = dr - dm;
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "mono-jump", "vdso", NULL };
	int64_t max_jump = 1500 * MS, frozen = 0, max_step = 0;
	pthread_t th;

	tp_init("clocks", argc, argv);
	tp_corrupt_check_mode(modes);
	if (argc > 2)
		max_jump = atoll(argv[2]) * MS;
	tp_block_usr2();
	record();
	if (pthread_create(&th, NULL, sampler, NULL))
		tp_die("cannot start the sampler");
	__atomic_store_n(&corrupt_mono, tp_corrupting("mono-jump"), __ATOMIC_RELAXED);
	__atomic_store_n(&corrupt_vdso, tp_corrupting("vdso"), __ATOMIC_RELAXED);
	tp_write_ready(argv[1]);
	tp_wait_usr2();

	record();
	pthread_mutex_lock(&lock);	/* the sampler stays blocked from here */
	if (nsamples < 3)
		tp_differs("samples", "only %u samples: the sampler did not run", nsamples);
	for (unsigned i = 0; i < nsamples; i++) {
		check_sample(i, &samples[i]);
		if (i)
			check_step(i, &samples[i - 1], &samples[i], max_jump, &frozen, &max_step);
	}
	printf("clocks: frozen_ms=%lld samples=%u max_step_ms=%lld\n", (long long)(frozen / MS), nsamples,
	       (long long)(max_step / MS));
	tp_finish(checked);
}
