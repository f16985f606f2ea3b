/*
 * seccomp and no_new_privs, per thread.
 *
 * A filter may deny or kill on any syscall, including the ones cs-dump runs
 * inside the target (mmap of the scratch page, prlimit64, sigaltstack,
 * rt_sigaction...). So, before the first remote syscall, every thread is
 * given PTRACE_O_SUSPEND_SECCOMP: while we trace it, neither its filters
 * nor strict mode apply (ptrace(2); needs CAP_SYS_ADMIN and a tracer that
 * is not under seccomp itself). The flag is part of the tracer link: the
 * detach in pt_release drops it (__ptrace_unlink clears task->ptrace), so
 * the target runs filtered again the moment it is released.
 *
 * The filters are read with PTRACE_SECCOMP_GET_FILTER and
 * PTRACE_SECCOMP_GET_METADATA (the LOG flag). Index 0 is the filter
 * installed first, the oldest (measured on 6.18; get_nth_filter in
 * kernel/seccomp.c counts back from the newest by count - index). The kernel has no
 * way to tell from outside whether two threads share a filter object (kcmp
 * has no seccomp type), so filters are merged by content and position in
 * the chain: two threads that each installed the same program on top of the
 * same chain get one entry. Their behaviour is the same either way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/ptrace.h>

#define LOG_PREFIX "seccomp: "
#include "log.h"
#include "util.h"
#include "seccomp-prog.h"
#include "dump.h"

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif
#ifndef PTRACE_SECCOMP_GET_METADATA
#define PTRACE_SECCOMP_GET_METADATA 0x420d
#endif


static int thread_mode(pid_t pid, pid_t tid)
{
	char buf[64];

	if (proc_status_line(pid, tid, "Seccomp", buf, sizeof(buf)))
		return 0;	/* kernel without CONFIG_SECCOMP */
	return atoi(buf);
}

int seccomp_suspend(struct dump_ctx *c)
{
	int any = 0;

	for (int i = 0; i < c->pt.nr && !any; i++)
		any = thread_mode(c->pid, c->pt.t[i].tid) != SECCOMP_MODE_DISABLED;
	if (!any)
		return 0;
	for (int i = 0; i < c->pt.nr; i++) {
		pid_t tid = c->pt.t[i].tid;

		/* the options replace the seize options: keep TRACESYSGOOD,
		 * which pt_syscall relies on */
		if (ptrace(PTRACE_SETOPTIONS, tid, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_SUSPEND_SECCOMP))
			return pr_perror("thread %d runs under seccomp and its filters cannot be suspended for the "
					 "dump (PTRACE_O_SUSPEND_SECCOMP needs CAP_SYS_ADMIN and a cs-dump not "
					 "under seccomp itself)", tid);
	}
	pr_info("seccomp suspended in the %d threads of %d while they are traced", c->pt.nr, c->pid);
	return 0;
}

/* Why this program cannot be restored faithfully, or NULL. */
static const char *bad_prog(const struct sock_filter *f, long n)
{
	if (seccomp_user_notif(f, n))
		return "returns SECCOMP_RET_USER_NOTIF: user notification is not supported "
			       "(its listener cannot be restored)";
	return NULL;
}

/* The entry of prog (with flags, on top of parent) in pe, added if new; its index or -1. */
static int filter_index(ProcessEntry *pe, const struct sock_filter *f, long n, uint32_t flags, int parent)
{
	SeccompFilterEntry *e, **arr;
	size_t len = n * sizeof(*f);

	for (size_t i = 0; i < pe->n_seccomp_filters; i++) {
		e = pe->seccomp_filters[i];
		if (e->flags == flags && (e->has_parent ? e->parent : -1) == parent && e->prog.len == len &&
		    !memcmp(e->prog.data, f, len))
			return i;
	}
	e = xzalloc(sizeof(*e));
	arr = xrealloc(pe->seccomp_filters, (pe->n_seccomp_filters + 1) * sizeof(*arr));
	if (!e || !arr) {
		free(e);
		return -1;
	}
	pe->seccomp_filters = arr;
	seccomp_filter_entry__init(e);
	e->prog.data = xmalloc(len);
	if (!e->prog.data) {
		free(e);
		return -1;
	}
	memcpy(e->prog.data, f, len);
	e->prog.len = len;
	e->flags = flags;
	if (parent >= 0) {
		e->has_parent = 1;
		e->parent = parent;
	}
	arr[pe->n_seccomp_filters] = e;
	return pe->n_seccomp_filters++;
}

/* The filter chain of thread tid into pe; tc->seccomp_filter names its most recent filter. */
static int dump_chain(struct dump_ctx *c, pid_t tid, ProcessEntry *pe, ThreadCoreEntry *tc)
{
	static struct sock_filter prog[SECCOMP_MAX_INSNS];
	char buf[64];
	int count, parent = -1;

	if (proc_status_line(c->pid, tid, "Seccomp_filters", buf, sizeof(buf)))
		return pr_err("thread %d: no Seccomp_filters in its status", tid);
	count = atoi(buf);
	if (count <= 0)
		return pr_err("thread %d is in seccomp filter mode with %d filters", tid, count);
	/* oldest first (index 0), so that each parent exists before its child */
	for (int idx = 0; idx < count; idx++) {
		struct { uint64_t filter_off, flags; } md = { idx, 0 };
		const char *why;
		long n;

		n = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (long)idx, NULL);
		if (n <= 0 || n > SECCOMP_MAX_INSNS)
			return pr_perror("thread %d: cannot read seccomp filter %d (%ld instructions)", tid, idx, n);
		if (ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (long)idx, prog) != n)
			return pr_perror("thread %d: seccomp filter %d changed while read", tid, idx);
		if (ptrace(PTRACE_SECCOMP_GET_METADATA, tid, sizeof(md), &md) != sizeof(md))
			return pr_perror("thread %d: cannot read the flags of seccomp filter %d", tid, idx);
		why = bad_prog(prog, n);
		if (why)
			return pr_err("thread %d: seccomp filter %d (0 is the first installed) %s", tid, idx, why);
		parent = filter_index(pe, prog, n, md.flags & SECCOMP_FILTER_FLAG_LOG, parent);
		if (parent < 0)
			return -1;
	}
	/* the count must not have grown meanwhile: index count is past the end */
	if (ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (long)count, NULL) >= 0 || errno != ENOENT)
		return pr_err("thread %d: more seccomp filters than its status says (%d)", tid, count);
	tc->has_seccomp_filter = 1;
	tc->seccomp_filter = parent;
	return 0;
}

int dump_seccomp(struct dump_ctx *c, ProcessEntry *pe)
{
	for (int i = 0; i < c->pt.nr; i++) {
		pid_t tid = c->pt.t[i].tid;
		ThreadCoreEntry *tc = c->cores[i];
		char buf[64];
		int mode = thread_mode(c->pid, tid);

		if (proc_status_line(c->pid, tid, "NoNewPrivs", buf, sizeof(buf)) == 0) {
			tc->has_no_new_privs = 1;
			tc->no_new_privs = atoi(buf) != 0;
		}
		tc->has_seccomp_mode = 1;
		tc->seccomp_mode = mode;
		if (mode == SECCOMP_MODE_FILTER) {
			if (dump_chain(c, tid, pe, tc))
				return -1;
		} else if (mode != SECCOMP_MODE_DISABLED && mode != SECCOMP_MODE_STRICT) {
			return pr_err("thread %d: unknown seccomp mode %d", tid, mode);
		}
	}
	if (pe->n_seccomp_filters)
		pr_info("%zu seccomp filters saved", pe->n_seccomp_filters);
	return 0;
}
