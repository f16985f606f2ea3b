/*
 * Everything that touches a traced task: seize and freeze a thread group,
 * register sets, remote syscalls (a syscall executed by a stopped thread of
 * the target on our behalf), release.
 *
 * Kernel facts relied on (shared/KERNEL-FACTS.md, ptrace(2)):
 *  - PTRACE_SEIZE + PTRACE_INTERRUPT stops a thread without a signal; the
 *    wait may instead report a signal-delivery-stop (Go's SIGURG): that signal
 *    was dequeued and is lost unless re-injected at detach.
 *  - NT_X86_XSTATE is sized by the kernel (2440 bytes on AVX2, 11008 with
 *    AMX); the read buffer is large and the kernel trims iov_len.
 *  - A remote syscall: set rip to a "syscall" instruction (0f 05) that
 *    already exists in an executable mapping, orig_rax = -1 (no restart
 *    logic), rax = nr, args in rdi rsi rdx r10 r8 r9; PTRACE_SYSCALL to the
 *    syscall-entry stop and again to the syscall-exit stop; read rax; put the
 *    registers back at once. No single-step (a dying tracer would leave
 *    TF set: exit_ptrace does not call ptrace_disable) and no int3.
 *  - A batch (pt_batch): the same, many syscalls in one PTRACE_CONT, in a
 *    loop of our own in a page of our own, ending on an int3 (SIGTRAP,
 *    si_code SI_KERNEL, rip just past it). A tracer killed while a batch
 *    runs leaves a thread that takes that SIGTRAP untraced and dies: the
 *    window is one batch (~0.1 ms); pt_syscall's thread would run on from
 *    the gadget just as wrongly.
 */
#ifndef CS_PTRACE_H
#define CS_PTRACE_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#define XSAVE_BUF_MAX 16384	/* bytes; larger than any xsave area we know */

struct pt_thread {
	pid_t tid;
	int stop_sig;			/* signal of the signal-delivery-stop seen at seize, or 0 */
	siginfo_t stop_info;		/* its siginfo */
	int in_sigstop;			/* now in a signal-delivery-stop (detach may inject) */
	siginfo_t *extra;		/* signals taken out of delivery during remote syscalls */
	int nr_extra, max_extra;	/* (grown as they come; freed by pt_free) */
	int regs_dirty;			/* regs changed by remote syscalls: put `regs` back */
	int mask_blocked;		/* pt_signals_off blocked its signals: `mask` goes back */
	uint64_t mask;			/* its own signal mask (when mask_blocked) */
	struct user_regs_struct regs;	/* as seized */
};

struct pt_proc {
	pid_t pid;
	int nr;				/* threads in t[] */
	struct pt_thread *t;		/* t[0] is the thread group leader */
	unsigned long gadget;		/* address of a "syscall" instruction, 0: none */
	unsigned long batch_code;	/* pt_batch_map's code page in the target, 0: none */
	int sigtrap_ignored;		/* SIGTRAP is SIG_IGN (pt_batch_map read SigIgn) */
	int trap_noted;			/* pt_batch logged that a thread blocks SIGTRAP */
	int exit_quiet;			/* pt_seize_child: an exit is not an error to log */
	int extra_max;			/* signals kept per thread before a flood fails the
					 * dump; 0: PT_EXTRA_MAX (CS_FAULT=flood: fewer) */
	int no_block;			/* pt_signals_off does nothing (CS_FAULT=flood) */
	int draining;			/* clean-up under way (the code page's munmap): a
					 * flood gets PT_EXTRA_MAX more, or the page would stay */
};

/*
 * pt_seize - seize every thread of process pid and stop it with
 * PTRACE_INTERRUPT, re-reading /proc/PID/task until no new TID appears.
 * Fills p (free with pt_free). Returns 0, or -1 with every seized thread
 * released as it was (error logged: ESRCH "no such process", EPERM "not
 * permitted to trace").
 */
int pt_seize(pid_t pid, struct pt_proc *p);

/*
 * pt_seize_child - pt_seize for a process that may exit while it is seized
 * (a child of a frozen process, found in its children list): when the
 * process turns out to be exiting, a zombie or gone (PTRACE_SEIZE fails with
 * EPERM on a task whose exit_state is set, or ESRCH once it is reaped; or
 * the leader's wait reports an exit instead of a stop: ptrace(2),
 * kernel/ptrace.c ptrace_attach), it returns 1 without logging, every
 * seized thread released and p freed. Its parent is frozen, so an exited
 * child stays a zombie unless the parent lets children be reaped at once
 * (SIGCHLD ignored or SA_NOCLDWAIT). Returns 0, 1, or -1 (logged) as pt_seize.
 */
int pt_seize_child(pid_t pid, struct pt_proc *p);

/*
 * pt_install_gadget - find a syscall instruction (0f 05) in an executable
 * mapping of p (the vDSO first) for remote syscalls; nothing is written.
 * Returns 0 or -1.
 */
int pt_install_gadget(struct pt_proc *p);

/*
 * pt_syscall - run syscall nr with up to 6 args in thread t of p (stopped).
 * The thread's registers (t->regs) are put back before it returns.
 * *ret gets the raw return (-errno on error).
 * Returns 0 when the syscall ran, -1 when the tracee could not be driven
 * (it died, or an unexpected stop).
 */
int pt_syscall(struct pt_proc *p, struct pt_thread *t, long *ret, long nr,
	       unsigned long a1, unsigned long a2, unsigned long a3,
	       unsigned long a4, unsigned long a5, unsigned long a6);

/* One syscall of a batch (pt_batch): number, arguments (as for pt_syscall),
 * and the raw return (-errno on error), filled in by pt_batch. */
struct pt_call {
	long nr;
	unsigned long a[6];
	long ret;
};

#define PT_CALL_SIZE 64		/* bytes a call takes in the remote table: nr, a[6], ret */
#define PT_BATCH_CODE_SIZE 4096	/* bytes of the code page pt_batch_map maps */

/*
 * pt_batch_map - make batched remote syscalls possible in p: map one
 * anonymous page PROT_READ|PROT_EXEC at addr (MAP_FIXED: addr must be a
 * page-aligned PT_BATCH_CODE_SIZE range the caller already mapped in the
 * target and unmaps itself later, e.g. the end of its scratch mapping),
 * through a remote mmap in thread t, and write the batch loop there through
 * /proc/PID/mem. Why not a writable mapping and mprotect to R|X: under MDWE
 * (prctl PR_SET_MDWE, kernel 6.3) mprotect adding PROT_EXEC is EACCES, while
 * a fresh R|X mapping is allowed (mm/mmap.c, map_deny_write_exec with
 * old == new flags; measured on 6.18); process_vm_writev cannot write a
 * non-writable page (EFAULT), /proc/PID/mem can (FOLL_FORCE, allowed to the
 * tracer unless proc_mem.force_override=never, kernel 6.12). Seccomp filters
 * do not see the mmap: they are suspended while cs-dump traces (seccomp.c).
 * When the page cannot be mapped or written (that, or an LSM refusing
 * executable memory, or CS_FAULT=batch), or p ignores SIGTRAP (see
 * pt_batch; then nothing is mapped), pt_batch runs its calls one
 * pt_syscall at a time; this is logged once at info level and is not an
 * error. Sets p->batch_code (0: none) and p->sigtrap_ignored. Returns 0,
 * or -1 when the thread could not be driven (it died: pt_syscall).
 */
int pt_batch_map(struct pt_proc *p, struct pt_thread *t, unsigned long addr);

/*
 * pt_batch - run n independent syscalls calls[0..n-1] in thread t of p
 * (stopped) in one ptrace round trip: the table (n * PT_CALL_SIZE bytes) is
 * written at the remote address table (writable memory of the target, e.g.
 * the scratch page, with process_vm_writev), the thread is resumed with
 * PTRACE_CONT at the code page of pt_batch_map, runs the calls in order
 * (each return stored, whatever it is), and stops on an int3; the returns
 * are read back into calls[i].ret and t->regs put back. Signals that arrive
 * meanwhile are kept as pt_syscall keeps them (t->extra, re-sent at
 * release). Without a code page (pt_batch_map refused) each call is a
 * pt_syscall; so too when SIGTRAP is ignored in p or blocked in t (logged
 * once at info level): the trap of an int3 is forced (kernel/signal.c,
 * force_sig_info_to_task), which would set an ignored SIGTRAP back to
 * SIG_DFL and unblock a blocked one. Output buffers the calls write
 * (remote pointers in a[]) are the caller's to read. Costs, measured on a
 * loaded 2-CPU VM: 63 calls in 40-80 us, 2 in ~25 us (a pt_syscall: ~30-80
 * us each). Returns 0 when every call ran (look at each ret), -1 when the
 * tracee could not be driven (it died, an unexpected stop or a fault in the
 * batch code: logged; errno of process_vm_writev/readv).
 */
int pt_batch(struct pt_proc *p, struct pt_thread *t, unsigned long table, struct pt_call *calls, int n);

/*
 * pt_keep_signal - thread t is in a signal-delivery-stop for sig during
 * remote syscalls: the signal was dequeued; keep it in t->extra (with *si,
 * or its siginfo read now when si is NULL) for the image and the re-send at
 * release. Not re-sent at once: the thread would dequeue it again before
 * the syscall, for ever. Returns 0, or -1 (logged) when p->extra_max
 * (PT_EXTRA_MAX when 0; PT_EXTRA_MAX more while p->draining) are kept
 * already (a flood: the dump fails, the release re-sends them) or on
 * allocation failure. (ptrace(2): a signal-delivery-stop resumed with
 * signal 0 suppresses the signal.)
 */
#define PT_EXTRA_MAX 4096
int pt_keep_signal(struct pt_proc *p, struct pt_thread *t, int sig, const siginfo_t *si);

/*
 * pt_signals_off - block every signal of thread t (PTRACE_SETSIGMASK) but
 * SIGKILL, SIGSTOP and the ones the kernel forces (SIGTRAP, SIGSEGV,
 * SIGBUS, SIGILL, SIGFPE, SIGSYS: forcing a blocked one resets it to
 * SIG_DFL, kernel/signal.c force_sig_info_to_task) for the time of its
 * remote syscalls (pt_syscall, pt_batch), so that they take no signal out
 * of delivery: one kept and sent again at the release came behind the
 * ones queued after it, out of the order real-time signals keep
 * (signal(7)). pt_signals_on (from pt_restore_regs, after each call, as
 * for the registers: a tracer that dies between two calls leaves the mask
 * as it was) puts t's own back. Nothing is done for a thread stopped in a
 * syscall with a temporary mask (rt_sigsuspend, ppoll, pselect6,
 * epoll_pwait(2), io_pgetevents, io_uring_enter: PTRACE_SETSIGMASK clears
 * TIF_RESTORE_SIGMASK, kernel/ptrace.c, which would leave the temporary
 * mask for good; such a thread's signals are kept and sent again as
 * before), nor when p->no_block, nor when PTRACE_GETSIGMASK fails.
 * pt_signals_on returns 0, or -1 (logged but ESRCH, errno kept).
 */
void pt_signals_off(struct pt_proc *p, struct pt_thread *t);
int pt_signals_on(struct pt_thread *t);

/* pt_restore_regs - put t->regs back if remote syscalls changed them. 0 or -1. */
int pt_restore_regs(struct pt_thread *t);

/*
 * pt_release - put registers back and detach every thread, giving back
 * the signals taken out of delivery: one caught at seize is re-injected by
 * the detach when the thread is still in that signal-delivery-stop; it and
 * the ones remote syscalls took are otherwise sent again, with their
 * siginfo by rt_tgsigqueueinfo(2) where the kernel allows it for another
 * process (si_code < 0 but SI_TKILL), else by tgkill(2) (si_code becomes
 * SI_TKILL, si_pid ours). Returns 0 or -1 (some thread could not be
 * detached; it is logged).
 */
int pt_release(struct pt_proc *p);

/*
 * pt_kill - SIGKILL the stopped thread group and collect each thread's exit
 * as its tracer, so that the real parent is notified and can reap it (a
 * traced zombie waits for its tracer first: ptrace(2), "death under ptrace").
 * Returns 0 or -1.
 */
int pt_kill(struct pt_proc *p);

/* pt_free - free p's arrays, the threads' extra signals with them (does not detach). */
void pt_free(struct pt_proc *p);

/* pt_getregs / pt_setregs - NT_PRSTATUS (struct user_regs_struct, 216 bytes). 0 or -1 (errno). */
int pt_getregs(pid_t tid, struct user_regs_struct *r);
int pt_setregs(pid_t tid, const struct user_regs_struct *r);

/*
 * pt_get_xstate - NT_X86_XSTATE into buf (XSAVE_BUF_MAX bytes). Returns the
 * size the kernel filled (bytes), or -1 (errno).
 */
ssize_t pt_get_xstate(pid_t tid, void *buf);
/* pt_set_xstate - NT_X86_XSTATE from buf of len bytes. 0 or -1 (errno). */
int pt_set_xstate(pid_t tid, const void *buf, size_t len);

/* pt_wait_stop - waitpid(tid, __WALL) until a stop; returns the status or -1 if it exited.
 * A tid found dead (state Z or X in /proc/tid/status, or gone) on one of the
 * checks made every 200 ms (a SIGALRM of ITIMER_REAL, handler installed here,
 * interrupts the wait) is -1 too: a killed thread-group leader whose traced
 * threads are not reaped is never reported (kernel/exit.c). */
int pt_wait_stop(pid_t tid);

/* host_xcr0 - XCR0 of this CPU (xgetbv 0): the xsave features the kernel enabled. */
uint64_t host_xcr0(void);

#endif
