/*
 * Scheduling attributes, per thread (Linux keeps them per task): policy,
 * real-time priority, the reset-on-fork flag, the nice value and the CPU
 * affinity. All are read from outside with sched_getattr(2) and
 * sched_getaffinity(2): no remote syscall.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#define LOG_PREFIX "sched: "
#include "log.h"
#include "util.h"
#include "dump.h"

#ifndef SCHED_DEADLINE
#define SCHED_DEADLINE 6
#endif
#ifndef SCHED_FLAG_RESET_ON_FORK
#define SCHED_FLAG_RESET_ON_FORK 0x01
#endif

/* struct sched_attr of sched_getattr(2), its first version (48 bytes). */
struct cs_sched_attr {
	uint32_t size, sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
};

/* The affinity mask of tid into e; the kernel wants a buffer at least
 * nr_cpu_ids bits long (EINVAL otherwise), so grow until it fits. */
static int dump_affinity(pid_t tid, ThreadCoreEntry *tc)
{
	for (size_t len = 128; len <= (1 << 16); len *= 2) {
		uint8_t *mask = xzalloc(len);
		long n;

		if (!mask)
			return -1;
		n = syscall(SYS_sched_getaffinity, tid, len, mask);
		if (n > 0) {
			tc->has_cpu_affinity = 1;
			tc->cpu_affinity.data = mask;
			tc->cpu_affinity.len = n;
			return 0;
		}
		free(mask);
		if (errno != EINVAL)
			break;
	}
	return pr_perror("cannot read the CPU affinity of thread %d", tid);
}

int dump_sched(struct dump_ctx *c)
{
	for (int i = 0; i < c->pt.nr; i++) {
		pid_t tid = c->pt.t[i].tid;
		ThreadCoreEntry *tc = c->cores[i];
		struct cs_sched_attr a;

		memset(&a, 0, sizeof(a));
		if (syscall(SYS_sched_getattr, tid, &a, sizeof(a), 0))
			return pr_perror("cannot read the scheduling attributes of thread %d", tid);
		if (a.sched_policy == SCHED_DEADLINE)
			return pr_err("thread %d runs under SCHED_DEADLINE: not supported yet", tid);
		tc->has_sched_policy = tc->has_sched_priority = tc->has_sched_flags = tc->has_nice = 1;
		tc->sched_policy = a.sched_policy;
		tc->sched_priority = a.sched_priority;
		tc->sched_flags = a.sched_flags & SCHED_FLAG_RESET_ON_FORK;
		/* sched_getattr reports no nice value for a real-time policy,
		 * though the task keeps one (get_params, kernel/sched/syscalls.c) */
		errno = 0;
		tc->nice = getpriority(PRIO_PROCESS, tid);
		if (errno)
			return pr_perror("cannot read the nice value of thread %d", tid);
		if (dump_affinity(tid, tc))
			return -1;
		pr_debug("thread %d: policy %u priority %u nice %d flags %#llx", tid, a.sched_policy,
			 a.sched_priority, a.sched_nice, (unsigned long long)a.sched_flags);
	}
	return 0;
}
