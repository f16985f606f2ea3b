/*
 * Seize, freeze, drive and release a traced thread group. See ptrace.h.
 *
 * A single remote syscall (pt_syscall) does not write into the target: it
 * jumps to a "syscall" instruction (0f 05) that already exists in an
 * executable mapping (the vDSO has them, for its fallbacks) and stops at
 * syscall entry and exit, so the target's text never changes and nothing
 * has to be put back if we die. Batches (batch.c) run a loop of ours in a
 * page of ours.
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define LOG_PREFIX "ptrace: "
#include "log.h"
#include "util.h"
#include "ptrace.h"
#include "ptrace-int.h"

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif

uint64_t host_xcr0(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (uint64_t)hi << 32 | lo;
}

int pt_getregs(pid_t tid, struct user_regs_struct *r)
{
	struct iovec iov = { r, sizeof(*r) };

	return ptrace(PTRACE_GETREGSET, tid, NT_PRSTATUS, &iov) ? -1 : 0;
}

int pt_setregs(pid_t tid, const struct user_regs_struct *r)
{
	struct iovec iov = { (void *)r, sizeof(*r) };

	return ptrace(PTRACE_SETREGSET, tid, NT_PRSTATUS, &iov) ? -1 : 0;
}

ssize_t pt_get_xstate(pid_t tid, void *buf)
{
	struct iovec iov = { buf, XSAVE_BUF_MAX };

	if (ptrace(PTRACE_GETREGSET, tid, NT_X86_XSTATE, &iov))
		return -1;
	return iov.iov_len;
}

int pt_set_xstate(pid_t tid, const void *buf, size_t len)
{
	struct iovec iov = { (void *)buf, len };

	return ptrace(PTRACE_SETREGSET, tid, NT_X86_XSTATE, &iov) ? -1 : 0;
}

static int thread_exited(pid_t tid);

static void on_alarm(int sig)
{
	(void)sig;	/* only to interrupt waitpid (no SA_RESTART) */
}

int pt_wait_stop(pid_t tid)
{
	/* every 200 ms without an event, look whether tid died: a thread-group
	 * leader killed with its threads is reported only once its traced
	 * zombie threads are reaped (kernel/exit.c, delay_group_leader), which
	 * nobody does while we wait for the leader alone: waitpid would block
	 * for ever */
	static const struct itimerval tick = { { 0, 200000 }, { 0, 200000 } }, off;
	static int installed;
	int status, ret = -1;

	if (!installed) {
		struct sigaction sa = { 0 };

		sa.sa_handler = on_alarm;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGALRM, &sa, NULL) == 0)
			installed = 1;
	}
	if (installed)
		setitimer(ITIMER_REAL, &tick, NULL);
	for (;;) {
		pid_t r = waitpid(tid, &status, __WALL);

		if (r < 0) {
			if (errno == EINTR && !thread_exited(tid))
				continue;
			break;
		}
		if (WIFSTOPPED(status))
			ret = status;
		break;	/* a stop, or exited or killed */
	}
	if (installed)
		setitimer(ITIMER_REAL, &off, NULL);
	return ret;
}

/* pt_wait_stop with a bound: -2 when ms milliseconds passed without a stop. */
static int wait_stop_timeout(pid_t tid, int ms)
{
	for (int i = 0; i <= ms * 10; i++) {
		int status;
		pid_t r = waitpid(tid, &status, __WALL | WNOHANG);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == tid)
			return WIFSTOPPED(status) ? status : -1;
		if (i)
			usleep(100);
	}
	return -2;
}

/*
 * Why PTRACE_SEIZE of tid failed, in words: EPERM also means "already
 * traced" and "exiting" (ptrace(2); kernel/ptrace.c ptrace_attach), which
 * /proc/PID/status tells apart. Returns -1.
 */
static int seize_error(struct pt_proc *p, pid_t tid, const char *what)
{
	int err = errno;
	char path[64], buf[4096], *l;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	f = err == EPERM ? fopen(path, "r") : NULL;
	if (p->exit_quiet && tid == p->pid && (err == ESRCH || (err == EPERM && !f))) {
		if (f)
			fclose(f);
		return -2;
	}
	if (err == EPERM && !f)
		return pr_err("cannot seize %s %d: it exited during the freeze (try again)", what, tid);
	while (f && fgets(buf, sizeof(buf), f)) {
		l = buf;
		if (!strncmp(l, "TracerPid:", 10) && strtol(l + 10, NULL, 10) > 0) {
			fclose(f);
			return pr_err("cannot seize %s %d: it is already traced by process %ld (another cs-dump, "
				      "a debugger?)", what, tid, strtol(l + 10, NULL, 10));
		}
		if (!strncmp(l, "State:", 6) && (strchr(l, 'Z') || strchr(l, 'X'))) {
			fclose(f);
			if (p->exit_quiet && tid == p->pid)
				return -2;
			return pr_err("cannot seize %s %d: it exited during the freeze (try again)", what, tid);
		}
	}
	if (f)
		fclose(f);
	errno = err;
	return pr_perror("cannot seize %s %d", what, tid);
}

/* Is thread tid gone or dead (state Z or X)? Keeps errno. */
static int thread_exited(pid_t tid)
{
	int err = errno, r = 1;
	char path[64], buf[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	f = fopen(path, "re");
	while (f && fgets(buf, sizeof(buf), f))
		if (!strncmp(buf, "State:", 6)) {
			r = strchr(buf, 'Z') || strchr(buf, 'X');
			break;
		}
	if (f)
		fclose(f);
	errno = err;
	return r;
}

static int has_tid(struct pt_proc *p, pid_t tid)
{
	for (int i = 0; i < p->nr; i++)
		if (p->t[i].tid == tid)
			return 1;
	return 0;
}

/* Seize and interrupt the TIDs in /proc/PID/task not seized yet; returns how
 * many, -1, or -2 (not logged) when p->exit_quiet and the process exited. */
static int seize_new(struct pt_proc *p)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int added = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", p->pid);
	d = opendir(path);
	if (!d) {
		if (errno == ENOENT)
			errno = ESRCH;
		if (p->exit_quiet && errno == ESRCH)
			return -2;
		return pr_perror("cannot list threads of process %d", p->pid);
	}
	while ((de = readdir(d))) {
		pid_t tid = parse_pid(de->d_name);
		struct pt_thread *t;

		if (tid <= 0 || has_tid(p, tid))
			continue;
		if (ptrace(PTRACE_SEIZE, tid, 0, PTRACE_O_TRACESYSGOOD)) {
			/* a thread exited meanwhile: gone (ESRCH), or still listed
			 * while it is released (EPERM, state X) */
			if (tid != p->pid && (errno == ESRCH || (errno == EPERM && thread_exited(tid))))
				continue;
			closedir(d);
			return seize_error(p, tid, tid == p->pid ? "process" : "thread");
		}
		t = xrealloc(p->t, (p->nr + 1) * sizeof(*t));
		if (!t) {
			ptrace(PTRACE_DETACH, tid, 0, 0);
			closedir(d);
			return -1;
		}
		p->t = t;
		t = &p->t[p->nr++];
		memset(t, 0, sizeof(*t));
		t->tid = tid;
		if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) && errno != ESRCH) {
			closedir(d);
			return pr_perror("cannot interrupt thread %d", tid);
		}
		added++;
	}
	closedir(d);
	return added;
}

static void drop_thread(struct pt_proc *p, int i)
{
	free(p->t[i].extra);
	memmove(&p->t[i], &p->t[i + 1], (p->nr - i - 1) * sizeof(p->t[0]));
	p->nr--;
}

/* the signals whose blocking the kernel undoes by force (force_sig_info_to_task) */
#define FORCED_SIGS ((1ULL << (SIGTRAP - 1)) | (1ULL << (SIGSEGV - 1)) | (1ULL << (SIGBUS - 1)) | \
		     (1ULL << (SIGILL - 1)) | (1ULL << (SIGFPE - 1)) | (1ULL << (SIGSYS - 1)))

void pt_signals_off(struct pt_proc *p, struct pt_thread *t)
{
	/* syscalls with a temporary mask (set_user_sigmask), x86-64 numbers */
	static const long temp_mask[] = { 130 /* rt_sigsuspend */, 270 /* pselect6 */, 271 /* ppoll */,
					  281 /* epoll_pwait */, 333 /* io_pgetevents */, 426 /* io_uring_enter */,
					  441 /* epoll_pwait2 */ };
	uint64_t all;

	if (t->mask_blocked || p->no_block)
		return;
	for (size_t i = 0; i < sizeof(temp_mask) / sizeof(temp_mask[0]); i++)
		if ((long)t->regs.orig_rax == temp_mask[i])
			return;
	if (ptrace(PTRACE_GETSIGMASK, t->tid, sizeof(t->mask), &t->mask))
		return;
	all = t->mask | ~(FORCED_SIGS | (1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1)));
	if (ptrace(PTRACE_SETSIGMASK, t->tid, sizeof(all), &all) == 0)
		t->mask_blocked = 1;
}

int pt_signals_on(struct pt_thread *t)
{
	if (!t->mask_blocked)
		return 0;
	if (ptrace(PTRACE_SETSIGMASK, t->tid, sizeof(t->mask), &t->mask)) {
		if (errno == ESRCH)
			return -1;	/* gone: pt_restore_regs says so */
		return pr_perror("cannot give thread %d its signal mask back", t->tid);
	}
	t->mask_blocked = 0;
	return 0;
}

/* Wait for the first stop of every thread seized but not yet waited for;
 * -2 (not logged) when p->exit_quiet and the leader exited. */
static int wait_seized(struct pt_proc *p, int from)
{
	for (int i = from; i < p->nr; i++) {
		struct pt_thread *t = &p->t[i];
		int status = wait_stop_timeout(t->tid, 5000);

		if (status == -2)
			return pr_err("thread %d did not stop within 5 s (uninterruptible sleep?)", t->tid);

		if (status < 0) {
			if (t->tid == p->pid && p->exit_quiet)
				return -2;
			if (t->tid == p->pid)
				return pr_err("process %d exited while being seized", p->pid);
			drop_thread(p, i--);
			continue;
		}
		if (status >> 16 != PTRACE_EVENT_STOP) {
			/* A signal-delivery-stop: the signal is dequeued; keep it. */
			t->stop_sig = WSTOPSIG(status);
			t->in_sigstop = 1;
			if (ptrace(PTRACE_GETSIGINFO, t->tid, 0, &t->stop_info))
				return pr_perror("cannot read the siginfo of thread %d", t->tid);
			pr_debug("thread %d was stopped delivering signal %d", t->tid, t->stop_sig);
		}
		if (pt_getregs(t->tid, &t->regs))
			return pr_perror("cannot read registers of thread %d", t->tid);
	}
	return 0;
}

static int seize(pid_t pid, struct pt_proc *p, int exit_quiet)
{
	int waited = 0, r = -1;

	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->exit_quiet = exit_quiet;
	for (;;) {
		int n = seize_new(p);

		if (n < 0) {
			r = n;
			goto err;
		}
		if (n == 0 && waited == p->nr)
			break;
		/* Wait for the ones just seized, then list again: a thread may
		 * have been cloned while we were seizing. */
		n = wait_seized(p, waited);
		if (n) {
			r = n;
			goto err;
		}
		waited = p->nr;
	}
	if (!p->nr || p->t[0].tid != pid) {
		/* keep the leader first */
		for (int i = 1; i < p->nr; i++)
			if (p->t[i].tid == pid) {
				struct pt_thread tmp = p->t[0];

				p->t[0] = p->t[i];
				p->t[i] = tmp;
			}
		if (!p->nr && exit_quiet) {
			r = -2;	/* /proc/PID/task listed no thread: it was being released */
			goto err;
		}
		if (!p->nr || p->t[0].tid != pid) {
			pr_err("process %d has no thread group leader to seize", pid);
			goto err;
		}
	}
	return 0;
err:
	pt_release(p);
	pt_free(p);
	return r == -2 ? 1 : -1;
}

int pt_seize(pid_t pid, struct pt_proc *p)
{
	return seize(pid, p, 0);
}

int pt_seize_child(pid_t pid, struct pt_proc *p)
{
	return seize(pid, p, 1);
}

int pt_install_gadget(struct pt_proc *p)
{
	char path[64], line[512];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/maps", p->pid);
	f = fopen(path, "re");
	if (!f)
		return pr_perror("cannot read %s", path);
	snprintf(path, sizeof(path), "/proc/%d/mem", p->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fclose(f);
		return pr_perror("cannot open %s", path);
	}
	/* Prefer the vDSO, then any executable mapping: find bytes 0f 05. */
	for (int pass = 0; pass < 2 && !p->gadget; pass++) {
		rewind(f);
		while (!p->gadget && fgets(line, sizeof(line), f)) {
			unsigned long s, e;
			char perms[8];
			int vdso = strstr(line, "[vdso]") != NULL;

			if (sscanf(line, "%lx-%lx %7s", &s, &e, perms) != 3 || perms[2] != 'x')
				continue;
			if (strstr(line, "[vsyscall]") || vdso != (pass == 0))
				continue;
			for (unsigned long a = s; a < e && !p->gadget; a += 65536) {
				static unsigned char buf[65536];
				size_t n = e - a < sizeof(buf) ? e - a : sizeof(buf);
				ssize_t r = pread(fd, buf, n, a);

				for (ssize_t i = 0; i + 1 < r; i++)
					if (buf[i] == 0x0f && buf[i + 1] == 0x05) {
						p->gadget = a + i;
						break;
					}
			}
		}
	}
	close(fd);
	fclose(f);
	if (!p->gadget)
		return pr_err("no syscall instruction found in the executable mappings of %d", p->pid);
	pr_debug("remote syscalls through the syscall instruction at %#lx", p->gadget);
	return 0;
}

int pt_died(pid_t tid, long nr)
{
	/* the first sign of it: one line; after another error (a ptrace
	 * request that met ESRCH), only in the log */
	if (!log_error_count())
		pr_err("thread %d died during remote syscall %ld (killed from outside while frozen?)", tid, nr);
	else
		pr_info("thread %d died during remote syscall %ld", tid, nr);
	log_quiet_errors();
	return -1;
}

int pt_keep_signal(struct pt_proc *p, struct pt_thread *t, int sig, const siginfo_t *si)
{
	int max = (p->extra_max ? p->extra_max : PT_EXTRA_MAX) + (p->draining ? PT_EXTRA_MAX : 0);

	if (t->nr_extra == t->max_extra) {
		int n = t->max_extra ? 2 * t->max_extra : 8;
		siginfo_t *e;

		e = xrealloc(t->extra, n * sizeof(*e));
		if (!e)
			return -1;
		t->extra = e;
		t->max_extra = n;
	}
	if (si)
		t->extra[t->nr_extra] = *si;
	else if (ptrace(PTRACE_GETSIGINFO, t->tid, 0, &t->extra[t->nr_extra]))
		memset(&t->extra[t->nr_extra], 0, sizeof(siginfo_t));
	t->extra[t->nr_extra++].si_signo = sig;
	/* the one over the limit is kept too: it is out of delivery already,
	 * and the release gives it back with the others */
	if (t->nr_extra > max)
		return pr_err("thread %d: more than %d signals arrived during remote syscalls (a flood?)", t->tid,
			      max);
	return 0;
}

int pt_syscall(struct pt_proc *p, struct pt_thread *t, long *ret, long nr,
	       unsigned long a1, unsigned long a2, unsigned long a3,
	       unsigned long a4, unsigned long a5, unsigned long a6)
{
	struct user_regs_struct r = t->regs;
	int entered = 0;

	r.rip = p->gadget;
	r.orig_rax = -1;	/* no syscall-restart logic on resume */
	r.rax = nr;
	r.rdi = a1;
	r.rsi = a2;
	r.rdx = a3;
	r.r10 = a4;
	r.r8 = a5;
	r.r9 = a6;
	if (pt_setregs(t->tid, &r)) {
		if (errno == ESRCH)
			return pt_died(t->tid, nr);
		return pr_perror("cannot set registers of thread %d", t->tid);
	}
	t->regs_dirty = 1;
	t->in_sigstop = 0;
	pt_signals_off(p, t);
	for (;;) {
		int status, sig;

		if (ptrace(PTRACE_SYSCALL, t->tid, 0, 0)) {
			if (errno == ESRCH)
				return pt_died(t->tid, nr);
			return pr_perror("cannot resume thread %d", t->tid);
		}
		status = pt_wait_stop(t->tid);
		if (status < 0)
			return pt_died(t->tid, nr);
		if (status >> 16)
			continue;	/* PTRACE_INTERRUPT still pending, or a clone event: go on */
		sig = WSTOPSIG(status);
		if (sig == (SIGTRAP | 0x80)) {
			if (!entered) {
				entered = 1;
				continue;
			}
			if (pt_getregs(t->tid, &r)) {
				if (errno == ESRCH)
					return pt_died(t->tid, nr);
				return pr_perror("cannot read registers of thread %d", t->tid);
			}
			if (r.rip != p->gadget + 2)
				return pr_err("thread %d: unexpected syscall stop at %#llx in remote syscall %ld",
					      t->tid, r.rip, nr);
			*ret = r.rax;
			/* registers back at once: a tracer that dies between two
			 * remote syscalls leaves the thread as it found it */
			return pt_restore_regs(t);
		}
		/* A signal arrived before the syscall ran: it was dequeued, so it
		 * is kept (for the image, and re-sent at release); step on without it. */
		if (pt_keep_signal(p, t, sig, NULL))
			return -1;
	}
}

int pt_restore_regs(struct pt_thread *t)
{
	/* the mask first (pt_signals_off): a signal sent again at the
	 * release, or injected at the detach, must not find itself blocked */
	if (pt_signals_on(t) && errno != ESRCH)
		return -1;
	if (!t->regs_dirty)
		return 0;
	if (pt_setregs(t->tid, &t->regs)) {
		if (errno != ESRCH)
			return pr_perror("cannot restore registers of thread %d", t->tid);
		/* killed from outside: nothing left to restore, and one line for it */
		t->regs_dirty = 0;
		if (!log_error_count())
			pr_err("thread %d died while frozen (killed from outside?)", t->tid);
		log_quiet_errors();
		return -1;
	}
	t->regs_dirty = 0;
	return 0;
}

/*
 * A signal dequeued while the thread ran remote syscalls, sent again: with
 * its whole siginfo (value, sender) where rt_tgsigqueueinfo(2) allows it
 * for another process (si_code < 0 but SI_TKILL: sigqueue(3), timers,
 * mqueues, AIO), else by tgkill (si_code becomes SI_TKILL, si_pid ours).
 */
static void resend(pid_t pid, pid_t tid, const siginfo_t *si)
{
	if (si->si_code < 0 && si->si_code != SI_TKILL) {
		siginfo_t copy = *si;

		if (syscall(__NR_rt_tgsigqueueinfo, pid, tid, si->si_signo, &copy) == 0)
			return;
	}
	syscall(__NR_tgkill, pid, tid, si->si_signo);
}

int pt_release(struct pt_proc *p)
{
	int ret = 0;

	for (int i = 0; i < p->nr; i++) {
		struct pt_thread *t = &p->t[i];
		int sig = 0;

		if (pt_restore_regs(t))
			ret = -1;
		for (int k = 0; k < t->nr_extra; k++)
			resend(p->pid, t->tid, &t->extra[k]);
		t->nr_extra = 0;
		if (!t->in_sigstop && t->stop_sig) {
			/* remote syscalls moved it from the signal-delivery-stop to a
			 * syscall-stop, where detach cannot inject: send it again,
			 * with its siginfo where the kernel allows it (see resend) */
			t->stop_info.si_signo = t->stop_sig;
			resend(p->pid, t->tid, &t->stop_info);
		}
		if (t->in_sigstop && t->stop_sig) {
			/* re-inject the signal we took out of delivery, as it was */
			if (ptrace(PTRACE_SETSIGINFO, t->tid, 0, &t->stop_info) == 0)
				sig = t->stop_sig;
		}
		if (ptrace(PTRACE_DETACH, t->tid, 0, sig) && errno != ESRCH)
			ret = pr_perror("cannot detach thread %d", t->tid);
	}
	return ret;
}

int pt_kill(struct pt_proc *p)
{
	if (kill(p->pid, SIGKILL))
		return pr_perror("cannot kill %d", p->pid);
	/* leader last: its exit is reported only once the other threads are reaped */
	for (int i = p->nr - 1; i >= 0; i--) {
		int status;

		/* PTRACE_EVENT_EXIT is not set: the next report is the exit itself */
		while (waitpid(p->t[i].tid, &status, __WALL) >= 0)
			if (WIFEXITED(status) || WIFSIGNALED(status))
				break;
	}
	p->nr = 0;
	return 0;
}

void pt_free(struct pt_proc *p)
{
	for (int i = 0; i < p->nr; i++)
		free(p->t[i].extra);
	free(p->t);
	p->t = NULL;
	p->nr = 0;
}
