/*
 * Attributes the kernel keeps per task or per mm that a server may set
 * and that no other image holds: the I/O priority of each thread
 * (ionice(1), ioprio_set(2)), the timer slack of each thread
 * (prctl(PR_SET_TIMERSLACK), /proc/TID/timerslack_ns) and the core dump
 * filter of the process (/proc/PID/coredump_filter, core(5)). All are read
 * from outside: no remote syscall, but for the timer slack when cs-dump
 * lacks CAP_SYS_NICE.
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
#include "dump.h"

#define IOPRIO_WHO_PROCESS 1	/* ioprio_get(2): "which"; who is a TID */

/* the number in /proc/ID/NAME (base 10, or 16 when hex) into *v; 0 or -1
 * (logged, errno kept; with quiet_eperm an EPERM is not logged) */
static int read_proc_u64(pid_t id, const char *name, int hex, uint64_t *v, int quiet_eperm)
{
	char path[64], *s, *end;

	snprintf(path, sizeof(path), "/proc/%d/%s", id, name);
	s = read_file_at(AT_FDCWD, path, NULL, 64);
	if (!s) {
		if (quiet_eperm && errno == EPERM)
			return -1;
		return pr_perror("cannot read %s", path);
	}
	errno = 0;
	*v = strtoull(s, &end, hex ? 16 : 10);
	if (errno || end == s) {
		free(s);
		return pr_err("%s: not a number", path);
	}
	free(s);
	return 0;
}

/*
 * Another task's /proc/TID/timerslack_ns is EPERM without CAP_SYS_NICE
 * (proc(5); fs/proc/base.c, timerslack_ns_show): the thread tells its own
 * with prctl(PR_GET_TIMERSLACK), a remote syscall. 0 or -1 (logged).
 */
static int timerslack_remote(struct dump_ctx *c, int i, uint64_t *v)
{
	struct pt_thread *t = &c->pt.t[i];
	struct rbatch *b;
	long r;

	if (errno != EPERM)
		return pr_perror("cannot read /proc/%d/timerslack_ns", t->tid);
	b = xzalloc(sizeof(*b));
	if (!b)
		return -1;
	if (rbatch_add(b, SYS_prctl, PR_GET_TIMERSLACK, 0, 0, 0, 0, 0) < 0 || rbatch_run(c, t, b)) {
		free(b);
		return -1;
	}
	r = b->call[0].ret;
	free(b);
	if (r < 0 && r > -4096)
		return pr_err("cannot read the timer slack of thread %d (%ld)", t->tid, r);
	pr_debug("timer slack of thread %d: /proc is EPERM (no CAP_SYS_NICE here), asked remotely", t->tid);
	*v = (unsigned long)r;
	return 0;
}

int dump_procattr(struct dump_ctx *c, ProcessEntry *pe)
{
	uint64_t v;

	for (int i = 0; i < c->pt.nr; i++) {
		pid_t tid = c->pt.t[i].tid;
		ThreadCoreEntry *tc = c->cores[i];
		long prio = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, tid);

		if (prio < 0)
			return pr_perror("cannot read the I/O priority of thread %d", tid);
		tc->has_ioprio = 1;
		tc->ioprio = prio;
		/* /proc/TID reaches a thread too, though readdir of /proc lists only processes */
		if (read_proc_u64(tid, "timerslack_ns", 0, &v, 1) && timerslack_remote(c, i, &v))
			return -1;
		tc->has_timerslack_ns = 1;
		tc->timerslack_ns = v;
	}
	if (read_proc_u64(c->pid, "coredump_filter", 1, &v, 0))
		return -1;
	pe->has_coredump_filter = 1;
	pe->coredump_filter = v;
	return 0;
}
