/*
 * Threads: check that every TID is free and this CPU has the saved xsave
 * features; create each thread with clone3(set_tid) inside the stub; give
 * each its per-thread state; set registers last and detach.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/sched.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define LOG_PREFIX "threads: "
#include "log.h"
#include "util.h"
#include "restore.h"

#ifndef ERESTARTSYS
#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516
#endif

static int pid_taken(pid_t pid)
{
	char path[64], *comm;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	comm = read_file_at(AT_FDCWD, path, NULL, 64);
	if (!comm)
		return 0;
	comm[strcspn(comm, "\n")] = 0;
	pr_err("PID %d is taken (by %s): cannot restore there", pid, comm);
	free(comm);
	return 1;
}

int check_threads(struct rst_ctx *c)
{
	uint64_t xcr0 = host_xcr0();

	for (size_t i = 0; i < c->nr_cores; i++) {
		ThreadCoreEntry *tc = c->cores[i];

		if (!c->pidns && pid_taken(tc->tid))
			return -1;
		if (tc->xfeatures & ~xcr0)
			return pr_err("thread %u uses xsave features %#llx that this CPU lacks (XCR0 %#llx)", tc->tid,
				      (unsigned long long)tc->xfeatures, (unsigned long long)xcr0);
		if (tc->regs->n_gpr != sizeof(struct user_regs_struct) / 8)
			return pr_err("core-%u.img: %zu registers, expected %zu", tc->tid, tc->regs->n_gpr,
				      sizeof(struct user_regs_struct) / 8);
		if (tc->xsave.len < 576)
			return pr_err("core-%u.img: xsave area of %zu bytes is too short", tc->tid, tc->xsave.len);
	}
	return 0;
}

/* Create thread i (i >= 1) with its saved TID by a remote clone3 in the main thread. */
static int create_thread(struct rst_ctx *c, size_t i)
{
	struct clone_args ca;
	uint64_t tid = c->cores[i]->tid;
	struct pt_thread *t;
	long r;

	memset(&ca, 0, sizeof(ca));
	ca.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
	ca.set_tid = SCRATCH(c) + 512;
	ca.set_tid_size = 1;
	if (scratch_write(c, 0, &ca, sizeof(ca)) || scratch_write(c, 512, &tid, sizeof(pid_t)))
		return -1;
	r = rsys(c, 0, SYS_clone3, SCRATCH(c), sizeof(ca), 0, 0, 0, 0);
	if (r != (long)tid)
		return pr_err("cannot create thread %llu: %s", (unsigned long long)tid,
			      r < 0 ? strerror(-r) : "got another TID");
	if (c->pidns && !(tid = pidns_host_tid(c, tid)))	/* what ptrace calls it */
		return -1;
	/* PTRACE_O_TRACECLONE: it starts traced, stopped before its first instruction */
	if (pt_wait_stop(tid) < 0)
		return pr_err("thread %llu died at birth", (unsigned long long)tid);
	t = &c->pt.t[c->pt.nr++];
	memset(t, 0, sizeof(*t));
	t->tid = tid;
	if (pt_getregs(tid, &t->regs))
		return pr_perror("cannot read the registers of thread %llu", (unsigned long long)tid);
	return 0;
}

static int thread_state(struct rst_ctx *c, int i)
{
	ThreadCoreEntry *tc = c->cores[i];
	long r;

	r = rsys(c, i, SYS_set_tid_address, tc->has_clear_child_tid ? tc->clear_child_tid : 0, 0, 0, 0, 0, 0);
	if (r < 0)
		return pr_err("thread %u: cannot set clear_child_tid: %s", tc->tid, strerror(-r));
	r = rsys(c, i, SYS_set_robust_list, tc->robust_list, tc->robust_list_len ? tc->robust_list_len : 24, 0, 0, 0, 0);
	if (r)
		return pr_err("thread %u: cannot set the robust list: %s", tc->tid, strerror(-r));
	if (tc->rseq) {
		r = rsys(c, i, SYS_rseq, tc->rseq->addr, tc->rseq->size, 0, tc->rseq->sig, 0, 0);
		if (r)
			return pr_err("thread %u: cannot register rseq at %#llx: %s", tc->tid,
				      (unsigned long long)tc->rseq->addr, strerror(-r));
	}
	if (tc->altstack) {
		stack_t ss = { .ss_sp = (void *)tc->altstack->sp, .ss_flags = tc->altstack->flags,
			       .ss_size = tc->altstack->size };

		if (scratch_write(c, 0, &ss, sizeof(ss)))
			return -1;
		r = rsys(c, i, SYS_sigaltstack, SCRATCH(c), 0, 0, 0, 0, 0);
		if (r)
			return pr_err("thread %u: cannot set the alternate signal stack: %s", tc->tid, strerror(-r));
	}
	if (tc->comm) {
		/* /proc/PID/task/TID/comm is writable only from the same thread
		 * group, so the thread names itself */
		char name[16];

		snprintf(name, sizeof(name), "%s", tc->comm);
		if (scratch_write(c, 0, name, sizeof(name)))
			return -1;
		r = rsys(c, i, SYS_prctl, PR_SET_NAME, SCRATCH(c), 0, 0, 0, 0);
		if (r)
			return pr_err("thread %u: cannot restore its name %s: %s", tc->tid, name, strerror(-r));
	}
	return 0;
}

int restore_threads(struct rst_ctx *c)
{
	for (size_t i = 1; i < c->nr_cores; i++)
		if (create_thread(c, i))
			return -1;
	for (size_t i = 0; i < c->nr_cores; i++)
		if (thread_state(c, i))
			return -1;
	pr_info("%zu threads created", c->nr_cores);
	return 0;
}

/* Queue the saved pending signals, each from the thread it is for (thread
 * idx; the main thread for process-wide ones): the kernel accepts a
 * siginfo with si_code >= 0 only from the receiving thread itself
 * (do_rt_tgsigqueueinfo in kernel/signal.c). */
static int queue_pending(struct rst_ctx *c, int idx, int tid, SiginfoEntry **s, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		siginfo_t si;
		long r;

		if (s[k]->raw.len != sizeof(si))
			return pr_err("corrupt pending siginfo");
		memcpy(&si, s[k]->raw.data, sizeof(si));
		if (scratch_write(c, 0, &si, sizeof(si)))
			return -1;
		if (tid)
			r = rsys(c, idx, SYS_rt_tgsigqueueinfo, c->proc->pid, tid, si.si_signo, SCRATCH(c), 0, 0);
		else
			r = rsys(c, 0, SYS_rt_sigqueueinfo, c->proc->pid, si.si_signo, SCRATCH(c), 0, 0, 0);
		if (r)
			return pr_err("cannot queue pending signal %d: %s", si.si_signo, strerror(-r));
	}
	return 0;
}

int restore_signals(struct rst_ctx *c)
{
	if (queue_pending(c, 0, 0, c->proc->shared_pending, c->proc->n_shared_pending))
		return -1;
	for (size_t i = 0; i < c->nr_cores; i++)
		if (queue_pending(c, i, c->cores[i]->tid, c->cores[i]->pending, c->cores[i]->n_pending))
			return -1;
	return 0;
}

/*
 * The first saved pending signal that thread i will take on resume and that
 * runs a handler: 0 if none, else its signal number, with *restart set when
 * the handler has SA_RESTART. A process-wide signal goes to the first thread
 * that does not block it (the kernel tries the main thread first).
 */
static int handled_pending(struct rst_ctx *c, size_t i, int *restart)
{
	ThreadCoreEntry *tc = c->cores[i];

	for (int pass = 0; pass < 2; pass++) {
		SiginfoEntry **s = pass ? c->proc->shared_pending : tc->pending;
		size_t n = pass ? c->proc->n_shared_pending : tc->n_pending;

		for (size_t k = 0; k < n; k++) {
			siginfo_t si;
			size_t first = 0;

			memcpy(&si, s[k]->raw.data, sizeof(si));
			if (si.si_signo < 1 || si.si_signo > 64 || (tc->sigmask >> (si.si_signo - 1) & 1))
				continue;
			if (pass) {
				while (first < c->nr_cores && (c->cores[first]->sigmask >> (si.si_signo - 1) & 1))
					first++;
				if (first != i)
					continue;
			}
			for (size_t a = 0; a < c->proc->n_sigactions; a++) {
				SigactionEntry *sa = c->proc->sigactions[a];

				if (sa->sig == (uint32_t)si.si_signo && sa->handler > 1) {
					*restart = !!(sa->flags & SA_RESTART);
					return si.si_signo;
				}
			}
		}
	}
	return 0;
}

/*
 * The registers as the thread must resume: a syscall interrupted by the
 * freeze is re-entered (KERNEL-FACTS.md, "Where a seized thread was"), or
 * returns -EINTR when a pending signal's handler will run first, as the
 * kernel would have done (arch/x86/kernel/signal.c, handle_signal).
 */
static void fixup_restart(struct user_regs_struct *r, int handled, int sa_restart)
{
	long rax = (long)r->rax;
	int again = 0;

	if ((long)r->orig_rax >= 0) {
		if (rax == -ERESTARTNOINTR)
			again = 1;
		else if (rax == -ERESTARTSYS)
			again = !handled || sa_restart;
		else if (rax == -ERESTARTNOHAND)
			again = !handled;
		else if (rax == -ERESTART_RESTARTBLOCK && r->orig_rax == SYS_poll && (int)r->rdx < 0)
			/* poll(2) always leaves a restart block (fs/select.c); with
			 * no timeout it is the same call again (script(1) takes
			 * an EINTR from poll for the end of the session) */
			again = !handled;
		if (again) {
			r->rax = r->orig_rax;
			r->rip -= 2;
		} else if (rax == -ERESTARTSYS || rax == -ERESTARTNOHAND || rax == -ERESTART_RESTARTBLOCK) {
			r->rax = -EINTR;
		}
	}
	r->orig_rax = -1;
}

int finish_threads(struct rst_ctx *c)
{
	static uint8_t xbuf[XSAVE_BUF_MAX];
	ssize_t cur;

	for (size_t i = 0; i < c->nr_cores; i++) {
		ThreadCoreEntry *tc = c->cores[i];
		struct pt_thread *t = &c->pt.t[i];
		struct user_regs_struct r;
		uint64_t mask = tc->sigmask;

		cur = pt_get_xstate(t->tid, xbuf);
		if (cur < 0)
			return pr_perror("thread %u: cannot read its xsave area", tc->tid);
		memcpy(xbuf, tc->xsave.data, (size_t)cur < tc->xsave.len ? (size_t)cur : tc->xsave.len);
		if (pt_set_xstate(t->tid, xbuf, cur))
			return pr_perror("thread %u: cannot set its xsave area", tc->tid);
		memcpy(&r, tc->regs->gpr, sizeof(r));
		{
			int restart = 0, handled = handled_pending(c, i, &restart);

			fixup_restart(&r, handled, restart);
			sleep_fixup(c, i, &r, handled);
		}
		if (pt_setregs(t->tid, &r))
			return pr_perror("thread %u: cannot set its registers", tc->tid);
		t->regs = r;
		t->regs_dirty = 0;
		if (ptrace(PTRACE_SETSIGMASK, t->tid, 8, &mask))
			return pr_perror("thread %u: cannot set its signal mask", tc->tid);
	}
	return 0;
}
