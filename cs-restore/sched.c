/*
 * Scheduling attributes, per thread: nice value, policy and real-time
 * priority, SCHED_FLAG_RESET_ON_FORK, CPU affinity. Set from cs-restore
 * itself (setpriority(2), sched_setattr(2), sched_setaffinity(2) take a
 * TID), so they do not depend on the credentials the process gets back.
 *
 * CPU affinity on a host with other CPUs: the saved mask is intersected
 * with the CPUs cs-restore may run on. A thread that keeps some of its CPUs
 * is restored on those, with a warning naming the ones missing; a thread
 * that keeps none is refused in the check phase.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#define LOG_PREFIX "sched: "
#include "log.h"
#include "util.h"
#include "restore.h"

#ifndef SCHED_FLAG_RESET_ON_FORK
#define SCHED_FLAG_RESET_ON_FORK 0x01
#endif
#define CAP_SYS_NICE_BIT 23
#define MASK_MAX (1 << 16)	/* bytes of CPU mask we read: 524288 CPUs */

/* struct sched_attr of sched_setattr(2), its first version (48 bytes). */
struct cs_sched_attr {
	uint32_t size, sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
};

/* The CPUs cs-restore may use (its own affinity), len bytes into mask. */
static long my_cpus(uint8_t *mask, size_t len)
{
	long n = syscall(SYS_sched_getaffinity, 0, len, mask);

	return n < 0 ? pr_perror("cannot read the CPU affinity of cs-restore") : n;
}

static void cpu_list(const uint8_t *m, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	out[0] = 0;
	for (size_t b = 0; b < len * 8 && o + 12 < outlen; b++)
		if (m[b / 8] >> (b % 8) & 1)
			o += snprintf(out + o, outlen - o, "%s%zu", o ? "," : "", b);
	if (!o)
		snprintf(out, outlen, "none");
}

/*
 * The saved mask of tc and'ed with mine (mlen bytes) into out (MASK_MAX
 * bytes, zeroed). Returns how many saved CPUs are missing here.
 */
static int intersect(const ThreadCoreEntry *tc, const uint8_t *mine, size_t mlen, uint8_t *out)
{
	int missing = 0;

	memset(out, 0, MASK_MAX);
	for (size_t i = 0; i < tc->cpu_affinity.len && i < MASK_MAX; i++) {
		uint8_t m = i < mlen ? mine[i] : 0;

		out[i] = tc->cpu_affinity.data[i] & m;
		missing += __builtin_popcount(tc->cpu_affinity.data[i] & ~m);
	}
	return missing;
}

static int has_cpu(const uint8_t *m, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (m[i])
			return 1;
	return 0;
}

int check_sched(struct rst_ctx *c)
{
	static uint8_t mine[MASK_MAX], both[MASK_MAX];
	int nice_cap;
	long mlen = my_cpus(mine, sizeof(mine));

	if (mlen < 0)
		return -1;
	nice_cap = cap_effective(CAP_SYS_NICE);
	for (size_t i = 0; i < c->nr_cores; i++) {
		ThreadCoreEntry *tc = c->cores[i];
		uint32_t pol = tc->sched_policy, prio = tc->sched_priority;

		if (tc->has_sched_policy) {
			int rt = pol == SCHED_FIFO || pol == SCHED_RR;

			if (pol != SCHED_OTHER && pol != SCHED_BATCH && pol != SCHED_IDLE && !rt)
				return pr_err("thread %u: scheduling policy %u is not supported", tc->tid, pol);
			if (rt ? (int)prio < sched_get_priority_min(pol) || (int)prio > sched_get_priority_max(pol) : prio)
				return pr_err("thread %u: priority %u is out of range for policy %u", tc->tid, prio, pol);
			if (rt && !nice_cap)
				return pr_err("thread %u ran under %s priority %u: setting it needs CAP_SYS_NICE, "
					      "which cs-restore lacks", tc->tid, pol == SCHED_FIFO ? "SCHED_FIFO" :
					      "SCHED_RR", prio);
			if (tc->sched_flags & ~(uint64_t)SCHED_FLAG_RESET_ON_FORK)
				return pr_err("thread %u: unknown scheduling flags %#llx", tc->tid,
					      (unsigned long long)tc->sched_flags);
		}
		if (tc->has_nice) {
			if (tc->nice < -20 || tc->nice > 19)
				return pr_err("thread %u: nice value %d is out of range", tc->tid, tc->nice);
			if (tc->nice < 0 && !nice_cap)
				return pr_err("thread %u had nice value %d: setting it needs CAP_SYS_NICE, which "
					      "cs-restore lacks", tc->tid, tc->nice);
		}
		if (tc->has_cpu_affinity) {
			char saved[256], here[256];

			if (!tc->cpu_affinity.len || tc->cpu_affinity.len > MASK_MAX)
				return pr_err("core-%u.img: corrupt CPU affinity", tc->tid);
			if (intersect(tc, mine, mlen, both) && !has_cpu(both, MASK_MAX)) {
				cpu_list(tc->cpu_affinity.data, tc->cpu_affinity.len, saved, sizeof(saved));
				cpu_list(mine, mlen, here, sizeof(here));
				return pr_err("thread %u was bound to CPUs %s, none of which is available here (%s)",
					      tc->tid, saved, here);
			}
		}
	}
	return 0;
}

int restore_sched(struct rst_ctx *c)
{
	static uint8_t mine[MASK_MAX], both[MASK_MAX];
	long mlen = my_cpus(mine, sizeof(mine));

	if (mlen < 0)
		return -1;
	for (size_t i = 0; i < c->nr_cores; i++) {
		ThreadCoreEntry *tc = c->cores[i];
		pid_t tid = c->pt.t[i].tid;	/* ours: differs from tc->tid under --pidns */

		/* nice first: sched_setattr sets no nice value for a real-time policy */
		if (tc->has_nice && setpriority(PRIO_PROCESS, tid, tc->nice))
			return pr_perror("thread %d: cannot set nice value %d", tid, tc->nice);
		if (tc->has_sched_policy) {
			struct cs_sched_attr a = { .size = sizeof(a), .sched_policy = tc->sched_policy,
						   .sched_flags = tc->sched_flags, .sched_nice = tc->nice,
						   .sched_priority = tc->sched_priority };

			if (syscall(SYS_sched_setattr, tid, &a, 0))
				return pr_perror("thread %d: cannot set scheduling policy %u priority %u", tid,
						 tc->sched_policy, tc->sched_priority);
		}
		if (tc->has_cpu_affinity) {
			int missing = intersect(tc, mine, mlen, both);
			size_t len = tc->cpu_affinity.len;

			if (missing) {
				char saved[256], now[256];

				cpu_list(tc->cpu_affinity.data, len, saved, sizeof(saved));
				cpu_list(both, len, now, sizeof(now));
				pr_warn("thread %d was bound to CPUs %s; %d of them are not available here: bound to %s",
					tid, saved, missing, now);
			}
			/* a whole number of longs, as the kernel reads it */
			len = (len + sizeof(long) - 1) / sizeof(long) * sizeof(long);
			if (syscall(SYS_sched_setaffinity, tid, len, both))
				return pr_perror("thread %d: cannot set its CPU affinity", tid);
		}
	}
	return 0;
}
