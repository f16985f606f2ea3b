/*
 * Batched remote syscalls: many independent syscalls run by a stopped
 * thread of the target in one ptrace round trip, instead of the five
 * ptrace requests and two stops each that pt_syscall costs (~80 us on a
 * 2-CPU VM). See pt_batch_map and pt_batch in ptrace.h.
 *
 * The code is a loop of our own, hand-assembled below, in a page of its own
 * that pt_batch_map maps R|X in the target and fills through /proc/PID/mem.
 * It takes the table address in rbx and the number of calls in r12: both
 * survive the syscall instruction, which clobbers only rax (the return),
 * rcx (the return rip) and r11 (the saved rflags). It uses no stack.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define LOG_PREFIX "ptrace: "
#include "log.h"
#include "util.h"
#include "ptrace.h"
#include "ptrace-int.h"
#include "proc.h"

/*
 * The loop, one table entry {nr, a1, a2, a3, a4, a5, a6, ret} (8 quadwords,
 * PT_CALL_SIZE bytes) at a time. Encodings (Intel SDM vol. 2; REX.W = 48,
 * REX.WB = 49 / 4d with r12 in ModRM.rm, REX.WR = 4c for r8-r10 in ModRM.reg):
 */
static const unsigned char batch_loop[] = {
	0x4d, 0x85, 0xe4,		/* 00 loop: test r12, r12        ; calls left? */
	0x74, 0x2a,			/* 03       jz   done (+0x2a -> 0x2f) */
	0x48, 0x8b, 0x03,		/* 05       mov  rax, [rbx]      ; nr */
	0x48, 0x8b, 0x7b, 0x08,		/* 08       mov  rdi, [rbx+8]    ; a1 */
	0x48, 0x8b, 0x73, 0x10,		/* 0c       mov  rsi, [rbx+16]   ; a2 */
	0x48, 0x8b, 0x53, 0x18,		/* 10       mov  rdx, [rbx+24]   ; a3 */
	0x4c, 0x8b, 0x53, 0x20,		/* 14       mov  r10, [rbx+32]   ; a4 */
	0x4c, 0x8b, 0x43, 0x28,		/* 18       mov  r8,  [rbx+40]   ; a5 */
	0x4c, 0x8b, 0x4b, 0x30,		/* 1c       mov  r9,  [rbx+48]   ; a6 */
	0x0f, 0x05,			/* 20       syscall              ; clobbers rax rcx r11 */
	0x48, 0x89, 0x43, 0x38,		/* 22       mov  [rbx+56], rax   ; ret */
	0x48, 0x83, 0xc3, 0x40,		/* 26       add  rbx, 64         ; next entry */
	0x49, 0xff, 0xcc,		/* 2a       dec  r12 */
	0xeb, 0xd1,			/* 2d       jmp  loop (-0x2f -> 0x00) */
	0xcc,				/* 2f done: int3                 ; SIGTRAP to us */
};

/* rip at the int3's SIGTRAP: just past it */
#define BATCH_DONE (sizeof(batch_loop))

/* Why the batch page cannot be had, or NULL once it is in place. */
static const char *map_code(struct pt_proc *p, struct pt_thread *t, unsigned long addr, char *why, size_t len,
			    int *dead)
{
	const char *f = getenv("CS_FAULT");
	char path[64];
	long ret;
	ssize_t w;
	int fd;

	if (f && !strcmp(f, "batch"))
		return "refused by CS_FAULT=batch";
	if (pt_syscall(p, t, &ret, SYS_mmap, addr, PT_BATCH_CODE_SIZE, PROT_READ | PROT_EXEC,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)) {
		*dead = 1;
		return "the thread died";
	}
	if (ret != (long)addr) {
		snprintf(why, len, "mmap PROT_READ|PROT_EXEC: %s",
			 ret < 0 && ret > -4096 ? strerror(-ret) : "mapped elsewhere");
		return why;
	}
	/* a page we may not write: only /proc/PID/mem writes it (FOLL_FORCE) */
	snprintf(path, sizeof(path), "/proc/%d/mem", p->pid);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, len, "cannot open %s: %s", path, strerror(errno));
		return why;
	}
	w = pwrite(fd, batch_loop, sizeof(batch_loop), addr);
	if (w != sizeof(batch_loop)) {
		snprintf(why, len, "cannot write the code through %s: %s (proc_mem.force_override=never?)",
			 path, w < 0 ? strerror(errno) : "short write");
		close(fd);
		return why;
	}
	close(fd);
	return NULL;
}

int pt_batch_map(struct pt_proc *p, struct pt_thread *t, unsigned long addr)
{
	char buf[256];
	const char *why;
	int dead = 0;

	p->batch_code = 0;
	p->trap_noted = 0;
	/* SigIgn cannot change while the process is frozen: we only read */
	p->sigtrap_ignored = 0;
	if (proc_status_line(p->pid, 0, "SigIgn", buf, sizeof(buf)) == 0)
		p->sigtrap_ignored = strtoull(buf, NULL, 16) >> (SIGTRAP - 1) & 1;
	if (p->sigtrap_ignored)
		why = "it ignores SIGTRAP, which the breakpoint ending a batch would set back to SIG_DFL";
	else
		why = map_code(p, t, addr, buf, sizeof(buf), &dead);
	if (dead)
		return -1;
	if (why) {
		pr_info("remote syscalls of %d run one at a time: no batches (%s)", p->pid, why);
		return 0;
	}
	p->batch_code = addr;
	pr_debug("remote syscalls of %d run in batches: code at %#lx", p->pid, addr);
	return 0;
}

/* Would the int3 change t's signal state? A trap is forced: an ignored
 * SIGTRAP becomes SIG_DFL, a blocked one unblocked (kernel/signal.c,
 * force_sig_info_to_task). t->blocked is what counts (in sigsuspend, the
 * temporary mask): PTRACE_GETSIGMASK reads it. */
static int trap_changes_state(struct pt_proc *p, struct pt_thread *t)
{
	uint64_t mask;

	if (ptrace(PTRACE_GETSIGMASK, t->tid, sizeof(mask), &mask))
		return 1;	/* cannot tell: the safe way */
	if (!(mask >> (SIGTRAP - 1) & 1))
		return 0;
	if (!p->trap_noted)
		pr_info("thread %d of %d blocks SIGTRAP: its remote syscalls run one at a time (the breakpoint "
			"ending a batch would unblock it)", t->tid, p->pid);
	p->trap_noted = 1;
	return 1;
}

/* One by one, without a code page. */
static int one_by_one(struct pt_proc *p, struct pt_thread *t, struct pt_call *calls, int n)
{
	for (int i = 0; i < n; i++) {
		struct pt_call *c = &calls[i];

		if (pt_syscall(p, t, &c->ret, c->nr, c->a[0], c->a[1], c->a[2], c->a[3], c->a[4], c->a[5]))
			return -1;
	}
	return 0;
}

/* A stop that is not the int3 at the end: our bug (a fault in the batch
 * code) or a signal to keep. Returns 1 to go on, -1 for the fault. */
static int other_stop(struct pt_proc *p, struct pt_thread *t, int sig, const siginfo_t *si, int have_si)
{
	struct user_regs_struct r;

	if (have_si && si->si_code > 0 && (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE) &&
	    !pt_getregs(t->tid, &r) && r.rip >= p->batch_code && r.rip < p->batch_code + PT_BATCH_CODE_SIZE)
		return pr_err("thread %d: signal %d in the batch code at %#llx (address %p)", t->tid, sig, r.rip,
			      si->si_addr);
	return pt_keep_signal(p, t, sig, have_si ? si : NULL) ? -1 : 1;
}

int pt_batch(struct pt_proc *p, struct pt_thread *t, unsigned long table, struct pt_call *calls, int n)
{
	size_t len = (size_t)n * PT_CALL_SIZE;
	uint64_t *tab;
	struct user_regs_struct r = t->regs;
	struct iovec l, rv;
	long first = n ? calls[0].nr : -1;
	uint64_t t0 = now_us();
	int ret = -1;

	if (n <= 0)
		return 0;
	if (!p->batch_code || trap_changes_state(p, t))
		return one_by_one(p, t, calls, n);
	tab = xzalloc(len);
	if (!tab)
		return -1;
	for (int i = 0; i < n; i++) {
		tab[i * 8] = calls[i].nr;
		memcpy(&tab[i * 8 + 1], calls[i].a, sizeof(calls[i].a));
		tab[i * 8 + 7] = -ENOSYS;	/* never run: stays so */
	}
	l = (struct iovec){ tab, len };
	rv = (struct iovec){ (void *)table, len };
	if (process_vm_writev(p->pid, &l, 1, &rv, 1, 0) != (ssize_t)len) {
		pr_perror("cannot write the table of %d remote syscalls at %#lx in %d", n, table, p->pid);
		goto out;
	}
	r.rip = p->batch_code;
	r.orig_rax = -1;	/* no syscall-restart logic on resume */
	r.rbx = table;
	r.r12 = n;
	if (pt_setregs(t->tid, &r)) {
		if (errno == ESRCH)
			pt_died(t->tid, first);
		else
			pr_perror("cannot set registers of thread %d", t->tid);
		goto out;
	}
	t->regs_dirty = 1;
	t->in_sigstop = 0;
	pt_signals_off(p, t);
	for (;;) {
		siginfo_t si;
		int status, sig, have_si;

		if (ptrace(PTRACE_CONT, t->tid, 0, 0)) {
			if (errno == ESRCH)
				pt_died(t->tid, first);
			else
				pr_perror("cannot resume thread %d", t->tid);
			goto out;
		}
		status = pt_wait_stop(t->tid);
		if (status < 0) {
			pt_died(t->tid, first);
			goto out;
		}
		if (status >> 16)
			continue;	/* PTRACE_INTERRUPT still pending, or an event: go on */
		sig = WSTOPSIG(status);
		have_si = ptrace(PTRACE_GETSIGINFO, t->tid, 0, &si) == 0;
		if (sig == SIGTRAP && have_si && si.si_code == SI_KERNEL) {
			if (pt_getregs(t->tid, &r)) {
				if (errno == ESRCH)
					pt_died(t->tid, first);
				else
					pr_perror("cannot read registers of thread %d", t->tid);
				goto out;
			}
			if (r.rip == p->batch_code + BATCH_DONE)
				break;	/* our int3 */
		}
		/* a signal arrived meanwhile: it was dequeued; kept, and on without it */
		if (other_stop(p, t, sig, &si, have_si) < 0)
			goto out;
	}
	l = (struct iovec){ tab, len };
	if (process_vm_readv(p->pid, &l, 1, &rv, 1, 0) != (ssize_t)len) {
		pr_perror("cannot read the returns of %d remote syscalls at %#lx in %d", n, table, p->pid);
		goto out;
	}
	for (int i = 0; i < n; i++)
		calls[i].ret = tab[i * 8 + 7];
	ret = 0;
	pr_debug("batch of %d remote syscalls in thread %d: %llu us", n, t->tid, (unsigned long long)(now_us() - t0));
out:
	free(tab);
	/* registers back at once, as pt_syscall does */
	if (pt_restore_regs(t))
		ret = -1;
	return ret;
}
