/*
 * Timers: the three interval timers, POSIX timers, and threads that the
 * freeze caught in a relative nanosleep. What only the process can tell
 * (getitimer, timer_gettime, timer_getoverrun) is asked with remote
 * syscalls; /proc/PID/timers lists the POSIX timers with their clock and
 * notification (proc(5), needs CONFIG_CHECKPOINT_RESTORE).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/time.h>

#define LOG_PREFIX "timers: "
#include "log.h"
#include "util.h"
#include "dump.h"

#ifndef SIGEV_THREAD_ID
#define SIGEV_THREAD_ID 4
#endif
#ifndef ERESTART_RESTARTBLOCK
#define ERESTART_RESTARTBLOCK 516
#endif

static const char *itimer_names[] = { "ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF" };

static uint64_t tv_us(const struct timeval *tv)
{
	return (uint64_t)tv->tv_sec * 1000000 + tv->tv_usec;
}

static uint64_t ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static int dump_itimers(struct dump_ctx *c, ProcessEntry *pe)
{
	unsigned long at[3];
	struct rbatch *b;

	pe->itimers = xzalloc(3 * sizeof(*pe->itimers));
	if (!pe->itimers)
		return -1;
	/* the three in one batch of remote syscalls */
	b = xzalloc(sizeof(*b));
	if (!b)
		return -1;
	for (int w = 0; w < 3; w++) {
		at[w] = rbatch_buf(c, b, sizeof(struct itimerval));
		if (!at[w] || rbatch_add(b, SYS_getitimer, w, at[w], 0, 0, 0, 0) < 0)
			goto err;
	}
	if (rbatch_run(c, &c->pt.t[0], b))
		goto err;
	for (int w = 0; w < 3; w++) {
		struct itimerval it;
		ItimerEntry *e;

		if (b->call[w].ret) {
			pr_err("cannot read interval timer %s (%ld)", itimer_names[w], b->call[w].ret);
			goto err;
		}
		memcpy(&it, rbatch_out(c, b, at[w]), sizeof(it));
		if (!timerisset(&it.it_value) && !timerisset(&it.it_interval))
			continue;
		e = xzalloc(sizeof(*e));
		if (!e)
			goto err;
		itimer_entry__init(e);
		e->which = w;
		e->value_us = tv_us(&it.it_value);
		e->interval_us = tv_us(&it.it_interval);
		pe->itimers[pe->n_itimers++] = e;
		pr_info("%s: %llu us, interval %llu us", itimer_names[w], (unsigned long long)e->value_us,
			(unsigned long long)e->interval_us);
	}
	free(b);
	return 0;
err:
	free(b);
	return -1;
}

/* Whether a POSIX timer's clock can be recreated. CPU-time clocks encode a
 * PID/TID (kernel: include/linux/posix-timers.h, CPUCLOCK_PID): 0 is "the
 * caller", which for a thread clock is the thread that created the timer,
 * and /proc does not tell which one. */
static int clock_ok(struct dump_ctx *c, int clk, char *why, size_t len)
{
	pid_t who;

	switch (clk) {
	case CLOCK_REALTIME:
	case CLOCK_MONOTONIC:
	case CLOCK_BOOTTIME:
	case CLOCK_REALTIME_ALARM:
	case CLOCK_BOOTTIME_ALARM:
	case CLOCK_TAI:
		return 1;
	}
	if (clk >= 0) {
		snprintf(why, len, "clock %d is not supported", clk);
		return 0;
	}
	who = ~(clk >> 3);
	/* who: a PID as the process sees it (dump_vpid: --pidns) */
	if (!(clk & 4)) {
		if (who == 0 || who == dump_vpid(c->pid, 0))
			return 1;
		snprintf(why, len, "it measures the CPU time of process %d", who);
		return 0;
	}
	if (who == 0 && c->pt.nr == 1)
		return 1;
	for (int i = 0; i < c->pt.nr && who; i++)
		if (dump_vpid(c->pid, c->pt.t[i].tid) == who)
			return 1;
	snprintf(why, len, who ? "it measures the CPU time of thread %d, not one of process %d" :
		 "it measures the CPU time of the thread that created it, which /proc does not name (process %d "
		 "has several threads)", who ? who : c->pid, c->pid);
	return 0;
}

static int add_posix_timer(ProcessEntry *pe, PosixTimerEntry *t)
{
	PosixTimerEntry **arr = xrealloc(pe->posix_timers, (pe->n_posix_timers + 1) * sizeof(*arr));

	if (!arr)
		return -1;
	pe->posix_timers = arr;
	arr[pe->n_posix_timers++] = t;
	return 0;
}

/* The current timer of the /proc/PID/timers parse is complete: check it and
 * ask the target for its time and overrun. */
static int finish_posix_timer(struct dump_ctx *c, PosixTimerEntry *t)
{
	struct itimerspec its;
	char why[160];
	long ret;

	if (!clock_ok(c, t->clockid, why, sizeof(why)))
		return pr_err("POSIX timer %d of %d (clock %d): %s: not supported yet", t->id, c->pid, t->clockid, why);
	if (t->notify & SIGEV_THREAD_ID) {
		int found = 0;

		for (int i = 0; i < c->pt.nr && !found; i++)
			found = c->pt.t[i].tid == (pid_t)t->tid;
		if (!found)
			return pr_err("POSIX timer %d of %d signals thread %u, which is not one of its threads",
				      t->id, c->pid, t->tid);
	}
	if (pt_syscall(&c->pt, &c->pt.t[0], &ret, SYS_timer_gettime, t->id, c->scratch, 0, 0, 0, 0) || ret)
		return pr_err("cannot read POSIX timer %d of %d (timer_gettime: %ld)", t->id, c->pid, ret);
	if (remote_read(c, c->scratch, &its, sizeof(its)))
		return -1;
	t->value_ns = ts_ns(&its.it_value);
	t->interval_ns = ts_ns(&its.it_interval);
	if (pt_syscall(&c->pt, &c->pt.t[0], &ret, SYS_timer_getoverrun, t->id, 0, 0, 0, 0, 0) || ret < 0)
		return pr_err("cannot read the overrun of POSIX timer %d of %d (%ld)", t->id, c->pid, ret);
	t->overrun = ret;
	pr_info("POSIX timer %d: clock %d notify %#x signal %u value %#llx tid %u: %llu ns, interval %llu ns, "
		"overrun %d", t->id, t->clockid, t->notify, t->signo, (unsigned long long)t->sigval, t->tid,
		(unsigned long long)t->value_ns, (unsigned long long)t->interval_ns, t->overrun);
	return 0;
}

/*
 * /proc/PID/timers, one block per timer (fs/proc/base.c, show_timer):
 *   ID: 7
 *   signal: 35/0000000000001234        signo / sigev_value
 *   notify: signal/tid.4242            signal|none|thread, pid|tid, its number
 *   ClockID: 1
 */
static int dump_posix_timers(struct dump_ctx *c, ProcessEntry *pe)
{
	char path[64], line[256];
	PosixTimerEntry *t = NULL;
	FILE *f;
	int ret = -1;

	snprintf(path, sizeof(path), "/proc/%d/timers", c->pid);
	f = fopen(path, "re");
	if (!f)
		return pr_perror("cannot read %s", path);
	while (fgets(line, sizeof(line), f)) {
		char how[16], whom[8];
		unsigned long long val;
		unsigned signo;
		int id, num, clk;

		if (sscanf(line, "ID: %d", &id) == 1) {
			if (t && finish_posix_timer(c, t))
				goto out;
			t = xzalloc(sizeof(*t));
			if (!t || add_posix_timer(pe, t))
				goto out;
			posix_timer_entry__init(t);
			t->id = id;
			t->clockid = INT32_MIN;
		} else if (t && sscanf(line, "signal: %u/%llx", &signo, &val) == 2) {
			t->signo = signo;
			t->sigval = val;
		} else if (t && sscanf(line, "notify: %15[a-z]/%7[a-z].%d", how, whom, &num) == 3) {
			if (!strcmp(how, "signal"))
				t->notify = SIGEV_SIGNAL;
			else if (!strcmp(how, "none"))
				t->notify = SIGEV_NONE;
			else if (!strcmp(how, "thread"))
				t->notify = SIGEV_THREAD;
			else {
				pr_err("POSIX timer %d of %d: unknown notification \"%s\" in %s", t->id, c->pid, how, path);
				goto out;
			}
			if (!strcmp(whom, "tid")) {
				t->notify |= SIGEV_THREAD_ID;
				t->has_tid = 1;
				t->tid = num;
			}
		} else if (t && sscanf(line, "ClockID: %d", &clk) == 1) {
			t->clockid = clk;
		}
	}
	if (t && finish_posix_timer(c, t))
		goto out;
	for (size_t i = 0; i < pe->n_posix_timers; i++)
		if (pe->posix_timers[i]->clockid == INT32_MIN) {
			pr_err("cannot parse POSIX timer %d in %s", pe->posix_timers[i]->id, path);
			goto out;
		}
	ret = 0;
out:
	fclose(f);
	return ret;
}

/*
 * A thread stopped in a relative nanosleep or clock_nanosleep returns
 * -ERESTART_RESTARTBLOCK (KERNEL-FACTS.md); the kernel has written the time
 * left to the caller's rmtp (hrtimer_nanosleep -> nanosleep_copyout), which
 * is how we learn it. Without rmtp the time left is unknown and the sleep
 * ends with EINTR after restore (cs-restore(8)).
 */
static int dump_sleeps(struct dump_ctx *c)
{
	for (int i = 0; i < c->pt.nr; i++) {
		struct user_regs_struct *r = &c->pt.t[i].regs;
		unsigned long rmtp;
		struct timespec ts;
		int clk;
		SleepEntry *s;

		if ((long)r->rax != -ERESTART_RESTARTBLOCK)
			continue;
		if (r->orig_rax == SYS_nanosleep) {
			clk = CLOCK_MONOTONIC;
			rmtp = r->rsi;
		} else if (r->orig_rax == SYS_clock_nanosleep && !(r->rsi & TIMER_ABSTIME)) {
			clk = r->rdi;
			rmtp = r->r10;
		} else {
			continue;
		}
		if (!rmtp) {
			pr_info("thread %d: in %s without rmtp: it will see EINTR after restore", c->pt.t[i].tid,
				r->orig_rax == SYS_nanosleep ? "nanosleep" : "clock_nanosleep");
			continue;
		}
		if (remote_read(c, rmtp, &ts, sizeof(ts)))
			return -1;
		s = xzalloc(sizeof(*s));
		if (!s)
			return -1;
		sleep_entry__init(s);
		s->nr = r->orig_rax;
		s->clockid = clk;
		s->remaining_ns = ts_ns(&ts);
		s->rmtp = rmtp;
		c->cores[i]->sleep = s;
		pr_info("thread %d: sleeping, %llu ns left on clock %d", c->pt.t[i].tid,
			(unsigned long long)s->remaining_ns, clk);
	}
	return 0;
}

int dump_timers(struct dump_ctx *c, ProcessEntry *pe)
{
	if (dump_itimers(c, pe) || dump_posix_timers(c, pe) || dump_sleeps(c))
		return -1;
	return 0;
}
