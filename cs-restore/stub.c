/*
 * The stub: a child of cs-restore created with clone3(set_tid) so that it
 * has the saved PID. It sets up its fds, handlers, cwd and umask in plain C,
 * maps a page holding a syscall instruction (the gadget for remote
 * syscalls) and a scratch page into a hole that no saved VMA uses, then
 * stops with PTRACE_TRACEME + SIGSTOP. cs-restore does the rest remotely.
 *
 * In a process tree, each stub forks the stubs of its children the same
 * way, one at a time and in pstree.img order, after its own fds exist: a
 * later stub takes an open file description of an earlier process with
 * pidfd_getfd(2), so the earlier one must be complete. The stubs tell
 * their parent that they are set up through a shared page (the board);
 * the children block in pause() until cs-restore seizes them
 * (PTRACE_SEIZE + PTRACE_INTERRUPT: a ptrace stop, of which the parent
 * hears nothing, where a SIGSTOP would queue SIGCHLD in it).
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

/*
 * The batch loop, at BATCH_CODE in the gadget page (x86-64):
 *	mov rbx, rdi; mov r12, rsi		table, count
 * 1:	test r12, r12; jz 2f
 *	mov rax, [rbx]; mov rdi, [rbx+8]; mov rsi, [rbx+16]; mov rdx, [rbx+24]
 *	mov r10, [rbx+32]; mov r8, [rbx+40]; mov r9, [rbx+48]
 *	syscall; mov [rbx+56], rax
 *	add rbx, 64; dec r12; jmp 1b
 * 2:	int3
 * Every register it changes is put back after the stop (pt_restore_regs).
 */
#define BATCH_CODE 16
#define BATCH_TABLE(c) ((c)->hole + 2 * 4096)
static const unsigned char batch_code[] = {
	0x48, 0x89, 0xfb, 0x49, 0x89, 0xf4,
	0x4d, 0x85, 0xe4, 0x74, 0x2a,
	0x48, 0x8b, 0x03, 0x48, 0x8b, 0x7b, 0x08, 0x48, 0x8b, 0x73, 0x10, 0x48, 0x8b, 0x53, 0x18,
	0x4c, 0x8b, 0x53, 0x20, 0x4c, 0x8b, 0x43, 0x28, 0x4c, 0x8b, 0x4b, 0x30,
	0x0f, 0x05, 0x48, 0x89, 0x43, 0x38,
	0x48, 0x83, 0xc3, 0x40, 0x49, 0xff, 0xcc, 0xeb, 0xd1,
	0xcc,
};

int rsys_batch(struct rst_ctx *c, struct rsys_call *calls, size_t n)
{
	struct pt_thread *t = &c->pt.t[0];
	struct user_regs_struct r = t->regs;
	struct iovec l = { calls, n * sizeof(*calls) }, rv = { (void *)BATCH_TABLE(c), n * sizeof(*calls) };
	unsigned long end = c->hole + BATCH_CODE + sizeof(batch_code);

	if (!n)
		return 0;
	if (n > RSYS_BATCH_MAX)
		return pr_err("rsys_batch: %zu calls, at most %d", n, RSYS_BATCH_MAX);
	if (process_vm_writev(c->pid, &l, 1, &rv, 1, 0) != (ssize_t)l.iov_len)
		return pr_perror("cannot write the calls into the stub");
	r.rip = c->hole + BATCH_CODE;
	r.orig_rax = -1;	/* no syscall restart on resume */
	r.rdi = BATCH_TABLE(c);
	r.rsi = n;
	if (pt_setregs(t->tid, &r))
		return pr_perror("cannot set registers of thread %d", t->tid);
	t->regs_dirty = 1;
	t->in_sigstop = 0;
	for (;;) {
		int status, sig;

		if (ptrace(PTRACE_CONT, t->tid, 0, 0))
			return pr_perror("cannot resume thread %d", t->tid);
		status = pt_wait_stop(t->tid);
		if (status < 0)
			return pr_err("thread %d died during a batch of remote syscalls", t->tid);
		if (status >> 16)
			continue;	/* PTRACE_INTERRUPT still pending, or an event: go on */
		sig = WSTOPSIG(status);
		if (sig == SIGTRAP) {
			if (pt_getregs(t->tid, &r))
				return pr_perror("cannot read registers of thread %d", t->tid);
			if (r.rip == end)
				break;
		}
		/* a signal for the stub: kept, as pt_syscall does */
		if (pt_keep_signal(&c->pt, t, sig, NULL))
			return -1;
		if (sig == SIGTRAP)
			return pr_err("thread %d: unexpected trap at %#llx in a batch of remote syscalls", t->tid, r.rip);
	}
	l.iov_base = calls;
	if (process_vm_readv(c->pid, &l, 1, &rv, 1, 0) != (ssize_t)l.iov_len)
		return pr_perror("cannot read the results of the calls from the stub");
	return pt_restore_regs(t);
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

/* A hole of 1 MiB free in every saved layout and in ours (the stubs start as our copy). */
int find_hole(struct rst_ctx *c)
{
	struct rst_tree *t = c->tree;
	struct vma *mine;
	int n;

	mine = proc_vmas(getpid(), &n);
	if (!mine)
		return -1;
	for (unsigned long a = 0x10000000000UL; a < 0x7f0000000000UL; a += 0x10000000UL) {
		unsigned long e = a + (1UL << 20);
		int busy = 0;

		for (size_t k = 0; k < t->nr && !busy; k++) {
			MmEntry *mm = t->p[k]->mm;

			for (size_t i = 0; mm && i < mm->n_vmas && !busy; i++)
				busy = overlaps(a, e, mm->vmas[i]->start, mm->vmas[i]->end);
		}
		for (int i = 0; i < n && !busy; i++)
			busy = overlaps(a, e, mine[i].start, mine[i].end);
		if (!busy) {
			for (size_t k = 0; k < t->nr; k++)
				t->p[k]->hole = a;
			free(mine);
			return 0;
		}
	}
	free(mine);
	return pr_err("no free address range for the restore gadget");
}

/* The board: one word per process of the tree, shared by every stub. */
enum { BOARD_WAIT, BOARD_DONE, BOARD_FAILED };
static volatile int *board;
static size_t board_len;	/* bytes */
static long my_slot = -1;	/* this stub's word, -1 in cs-restore */

static void stub_fail(int errfd, const char *msg)
{
	if (board && my_slot >= 0)
		board[my_slot] = BOARD_FAILED;
	if (write(errfd, msg, strlen(msg)) < 0)
		_exit(3);
	_exit(2);
}

/*
 * Session and group, as far as they can be made from here (check_tree):
 * a session leader makes its session, a group leader its group; a member
 * of a group made earlier in the tree joins it; the root's group and
 * session outside the tree are cs-restore's, which the stubs inherit.
 */
static void stub_ids(struct rst_ctx *c, int errfd)
{
	ProcessEntry *pe = c->proc, *root = c->tree->p[0]->proc;
	char err[256];
	pid_t want = pe->pgid;

	if (pe->sid == pe->pid) {
		if (setsid() < 0) {
			snprintf(err, sizeof(err), "process %u: cannot make its session (setsid): %m", pe->pid);
			stub_fail(errfd, err);
		}
		return;
	}
	if (!c->idx) {
		if (pe->pgid == pe->pid)
			setpgid(0, 0);
		return;
	}
	if (pe->pgid == root->pgid && root->pgid != root->pid)
		want = getpgid(c->tree->p[0]->pid);	/* the root's: cs-restore's group */
	if (getpgid(0) != want && setpgid(0, want == (pid_t)pe->pid ? 0 : want)) {
		snprintf(err, sizeof(err), "process %u: cannot join process group %d (setpgid): %m", pe->pid, want);
		stub_fail(errfd, err);
	}
}

/* A zombie child: its ids, its name, and its exit with the saved status. */
static void zombie_main(struct rst_ctx *c, pid_t parent, int errfd)
{
	int st = c->proc->exit_status;
	struct rlimit no_core = { 0, 0 };
	sigset_t one;

	if (getppid() != parent)
		_exit(1);
	stub_ids(c, errfd);
	prctl(PR_SET_NAME, c->proc->comm);
	if (board)
		board[my_slot] = BOARD_DONE;
	close(errfd);
	if (WIFSIGNALED(st)) {
		setrlimit(RLIMIT_CORE, &no_core);
		signal(WTERMSIG(st), SIG_DFL);
		sigemptyset(&one);
		sigaddset(&one, WTERMSIG(st));
		sigprocmask(SIG_UNBLOCK, &one, NULL);
		raise(WTERMSIG(st));
	}
	_exit(WEXITSTATUS(st));
}

static void stub_main(struct rst_ctx *c, pid_t parent, int errfd);

/*
 * Fork the stub of process j of the tree, as a child of the caller
 * (parent: the caller's PID as the child sees it), with its PID, and wait
 * until it is set up (BOARD_DONE) or has exited (a zombie). The exit of a
 * zombie queues its exit signal here (blocked: a blocked signal is never
 * discarded): it is taken out again. Under --pidns the caller is in the
 * new PID namespace, and the one entry of set_tid is for the innermost
 * namespace, the new one (clone(2): set_tid_size may be smaller than the
 * nesting depth; the outer PIDs are then chosen by the kernel).
 */
static void stub_fork(struct rst_tree *t, size_t j, pid_t parent, int errfd)
{
	struct rst_ctx *k = t->p[j];
	ProcessEntry *pe = k->proc;
	struct clone_args ca;
	pid_t tid = pe->pid, child;
	int sig = pe->has_exit_signal ? pe->exit_signal : SIGCHLD;
	char err[256];

	memset(&ca, 0, sizeof(ca));
	ca.exit_signal = sig;
	ca.set_tid = (uint64_t)&tid;
	ca.set_tid_size = 1;
	child = syscall(SYS_clone3, &ca, sizeof(ca));
	if (child < 0) {
		snprintf(err, sizeof(err), "cannot create process %u%s: %m", pe->pid,
			 errno == EEXIST ? " (the PID is taken)" : "");
		stub_fail(errfd, err);
	}
	if (child == 0) {
		my_slot = j;
		if (pe->zombie)
			zombie_main(k, parent, errfd);
		stub_main(k, parent, errfd);
	}
	for (;;) {
		siginfo_t si;

		if (board[j] == BOARD_FAILED)
			_exit(2);	/* it said why */
		if (board[j] == BOARD_DONE && !pe->zombie)
			break;
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, child, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == child) {
			if (pe->zombie && board[j] == BOARD_DONE)
				break;
			snprintf(err, sizeof(err), "the restore stub of process %u died (status %d)", pe->pid,
				 si.si_status);
			stub_fail(errfd, err);
		}
		usleep(100);
	}
	if (pe->zombie && sig > 0) {
		struct timespec zero = { 0, 0 };
		sigset_t one;

		sigemptyset(&one);
		sigaddset(&one, sig);
		sigtimedwait(&one, NULL, &zero);
	}
}

/* The stubs of c's children, in pstree.img order, one at a time. */
static void stub_children(struct rst_ctx *c, int errfd)
{
	struct rst_tree *t = c->tree;

	for (size_t j = c->idx + 1; j < t->nr; j++)
		if (t->p[j]->proc->ppid == (uint32_t)c->pid)
			stub_fork(t, j, c->pid, errfd);
}

void stub_fork_root(struct rst_ctx *c, int errfd)
{
	stub_fork(c->tree, 0, getpid(), errfd);
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
	/* first: what this process faults in from here on is charged there */
	if (stub_cgroup_join(c, err, sizeof(err)))
		stub_fail(errfd, err);
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if (c->idx)
		munmap((void *)c->hole, HOLE_SIZE);	/* the parent's gadget: it maps its own */

	/* session and group: what can be recreated from here */
	stub_ids(c, errfd);

	if (stub_files(c, &errfd, err, sizeof(err)) || stub_ctty(c, err, sizeof(err)))	/* pty.c */
		stub_fail(errfd, err);
	/* children before the saved handlers: with SIGCHLD ignored a zombie would be reaped */
	stub_children(c, errfd);
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
	memcpy(g + BATCH_CODE, batch_code, sizeof(batch_code));	/* rsys_batch */
	mprotect(g, 4096, PROT_READ | PROT_EXEC);
	close(errfd);
	if (c->idx || c->pidns) {
		/* seized by cs-restore once the root stops (seize_stubs) */
		board[c->idx] = BOARD_DONE;
		for (;;)
			pause();
	}
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
	board_len = (c->tree->nr * sizeof(int) + 4095) & ~4095UL;
	board = mmap(NULL, board_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (board == MAP_FAILED) {
		board = NULL;
		close(ep[0]);
		close(ep[1]);
		return pr_perror("cannot map the stubs' board");
	}
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
	/* under --pidns: the init of a new PID namespace, which forks the root's stub */
	child = c->pidns ? pidns_clone(c) : syscall(SYS_clone3, &ca, sizeof(ca));
	if (child != 0 && timens_leave(c, child > 0 ? child : 0)) {
		close(ep[0]);
		close(ep[1]);
		if (child > 0) {
			kill(child, SIGKILL);
			waitpid(child, &status, __WALL);
			c->pidns_init = 0;
		}
		return -1;
	}
	if (child < 0) {
		close(ep[0]);
		close(ep[1]);
		if (c->pidns)
			return -1;	/* pidns_clone said why */
		if (errno == EEXIST)
			return pr_err("cannot create process %d: the PID is taken", c->pid);
		return pr_perror("cannot create process %d (clone3 with set_tid)", c->pid);
	}
	if (child == 0) {
		close(ep[0]);
		if (c->pidns) {
			/* the init stands for the root: it lives and dies in its cgroups */
			if (stub_cgroup_join(c, msg, sizeof(msg)))
				stub_fail(ep[1], msg);
			pidns_init_main(c, ep[1]);	/* does not return */
		}
		my_slot = 0;
		stub_main(c, parent, ep[1]);
	}
	close(ep[1]);
	n = read(ep[0], msg, sizeof(msg) - 1);
	close(ep[0]);
	if (n > 0) {
		msg[n] = 0;
		if (c->pidns)
			pidns_kill_init(c);	/* and with it, every stub */
		else
			waitpid(child, &status, __WALL);
		return pr_err("%s", msg);
	}
	if (c->pidns)
		return pidns_host_pids(c->tree);	/* the root is seized with the others */
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

int seize_stubs(struct rst_tree *t)
{
	for (size_t i = t->p[0]->pidns ? 0 : 1; i < t->nr; i++) {
		struct rst_ctx *c = t->p[i];
		pid_t pid = c->pid;
		int status;

		if (c->proc->zombie)
			continue;
		if (ptrace(PTRACE_SEIZE, pid, 0, PTRACE_O_EXITKILL | PTRACE_O_TRACECLONE | PTRACE_O_TRACESYSGOOD))
			return pr_perror("cannot seize the stub of process %d", pid);
		c->pt.pid = pid;
		c->pt.nr = 1;
		c->pt.t = xzalloc(sizeof(struct pt_thread) * c->nr_cores);
		if (!c->pt.t)
			return -1;
		c->pt.t[0].tid = pid;
		c->pt.gadget = c->hole;
		if (ptrace(PTRACE_INTERRUPT, pid, 0, 0))
			return pr_perror("cannot stop the stub of process %d", pid);
		if (waitpid(pid, &status, __WALL) != pid || !WIFSTOPPED(status))
			return pr_err("the stub of process %d did not stop as expected (status %#x)", pid, status);
		if (pt_getregs(pid, &c->pt.t[0].regs))
			return pr_perror("cannot read the registers of the stub of process %d", pid);
	}
	/* what the stubs kept for later ones is taken: close it */
	for (size_t i = 0; i < t->nr; i++) {
		struct rst_ctx *c = t->p[i];

		for (size_t k = 0; !c->proc->zombie && k < c->nr_fds; k++) {
			long r;

			if (!c->fds[k]->parked)
				continue;
			r = rsys(c, 0, SYS_close, c->fds[k]->fd, 0, 0, 0, 0, 0);
			if (r)
				return pr_err("process %d: cannot close parked fd %u: %s", c->pid, c->fds[k]->fd,
					      strerror(-r));
		}
	}
	if (board) {
		munmap((void *)board, board_len);
		board = NULL;
	}
	if (t->nr > 1)
		pr_info("%zu stubs seized", t->nr);
	return 0;
}

static struct rst_ctx *ctx_of(struct rst_tree *t, uint32_t pid, size_t before)
{
	for (size_t i = 0; i < before && i < t->nr; i++)
		if (t->p[i]->proc->pid == pid)
			return t->p[i];
	return NULL;
}

struct rst_ctx *tree_ctx_before(struct rst_tree *t, uint32_t pid, size_t before)
{
	struct rst_ctx *c = ctx_of(t, pid, before);

	return c && !c->proc->zombie ? c : NULL;
}

int check_tree(struct rst_tree *t)
{
	for (size_t i = 0; i < t->nr; i++) {
		ProcessEntry *pe = t->p[i]->proc;
		struct rst_ctx *par = i ? ctx_of(t, pe->ppid, i) : NULL;
		char path[64];

		if (i && !par)
			return pr_err("pstree.img: process %u comes before its parent %u", pe->pid, pe->ppid);
		if (par && par->proc->zombie)
			return pr_err("pstree.img: process %u is the child of zombie %u", pe->pid, pe->ppid);
		if (ctx_of(t, pe->pid, i))
			return pr_err("pstree.img: process %u is listed twice", pe->pid);
		if (pe->zombie) {
			snprintf(path, sizeof(path), "/proc/%u", pe->pid);
			if (!t->p[0]->pidns && access(path, F_OK) == 0)
				return pr_err("PID %u is taken: cannot restore zombie %u there", pe->pid, pe->pid);
			if (pe->n_threads != 1 || !pe->has_exit_status)
				return pr_err("pstree.img: zombie %u is corrupt", pe->pid);
			continue;
		}
		/* ids: as cs-dump checked them (pstree.c) */
		if (i && pe->sid != pe->pid && pe->sid != par->proc->sid)
			return pr_err("pstree.img: process %u is in session %u, its parent in %u", pe->pid, pe->sid,
				      par->proc->sid);
		if (i && pe->pgid != pe->pid && pe->pgid != t->p[0]->proc->pgid && !ctx_of(t, pe->pgid, i))
			return pr_err("pstree.img: process %u is in process group %u, which is not made before it",
				      pe->pid, pe->pgid);
	}
	return 0;
}
