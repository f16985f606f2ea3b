/*
 * Timers, with remote syscalls in the stub once its threads exist: the
 * interval timers, the POSIX timers with their IDs, and the relative sleeps
 * the freeze interrupted (each thread gets a restart block holding the time
 * it had left, and resumes in restart_syscall as after a signal).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define LOG_PREFIX "timers: "
#include "log.h"
#include "util.h"
#include "restore.h"

/* prctl(2), Linux 6.17 (kernel/time/posix-timers.c): while ON, timer_create
 * takes the ID that the caller's timer_t holds (EBUSY when taken). */
#ifndef PR_TIMER_CREATE_RESTORE_IDS
#define PR_TIMER_CREATE_RESTORE_IDS 77
#define PR_TIMER_CREATE_RESTORE_IDS_OFF 0
#define PR_TIMER_CREATE_RESTORE_IDS_ON 1
#define PR_TIMER_CREATE_RESTORE_IDS_GET 2
#endif
#ifndef SIGEV_THREAD_ID
#define SIGEV_THREAD_ID 4
#endif
#ifndef ERESTART_RESTARTBLOCK
#define ERESTART_RESTARTBLOCK 516
#endif

/* without the prctl, IDs come from 0 upwards in a new process: gaps are
 * filled with timers deleted afterwards, up to this ID */
#define MAX_SEQ_ID 4096

static int restore_ids;		/* PR_TIMER_CREATE_RESTORE_IDS works here */

enum { SLEEP_NONE, SLEEP_RESTART, SLEEP_DONE };
static int *sleep_state;	/* per thread, set by restore_sleeps */

static int is_cpu_clock(int clk)
{
	return clk < 0;
}

int check_timers(struct rst_ctx *c)
{
	ProcessEntry *pe = c->proc;
	int max_id = -1;

	for (size_t i = 0; i < pe->n_itimers; i++)
		if (pe->itimers[i]->which > ITIMER_PROF)
			return pr_err("pstree.img: unknown interval timer %u", pe->itimers[i]->which);
	for (size_t i = 0; i < pe->n_posix_timers; i++) {
		PosixTimerEntry *t = pe->posix_timers[i];
		struct timespec res;

		if (t->id < 0)
			return pr_err("POSIX timer %d: invalid ID", t->id);
		for (size_t j = 0; j < i; j++)
			if (pe->posix_timers[j]->id == t->id)
				return pr_err("POSIX timer %d is saved twice", t->id);
		if (t->id > max_id)
			max_id = t->id;
		if (!is_cpu_clock(t->clockid) && clock_getres(t->clockid, &res))
			return pr_perror("POSIX timer %d: clock %d cannot be used here", t->id, t->clockid);
		if (t->notify & SIGEV_THREAD_ID) {
			int found = 0;

			for (size_t k = 0; k < pe->n_threads && !found; k++)
				found = pe->threads[k] == t->tid;
			if (!found)
				return pr_err("POSIX timer %d signals thread %u, which is not saved", t->id, t->tid);
		}
		if ((t->notify & ~SIGEV_THREAD_ID) != SIGEV_NONE && (t->signo < 1 || t->signo > 64))
			return pr_err("POSIX timer %d: invalid signal %u", t->id, t->signo);
	}
	restore_ids = prctl(PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_GET, 0, 0, 0) >= 0;
	if (!restore_ids && max_id >= MAX_SEQ_ID)
		return pr_err("POSIX timer %d: this kernel cannot create a timer with a chosen ID "
			      "(no PR_TIMER_CREATE_RESTORE_IDS), and IDs above %d are not recreated in order",
			      max_id, MAX_SEQ_ID - 1);
	for (size_t i = 0; i < c->nr_cores; i++) {
		SleepEntry *s = c->cores[i]->sleep;
		const uint64_t *g = c->cores[i]->regs->gpr;

		/* struct user_regs_struct: rax is word 10, orig_rax word 15 */
		if (s && ((long)g[10] != -ERESTART_RESTARTBLOCK || g[15] != s->nr))
			return pr_err("core-%u.img: a sleep is saved, but not in the registers", c->cores[i]->tid);
	}
	return 0;
}

static int stub_read(struct rst_ctx *c, unsigned long addr, void *buf, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)addr, len };

	if (process_vm_readv(c->pid, &l, 1, &r, 1, 0) != (ssize_t)len)
		return pr_perror("cannot read the stub's memory at %#lx", addr);
	return 0;
}

static int restore_itimers(struct rst_ctx *c)
{
	for (size_t i = 0; i < c->proc->n_itimers; i++) {
		ItimerEntry *e = c->proc->itimers[i];
		struct itimerval it;
		long r;

		it.it_value.tv_sec = e->value_us / 1000000;
		it.it_value.tv_usec = e->value_us % 1000000;
		it.it_interval.tv_sec = e->interval_us / 1000000;
		it.it_interval.tv_usec = e->interval_us % 1000000;
		if (scratch_write(c, 0, &it, sizeof(it)))
			return -1;
		r = rsys(c, 0, SYS_setitimer, e->which, SCRATCH(c), 0, 0, 0, 0);
		if (r)
			return pr_err("cannot set interval timer %u: %s", e->which, strerror(-r));
	}
	return 0;
}

/* Create timer t with its ID in the stub. */
static int create_timer(struct rst_ctx *c, PosixTimerEntry *t)
{
	struct sigevent sev;
	int id = t->id;
	long r;

	memset(&sev, 0, sizeof(sev));
	sev.sigev_value.sival_ptr = (void *)(uintptr_t)t->sigval;
	sev.sigev_signo = t->signo;
	sev.sigev_notify = t->notify;
	if (t->notify & SIGEV_THREAD_ID)
		sev._sigev_un._tid = t->tid;
	if (scratch_write(c, 0, &sev, sizeof(sev)) || scratch_write(c, 128, &id, sizeof(id)))
		return -1;
	r = rsys(c, 0, SYS_timer_create, t->clockid, SCRATCH(c), SCRATCH(c) + 128, 0, 0, 0);
	if (r)
		return pr_err("cannot create POSIX timer %d (clock %d): %s", t->id, t->clockid, strerror(-r));
	if (stub_read(c, SCRATCH(c) + 128, &id, sizeof(id)))
		return -1;
	if (id != t->id)
		return pr_err("POSIX timer %d was created with ID %d", t->id, id);
	return 0;
}

/* Without PR_TIMER_CREATE_RESTORE_IDS: a new process numbers its timers
 * 0, 1, ... (kernel/time/posix-timers.c, posix_timer_add): fill the gaps
 * below id with timers deleted once every saved one exists. */
static int fill_below(struct rst_ctx *c, int id, int *fillers, int *nf)
{
	static PosixTimerEntry filler;
	PosixTimerEntry **all = c->proc->posix_timers;
	int next = 0;

	for (size_t i = 0; i < c->proc->n_posix_timers; i++)
		if (all[i]->id < id && all[i]->id >= next)
			next = all[i]->id + 1;
	for (int k = 0; k < *nf; k++)
		if (fillers[k] >= next)
			next = fillers[k] + 1;
	posix_timer_entry__init(&filler);
	filler.clockid = CLOCK_MONOTONIC;
	filler.notify = SIGEV_NONE;
	for (; next < id; next++) {
		filler.id = next;
		if (create_timer(c, &filler))
			return -1;
		fillers[(*nf)++] = next;
	}
	return 0;
}

static int cmp_timer(const void *a, const void *b)
{
	return (*(PosixTimerEntry *const *)a)->id - (*(PosixTimerEntry *const *)b)->id;
}

/*
 * The saved siginfo of t's signal if it was pending (SI_TIMER with its ID,
 * process-wide or on the thread it signals), taken out of the list that
 * restore_signals will queue: 1 if found, else 0.
 */
static int take_pending(struct rst_ctx *c, PosixTimerEntry *t)
{
	for (size_t k = 0; k <= c->nr_cores; k++) {
		SiginfoEntry **s = k == c->nr_cores ? c->proc->shared_pending : c->cores[k]->pending;
		size_t *n = k == c->nr_cores ? &c->proc->n_shared_pending : &c->cores[k]->n_pending;

		for (size_t j = 0; j < *n; j++) {
			siginfo_t si;

			if (s[j]->raw.len != sizeof(si))
				continue;
			memcpy(&si, s[j]->raw.data, sizeof(si));
			if (si.si_code != SI_TIMER || si.si_timerid != t->id || si.si_signo != (int)t->signo)
				continue;
			{
				SiginfoEntry *x = s[j];

				memmove(&s[j], &s[j + 1], (*n - j - 1) * sizeof(*s));
				s[--*n] = x;	/* kept, so the message still frees it */
			}
			return 1;
		}
	}
	return 0;
}

/*
 * Arm t as it was. A timer whose signal was pending at dump time had expired
 * and, if periodic, waited for that signal's delivery to be re-armed and
 * count its overruns (signal(7), timer_getoverrun(2)). It is recreated in
 * that state: armed to expire at once, at the last period boundary before
 * now for a clock we can read here, so that the kernel queues its own
 * signal (the stub blocks every signal) and keeps the period's phase.
 */
static int arm_timer(struct rst_ctx *c, PosixTimerEntry *t)
{
	struct itimerspec its;
	int flags = 0, pending = take_pending(c, t);
	uint64_t v = t->value_ns;
	long r;

	if (!v && !pending)
		return 0;	/* disarmed */
	if (pending) {
		struct timespec now;

		if (!is_cpu_clock(t->clockid) && t->interval_ns && v <= t->interval_ns &&
		    rst_clock_gettime(c, t->clockid, &now) == 0) {	/* as the process reads it */
			flags = TIMER_ABSTIME;
			v = (uint64_t)now.tv_sec * 1000000000 + now.tv_nsec + v - t->interval_ns;
		} else {
			v = 1;
		}
		pr_info("POSIX timer %d: its signal was pending: it fires again at once", t->id);
	}
	its.it_value.tv_sec = v / 1000000000;
	its.it_value.tv_nsec = v % 1000000000;
	its.it_interval.tv_sec = t->interval_ns / 1000000000;
	its.it_interval.tv_nsec = t->interval_ns % 1000000000;
	if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
		its.it_value.tv_nsec = 1;
	if (scratch_write(c, 0, &its, sizeof(its)))
		return -1;
	r = rsys(c, 0, SYS_timer_settime, t->id, flags, SCRATCH(c), 0, 0, 0);
	if (r)
		return pr_err("cannot arm POSIX timer %d: %s", t->id, strerror(-r));
	return 0;
}

static int restore_posix_timers(struct rst_ctx *c)
{
	ProcessEntry *pe = c->proc;
	PosixTimerEntry **sorted;
	int *fillers = NULL, nf = 0, ret = -1;
	long r;

	if (!pe->n_posix_timers)
		return 0;
	sorted = xzalloc(pe->n_posix_timers * sizeof(*sorted));
	if (!sorted)
		return -1;
	memcpy(sorted, pe->posix_timers, pe->n_posix_timers * sizeof(*sorted));
	qsort(sorted, pe->n_posix_timers, sizeof(*sorted), cmp_timer);
	if (restore_ids) {
		r = rsys(c, 0, SYS_prctl, PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_ON, 0, 0, 0, 0);
		if (r) {
			pr_err("cannot ask for chosen POSIX timer IDs: %s", strerror(-r));
			goto out;
		}
	} else {
		fillers = xzalloc(MAX_SEQ_ID * sizeof(int));
		if (!fillers)
			goto out;
		pr_info("no PR_TIMER_CREATE_RESTORE_IDS: timers are created in ID order");
	}
	for (size_t i = 0; i < pe->n_posix_timers; i++)
		if ((!restore_ids && fill_below(c, sorted[i]->id, fillers, &nf)) || create_timer(c, sorted[i]))
			goto out;
	if (restore_ids) {
		r = rsys(c, 0, SYS_prctl, PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_OFF, 0, 0, 0, 0);
		if (r) {
			pr_err("cannot switch PR_TIMER_CREATE_RESTORE_IDS off: %s", strerror(-r));
			goto out;
		}
	}
	for (int k = 0; k < nf; k++) {
		r = rsys(c, 0, SYS_timer_delete, fillers[k], 0, 0, 0, 0, 0);
		if (r) {
			pr_err("cannot delete filler timer %d: %s", fillers[k], strerror(-r));
			goto out;
		}
	}
	for (size_t i = 0; i < pe->n_posix_timers; i++)
		if (arm_timer(c, sorted[i]))
			goto out;
	pr_info("%zu POSIX timers restored", pe->n_posix_timers);
	ret = 0;
out:
	free(fillers);
	free(sorted);
	return ret;
}

/*
 * Give thread i the restart block of its interrupted sleep: it enters
 * clock_nanosleep(clock, 0, time left, its own rmtp) here, with a SIGSTOP
 * made pending at syscall entry so that the sleep returns at once with
 * -ERESTART_RESTARTBLOCK, leaving current->restart_block set up
 * (hrtimer_nanosleep in kernel/time/hrtimer.c; posix_cpu_nsleep for CPU
 * clocks). The SIGSTOP is then taken out of delivery by a getpid that the
 * thread runs next (the stub was attached with PTRACE_TRACEME, so
 * PTRACE_INTERRUPT is not available). Nothing else the restore runs in the
 * thread uses a restart block.
 */
static int restore_sleep(struct rst_ctx *c, size_t i)
{
	SleepEntry *s = c->cores[i]->sleep;
	struct pt_thread *t = &c->pt.t[i];
	struct user_regs_struct r = t->regs;
	struct timespec left = { s->remaining_ns / 1000000000, s->remaining_ns % 1000000000 };
	int status, stops = 0;
	long ret;

	if (scratch_write(c, 0, &left, sizeof(left)))
		return -1;
	r.rip = c->hole;	/* the gadget */
	r.orig_rax = -1;
	r.rax = SYS_clock_nanosleep;
	r.rdi = s->clockid;
	r.rsi = 0;
	r.rdx = SCRATCH(c);
	r.r10 = s->rmtp;
	if (pt_setregs(t->tid, &r))
		return pr_perror("thread %d: cannot set its registers", t->tid);
	t->regs_dirty = 1;
	while (stops < 2) {
		if (ptrace(PTRACE_SYSCALL, t->tid, 0, 0))
			return pr_perror("thread %d: cannot resume it", t->tid);
		status = pt_wait_stop(t->tid);
		if (status < 0)
			return pr_err("thread %d died while its sleep was restored", t->tid);
		if (WSTOPSIG(status) != (SIGTRAP | 0x80) || (status >> 16))
			return pr_err("thread %d: unexpected stop %#x while its sleep was restored", t->tid, status);
		if (++stops == 1 && syscall(SYS_tgkill, c->pid, t->tid, SIGSTOP))
			return pr_perror("thread %d: cannot interrupt its sleep", t->tid);
	}
	if (pt_getregs(t->tid, &r))
		return pr_perror("thread %d: cannot read its registers", t->tid);
	ret = r.rax;
	if (ret != -ERESTART_RESTARTBLOCK && ret != 0)
		return pr_err("thread %d: clock_nanosleep(%d) to restore its sleep failed: %s", t->tid, s->clockid,
			      strerror(-ret));
	sleep_state[i] = ret ? SLEEP_RESTART : SLEEP_DONE;
	/* the SIGSTOP comes out during this syscall: drop it from extra[] */
	if (pt_syscall(&c->pt, t, &ret, SYS_getpid, 0, 0, 0, 0, 0, 0))
		return -1;
	for (int k = 0; k < t->nr_extra; k++)
		if (t->extra[k].si_signo == SIGSTOP) {
			memmove(&t->extra[k], &t->extra[k + 1], (t->nr_extra - k - 1) * sizeof(t->extra[0]));
			t->nr_extra--;
			break;
		}
	pr_info("thread %d: sleep restored, %llu ns left on clock %d%s", t->tid,
		(unsigned long long)s->remaining_ns, s->clockid, sleep_state[i] == SLEEP_DONE ? " (already over)" : "");
	return 0;
}

int restore_timers(struct rst_ctx *c)
{
	sleep_state = xzalloc(c->nr_cores * sizeof(int));
	if (!sleep_state)
		return -1;
	for (size_t i = 0; i < c->nr_cores; i++)
		if (c->cores[i]->sleep && restore_sleep(c, i))
			return -1;
	if (restore_posix_timers(c) || restore_itimers(c))
		return -1;
	return 0;
}

void sleep_fixup(struct rst_ctx *c, size_t i, struct user_regs_struct *r, int handled)
{
	(void)c;
	if (!sleep_state || handled)
		return;
	if (sleep_state[i] == SLEEP_RESTART) {
		r->rax = SYS_restart_syscall;
		r->rip -= 2;
	} else if (sleep_state[i] == SLEEP_DONE) {
		r->rax = 0;
	}
}
