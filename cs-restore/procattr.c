/*
 * The I/O priority and timer slack of each thread and the core dump
 * filter of the process (see cs-dump/procattr.c), set from cs-restore:
 * ioprio_set(2) on the TID, a write to /proc/TID/timerslack_ns (proc(5);
 * another task's needs CAP_SYS_NICE: without it, prctl(PR_SET_TIMERSLACK)
 * in the thread) and to /proc/PID/coredump_filter.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#define LOG_PREFIX "procattr: "
#include "log.h"
#include "util.h"
#include "restore.h"

#define IOPRIO_WHO_PROCESS 1

/* writes text to /proc/ID/NAME; 0 or -1 with errno */
static int write_proc(pid_t id, const char *name, const char *text)
{
	char path[64];
	int fd, r;
	ssize_t n = strlen(text);

	snprintf(path, sizeof(path), "/proc/%d/%s", id, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	r = write(fd, text, n) == n ? 0 : -1;
	if (r) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return close(fd);
}

int restore_procattr(struct rst_ctx *c)
{
	char buf[32];

	for (size_t i = 0; i < c->nr_cores; i++) {
		ThreadCoreEntry *tc = c->cores[i];
		pid_t tid = c->pt.t[i].tid;	/* ours: differs from tc->tid under --pidns */

		/* 0: none set, the priority follows the nice value (ioprio_set(2)) */
		if (tc->has_ioprio && tc->ioprio && syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, tid, tc->ioprio))
			return pr_perror("thread %d: cannot set I/O priority class %u level %u", tid,
					 tc->ioprio >> 13, tc->ioprio & 0x1fff);
		/* 0 only under a real-time policy, which restore_sched gave back;
		 * writing 0 would mean "the default" (proc(5)) */
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)tc->timerslack_ns);
		if (tc->has_timerslack_ns && tc->timerslack_ns && write_proc(tid, "timerslack_ns", buf)) {
			long r;

			if (errno != EPERM)
				return pr_perror("thread %d: cannot set its timer slack to %llu ns", tid,
						 (unsigned long long)tc->timerslack_ns);
			/* another task's needs CAP_SYS_NICE: the thread sets its own
			 * (before seccomp and the credentials, which might refuse it) */
			r = rsys(c, i, SYS_prctl, PR_SET_TIMERSLACK, tc->timerslack_ns, 0, 0, 0, 0);
			if (r)
				return pr_err("thread %d: cannot set its timer slack to %llu ns: %s", tid,
					      (unsigned long long)tc->timerslack_ns, strerror(-r));
			pr_debug("thread %d: timer slack set by the thread (no CAP_SYS_NICE here)", tid);
		}
	}
	snprintf(buf, sizeof(buf), "%#llx", (unsigned long long)c->proc->coredump_filter);
	if (c->proc->has_coredump_filter && write_proc(c->pt.t[0].tid, "coredump_filter", buf))
		return pr_perror("cannot set the core dump filter %#llx", (unsigned long long)c->proc->coredump_filter);
	return 0;
}
