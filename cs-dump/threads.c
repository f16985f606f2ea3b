/*
 * Per-thread state: registers, xsave area, signal mask, pending signals,
 * alternate signal stack, rseq, robust futex list, clear_child_tid, name.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

#define LOG_PREFIX "threads: "
#include "log.h"
#include "util.h"
#include "dump.h"

#ifndef PTRACE_GET_RSEQ_CONFIGURATION
#define PTRACE_GET_RSEQ_CONFIGURATION 0x420f
#endif
#ifndef PR_GET_TID_ADDRESS
#define PR_GET_TID_ADDRESS 40
#endif

struct rseq_conf {
	uint64_t addr;
	uint32_t size, sig, flags, pad;
};

/* Pending signals queued on the thread (shared=0) or the process (shared=1). */
int peek_pending(pid_t tid, int shared, SiginfoEntry ***out, size_t *n)
{
	struct { uint64_t off; uint32_t flags; int32_t nr; } arg;
	siginfo_t si[16];

	for (arg.off = 0;; arg.off += 16) {
		long r;

		arg.flags = shared;	/* PTRACE_PEEKSIGINFO_SHARED */
		arg.nr = 16;
		r = ptrace(PTRACE_PEEKSIGINFO, tid, &arg, si);
		if (r < 0)
			return pr_perror("cannot read pending signals of %d", tid);
		for (long i = 0; i < r; i++) {
			SiginfoEntry *e = xzalloc(sizeof(*e));
			SiginfoEntry **arr = xrealloc(*out, (*n + 1) * sizeof(*arr));

			if (!e || !arr)
				return -1;
			*out = arr;
			siginfo_entry__init(e);
			e->raw.len = sizeof(si[i]);
			e->raw.data = xmalloc(sizeof(si[i]));
			if (!e->raw.data)
				return -1;
			memcpy(e->raw.data, &si[i], sizeof(si[i]));
			arr[(*n)++] = e;
		}
		if (r < 16)
			return 0;
	}
}


int add_siginfo(SiginfoEntry ***arr, size_t *n, const siginfo_t *si)
{
	SiginfoEntry *e = xzalloc(sizeof(*e));
	SiginfoEntry **a = xrealloc(*arr, (*n + 1) * sizeof(*a));

	if (!e || !a)
		return -1;
	*arr = a;
	siginfo_entry__init(e);
	e->raw.len = sizeof(*si);
	e->raw.data = xmalloc(sizeof(*si));
	if (!e->raw.data)
		return -1;
	memcpy(e->raw.data, si, sizeof(*si));
	a[(*n)++] = e;
	return 0;
}

static int dump_one(struct dump_ctx *c, struct pt_thread *t, ThreadCoreEntry *tc)
{
	static uint8_t xbuf[XSAVE_BUF_MAX];
	struct rseq_conf rc;
	uint64_t head = 0, mask = 0, tidaddr = 0;
	size_t hlen = 0;
	char path[64], buf[64];
	ssize_t xlen;
	int fd;

	thread_core_entry__init(tc);
	tc->tid = t->tid;
	tc->regs = xzalloc(sizeof(*tc->regs));
	if (!tc->regs)
		return -1;
	user_regs__init(tc->regs);
	tc->regs->n_gpr = sizeof(t->regs) / 8;
	tc->regs->gpr = xmalloc(sizeof(t->regs));
	if (!tc->regs->gpr)
		return -1;
	memcpy(tc->regs->gpr, &t->regs, sizeof(t->regs));

	xlen = pt_get_xstate(t->tid, xbuf);
	if (xlen < 576)
		return pr_perror("cannot read the xsave area of thread %d", t->tid);
	tc->xsave.len = xlen;
	tc->xsave.data = xmalloc(xlen);
	if (!tc->xsave.data)
		return -1;
	memcpy(tc->xsave.data, xbuf, xlen);
	/* ptrace puts the task's XCR0 in the first 8 bytes of sw_reserved (offset 464) */
	memcpy(&tc->xfeatures, xbuf + 464, 8);

	if (ptrace(PTRACE_GETSIGMASK, t->tid, 8, &mask))
		return pr_perror("cannot read the signal mask of thread %d", t->tid);
	tc->sigmask = mask;

	memset(&rc, 0, sizeof(rc));
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, t->tid, sizeof(rc), &rc) > 0 && rc.addr) {
		tc->rseq = xzalloc(sizeof(*tc->rseq));
		if (!tc->rseq)
			return -1;
		rseq_entry__init(tc->rseq);
		tc->rseq->addr = rc.addr;
		tc->rseq->size = rc.size;
		tc->rseq->sig = rc.sig;
		tc->rseq->flags = rc.flags;
	}
	if (syscall(SYS_get_robust_list, t->tid, &head, &hlen))
		return pr_perror("cannot read the robust list of thread %d", t->tid);
	tc->has_robust_list = tc->has_robust_list_len = 1;
	tc->robust_list = head;
	tc->robust_list_len = hlen;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", c->pid, t->tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);

		close(fd);
		buf[n > 0 ? n : 0] = 0;
		buf[strcspn(buf, "\n")] = 0;
		tc->comm = xstrdup(buf);
	}

	/* What only the thread itself can tell: remote syscalls, in one batch. */
	{
		struct rbatch *b = xzalloc(sizeof(*b));
		unsigned long ss_at = b ? rbatch_buf(c, b, sizeof(stack_t)) : 0;
		unsigned long tid_at = ss_at ? rbatch_buf(c, b, 8) : 0;
		stack_t ss;
		long r0, r1;

		if (!tid_at || rbatch_add(b, SYS_sigaltstack, 0, ss_at, 0, 0, 0, 0) < 0 ||
		    rbatch_add(b, SYS_prctl, PR_GET_TID_ADDRESS, tid_at, 0, 0, 0, 0) < 0 ||
		    rbatch_add(b, SYS_prctl, PR_GET_SECUREBITS, 0, 0, 0, 0, 0) < 0 || rbatch_run(c, t, b)) {
			free(b);
			return -1;
		}
		r0 = b->call[0].ret;
		r1 = b->call[1].ret;
		/* securebits are a credential, per thread: creds.c compares them */
		c->thread_sb[t - c->pt.t] = b->call[2].ret;
		memcpy(&ss, rbatch_out(c, b, ss_at), sizeof(ss));
		memcpy(&tidaddr, rbatch_out(c, b, tid_at), 8);
		free(b);
		if (r0)
			return pr_err("cannot read the alternate signal stack of thread %d (%ld)", t->tid, r0);
		if (r1)
			return pr_err("cannot read clear_child_tid of thread %d (%ld)", t->tid, r1);
		if (c->thread_sb[t - c->pt.t] < 0)
			return pr_err("cannot read the securebits of thread %d (%ld)", t->tid, c->thread_sb[t - c->pt.t]);
		if (!(ss.ss_flags & SS_DISABLE)) {
			tc->altstack = xzalloc(sizeof(*tc->altstack));
			if (!tc->altstack)
				return -1;
			sigaltstack_entry__init(tc->altstack);
			tc->altstack->sp = (uint64_t)ss.ss_sp;
			tc->altstack->size = ss.ss_size;
			tc->altstack->flags = ss.ss_flags & ~SS_ONSTACK;
		}
	}
	tc->has_clear_child_tid = 1;
	tc->clear_child_tid = tidaddr;

	return 0;
}

int dump_pending(struct dump_ctx *c)
{
	/* last, once no remote syscall runs any more: a signal that arrived
	 * meanwhile is either still queued or was taken out of delivery */
	for (int i = 0; i < c->pt.nr; i++) {
		struct pt_thread *t = &c->pt.t[i];
		ThreadCoreEntry *tc = c->cores[i];

		if (peek_pending(t->tid, 0, &tc->pending, &tc->n_pending))
			return -1;
		if (t->stop_sig) {
			tc->has_stop_sig = 1;
			tc->stop_sig = t->stop_sig;
			if (add_siginfo(&tc->pending, &tc->n_pending, &t->stop_info))
				return -1;
		}
		for (int k = 0; k < t->nr_extra; k++)
			if (add_siginfo(&tc->pending, &tc->n_pending, &t->extra[k]))
				return -1;
	}
	return peek_pending(c->pid, 1, &c->proc->shared_pending, &c->proc->n_shared_pending);
}

int check_dumpable(struct dump_ctx *c)
{
	/* before any remote syscall: a seccomp filter could kill the target for
	 * one. Children are dumped with it (pstree.c). */
	return seccomp_suspend(c);
}

int dump_threads(struct dump_ctx *c)
{
	c->cores = xzalloc(c->pt.nr * sizeof(*c->cores));
	free(c->thread_sb);
	c->thread_sb = xzalloc(c->pt.nr * sizeof(*c->thread_sb));
	if (!c->cores || !c->thread_sb)
		return -1;
	for (int i = 0; i < c->pt.nr; i++) {
		c->cores[i] = xzalloc(sizeof(ThreadCoreEntry));
		if (!c->cores[i] || dump_one(c, &c->pt.t[i], c->cores[i]))
			return -1;
	}
	pr_info("%d threads collected", c->pt.nr);
	return 0;
}

int write_threads(struct dump_ctx *c)
{
	for (int i = 0; i < c->pt.nr; i++) {
		char name[64];
		struct img *img;

		snprintf(name, sizeof(name), "core-%d.img", c->cores[i]->tid);
		img = img_create(c->dirfd, name, MAGIC_CORE);
		if (!img)
			return -1;
		if (img_write_msg(img, &c->cores[i]->base)) {
			img_free(img);
			return -1;
		}
		if (img_close(img, &c->sums))
			return -1;
	}
	return 0;
}
