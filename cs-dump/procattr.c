/*
 * Attributes the kernel keeps per task or per mm that a server may set
 * and that no other image holds: the I/O priority of each thread
 * (ionice(1), ioprio_set(2)), the timer slack of each thread
 * (prctl(PR_SET_TIMERSLACK), /proc/TID/timerslack_ns) and the core dump
 * filter of the process (/proc/PID/coredump_filter, core(5)). All are read
 * from outside: no remote syscall.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#define LOG_PREFIX "procattr: "
#include "log.h"
#include "util.h"
#include "dump.h"

#define IOPRIO_WHO_PROCESS 1	/* ioprio_get(2): "which"; who is a TID */

/* the number in /proc/ID/NAME (base 10, or 16 when hex) into *v; 0 or -1 */
static int read_proc_u64(pid_t id, const char *name, int hex, uint64_t *v)
{
	char path[64], *s, *end;

	snprintf(path, sizeof(path), "/proc/%d/%s", id, name);
	s = read_file_at(AT_FDCWD, path, NULL, 64);
	if (!s)
		return pr_perror("cannot read %s", path);
	errno = 0;
	*v = strtoull(s, &end, hex ? 16 : 10);
	if (errno || end == s) {
		free(s);
		return pr_err("%s: not a number", path);
	}
	free(s);
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
		if (read_proc_u64(tid, "timerslack_ns", 0, &v))
			return -1;
		tc->has_timerslack_ns = 1;
		tc->timerslack_ns = v;
	}
	if (read_proc_u64(c->pid, "coredump_filter", 1, &v))
		return -1;
	pe->has_coredump_filter = 1;
	pe->coredump_filter = v;
	return 0;
}
