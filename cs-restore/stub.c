/*
 * The stub: a child of cs-restore created with clone3(set_tid) so that it
 * has the saved PID. It sets up its fds, handlers, cwd and umask in plain C,
 * maps a page holding a syscall instruction (the gadget for remote
 * syscalls) and a scratch page into a hole that no saved VMA uses, then
 * stops with PTRACE_TRACEME + SIGSTOP. cs-restore does the rest remotely.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/sched.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define LOG_PREFIX "stub: "
#include "log.h"
#include "util.h"
#include "restore.h"

long rsys(struct rst_ctx *c, int thread, long nr, unsigned long a1, unsigned long a2, unsigned long a3,
	  unsigned long a4, unsigned long a5, unsigned long a6)
{
	long ret;

	if (pt_syscall(&c->pt, &c->pt.t[thread], &ret, nr, a1, a2, a3, a4, a5, a6))
		return -EIO;
	return ret;
}

int scratch_write(struct rst_ctx *c, unsigned long off, const void *buf, size_t len)
{
	struct iovec l = { (void *)buf, len }, r = { (void *)(SCRATCH(c) + off), len };

	if (off + len > 4096)
		return pr_err("scratch write of %zu bytes at %lu overflows the page", len, off);
	if (process_vm_writev(c->pid, &l, 1, &r, 1, 0) != (ssize_t)len)
		return pr_perror("cannot write to the stub's scratch page");
	return 0;
}

static int overlaps(unsigned long s, unsigned long e, unsigned long a, unsigned long b)
{
	return s < b && a < e;
}

/* A hole of 1 MiB free in the saved layout and in ours (the stub starts as our copy). */
int find_hole(struct rst_ctx *c)
{
	struct vma *mine;
	int n;

	mine = proc_vmas(getpid(), &n);
	if (!mine)
		return -1;
	for (unsigned long a = 0x10000000000UL; a < 0x7f0000000000UL; a += 0x10000000UL) {
		unsigned long e = a + (1UL << 20);
		int busy = 0;

		for (size_t i = 0; i < c->mm->n_vmas && !busy; i++)
			busy = overlaps(a, e, c->mm->vmas[i]->start, c->mm->vmas[i]->end);
		for (int i = 0; i < n && !busy; i++)
			busy = overlaps(a, e, mine[i].start, mine[i].end);
		if (!busy) {
			c->hole = a;
			free(mine);
			return 0;
		}
	}
	free(mine);
	return pr_err("no free address range for the restore gadget");
}

static void stub_fail(int errfd, const char *msg)
{
	if (write(errfd, msg, strlen(msg)) < 0)
		_exit(3);
	_exit(2);
}

static void stub_main(struct rst_ctx *c, pid_t parent, int errfd)
{
	ProcessEntry *pe = c->proc;
	char err[512];
	sigset_t all;
	unsigned char *g;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);

	/* session and group: what can be recreated from here */
	if (pe->sid == pe->pid)
		setsid();
	else if (pe->pgid == pe->pid)
		setpgid(0, 0);

	if (stub_files(c, &errfd, err, sizeof(err)))
		stub_fail(errfd, err);
	umask(pe->umask);
	if (chdir(pe->cwd)) {
		snprintf(err, sizeof(err), "cannot change to the working directory %s: %m", pe->cwd);
		stub_fail(errfd, err);
	}
	for (size_t i = 0; i < pe->n_rlimits; i++) {
		struct rlimit rl = { pe->rlimits[i]->cur, pe->rlimits[i]->max };

		setrlimit(pe->rlimits[i]->resource, &rl);	/* checked by check_process */
	}
	for (size_t i = 0; i < pe->n_sigactions; i++) {
		SigactionEntry *s = pe->sigactions[i];
		struct { uint64_t handler, flags, restorer, mask; } ka = { s->handler, s->flags, s->restorer, s->mask };

		if (syscall(SYS_rt_sigaction, s->sig, &ka, NULL, 8)) {
			snprintf(err, sizeof(err), "cannot set the handler of signal %u: %m", s->sig);
			stub_fail(errfd, err);
		}
	}
	if (personality(pe->personality) < 0) {
		snprintf(err, sizeof(err), "cannot set personality %#x: %m", pe->personality);
		stub_fail(errfd, err);
	}
	g = mmap((void *)c->hole, HOLE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		 -1, 0);
	if (g != (void *)c->hole)
		stub_fail(errfd, "cannot map the restore gadget");
	g[0] = 0x0f;	/* syscall */
	g[1] = 0x05;
	g[2] = 0xcc;	/* int3 */
	mprotect(g, 4096, PROT_READ | PROT_EXEC);
	close(errfd);
	if (ptrace(PTRACE_TRACEME, 0, 0, 0))
		_exit(4);
	raise(SIGSTOP);
	_exit(5);	/* not reached: cs-restore replaces this program */
}

int create_stub(struct rst_ctx *c)
{
	struct clone_args ca;
	pid_t tid = c->pid, parent = getpid(), child;
	int ep[2], status;
	char msg[512];
	ssize_t n;

	if (pipe2(ep, O_CLOEXEC))
		return pr_perror("cannot create a pipe");
	memset(&ca, 0, sizeof(ca));
	ca.exit_signal = SIGCHLD;
	ca.set_tid = (uint64_t)&tid;
	ca.set_tid_size = 1;
	fflush(NULL);
	if (timens_enter(c)) {	/* the stub is the first task in a new one, if any */
		close(ep[0]);
		close(ep[1]);
		return -1;
	}
	child = syscall(SYS_clone3, &ca, sizeof(ca));
	if (child != 0 && timens_leave(c, child > 0 ? child : 0)) {
		close(ep[0]);
		close(ep[1]);
		if (child > 0) {
			kill(child, SIGKILL);
			waitpid(child, &status, __WALL);
		}
		return -1;
	}
	if (child < 0) {
		close(ep[0]);
		close(ep[1]);
		if (errno == EEXIST)
			return pr_err("cannot create process %d: the PID is taken", c->pid);
		return pr_perror("cannot create process %d (clone3 with set_tid)", c->pid);
	}
	if (child == 0) {
		close(ep[0]);
		stub_main(c, parent, ep[1]);
	}
	close(ep[1]);
	n = read(ep[0], msg, sizeof(msg) - 1);
	close(ep[0]);
	if (n > 0) {
		msg[n] = 0;
		waitpid(child, &status, __WALL);
		return pr_err("%s", msg);
	}
	if (waitpid(child, &status, WUNTRACED | __WALL) != child || !WIFSTOPPED(status)) {
		return pr_err("the restore stub %d did not stop as expected (status %#x)", child, status);
	}
	c->pt.pid = child;
	c->pt.nr = 1;
	c->pt.t = xzalloc(sizeof(struct pt_thread) * (c->nr_cores ? c->nr_cores : 1));
	if (!c->pt.t)
		return -1;
	c->pt.t[0].tid = child;
	c->pt.gadget = c->hole;
	if (ptrace(PTRACE_SETOPTIONS, child, 0, PTRACE_O_EXITKILL | PTRACE_O_TRACECLONE | PTRACE_O_TRACESYSGOOD))
		return pr_perror("cannot set ptrace options on the stub");
	if (pt_getregs(child, &c->pt.t[0].regs))
		return pr_perror("cannot read the stub's registers");
	pr_info("stub %d created and stopped", child);
	return 0;
}
