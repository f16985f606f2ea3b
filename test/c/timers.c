/*
 * timers.c - do timers and the fds around them survive a checkpoint/restore?
 *
 *   timers READY_FILE KIND...     KIND: itimers posix timerfd signalfd inotify
 *                                       eventfd sleeps, or all; or one that
 *                                       must be refused (below)
 *
 * Set-up (each KIND):
 *  itimers   ITIMER_REAL 1000 s / 7.25 s, ITIMER_VIRTUAL 900 s / 3.5 s,
 *            ITIMER_PROF 800 s / 2.000250 s.
 *  posix     ten timers created, IDs 1, 2, 5 and 6 deleted again (gaps):
 *            MONOTONIC signal SIGRTMIN+2 value 0xabcdef123 at 1000 s / 3.5 s;
 *            REALTIME SIGEV_THREAD_ID to a second thread, SIGRTMIN+3 value 42,
 *            500 s one-shot; BOOTTIME SIGEV_NONE 700 s / 1.25 s; a disarmed
 *            one (SIGUSR1); CLOCK_PROCESS_CPUTIME_ID 100 s (SIGRTMIN+4);
 *            a MONOTONIC 50 ms periodic one on SIGRTMIN+5 (blocked), whose
 *            signal is pending with overruns when the process is dumped.
 *  timerfd   MONOTONIC 1000 s / 2.5 s (O_NONBLOCK|O_CLOEXEC); REALTIME
 *            absolute now+600 s with TFD_TIMER_CANCEL_ON_SET; a 20 ms periodic
 *            one never read (ticks pile up); a 1 ms one-shot that has expired.
 *  signalfd  {SIGUSR1, SIGRTMIN+7} O_NONBLOCK|O_CLOEXEC; {SIGHUP} blocking.
 *  inotify   a directory (IN_CREATE|IN_DELETE) and a file (IN_MODIFY|
 *            IN_ONESHOT) in the READY_FILE's directory, with a removed watch
 *            between them (wd gap); a second, empty instance with O_CLOEXEC.
 *  eventfd   EFD_SEMAPHORE|EFD_NONBLOCK with counter 3.
 *  sleeps    one thread in nanosleep(2 s, &rem), one in
 *            clock_nanosleep(CLOCK_MONOTONIC, 0, 2 s, &rem), each once.
 * Then it waits 1 s before writing READY_FILE, so that a timer or sleep that
 * a restore would start afresh is told apart from one that kept its time.
 *
 * Verification on SIGUSR2. Times: G = the file "stopped-ms" next to
 * READY_FILE (written by the test: an upper bound of the time the process
 * was not running; 0 when absent), E = time since set-up. A remaining time
 * must lie in [initial - E - 0.3 s, initial - E + G + 0.3 s] (CPU-time
 * timers: in [initial - 1 s, initial], itimers + 20 ms for tick rounding); intervals, IDs, signals, sigev
 * values, notifications, clocks (the whole of /proc/self/timers), flags,
 * masks, watch descriptors and masks exact. Then, live: the 50 ms POSIX
 * timer's signal arrives twice with its ID and value; the 20 ms timerfd
 * reads a count that includes the ticks before the dump and ticks again;
 * the one-shot timerfd reads exactly 1; the signalfds read a SIGUSR1, a
 * SIGRTMIN+7 with its value, a SIGHUP sent now; inotify reports IN_CREATE
 * in the directory and IN_MODIFY on the file with their wds; the eventfd
 * reads 1, 1, 1, then EAGAIN; each sleep returned 0 after 2 s of the
 * process's own time (between 2 s and 2 s + G + 0.3 s).
 *
 * Kinds that cs-dump must refuse (nothing to check after SIGUSR2):
 *  thread-clock     a POSIX timer on CLOCK_THREAD_CPUTIME_ID, two threads;
 *  inotify-deleted  a watch on a file unlinked since (held open by fd 4);
 *  inotify-queued   an inotify event not read yet.
 *
 * CS_TEST_CORRUPT: itimer posix-id posix-time timerfd timerfd-ticks signalfd
 * inotify eventfd sleep.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>

#include "tprog.h"

#define NS 1000000000LL
#define TOL (900 * 1000000LL)	/* ns: a loaded 2-CPU machine oversleeps by up to ~0.5 s */

static unsigned checked;
static int64_t t_setup;		/* CLOCK_MONOTONIC ns at the end of set-up */
static int64_t gap_ns;		/* G */
static char dir[4096];

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * NS + ts.tv_nsec;
}

static int64_t ts2ns(const struct timespec *ts)
{
	return ts->tv_sec * NS + ts->tv_nsec;
}

static struct timespec ns2ts(int64_t ns)
{
	struct timespec ts = { ns / NS, ns % NS };

	return ts;
}

static int64_t tv2ns(const struct timeval *tv)
{
	return tv->tv_sec * NS + tv->tv_usec * 1000LL;
}

/* A remaining time: set to initial at t_setup, the process did not run for
 * at most G since. */
static void check_remaining(const char *what, int64_t got, int64_t initial)
{
	int64_t e = mono_ns() - t_setup, lo = initial - e - TOL, hi = initial - e + gap_ns + TOL;

	checked++;
	if (got < lo || got > hi)
		tp_differs(what, "%.3f s left, want %.3f..%.3f s (set to %.3f s %.3f s ago, stopped <= %.3f s)",
			   got / 1e9, lo / 1e9, hi / 1e9, initial / 1e9, e / 1e9, gap_ns / 1e9);
}

static void check_i64(const char *what, int64_t got, int64_t want)
{
	checked++;
	if (got != want)
		tp_differs(what, "got %lld want %lld", (long long)got, (long long)want);
}

static char *slurp(const char *path)
{
	static char buf[3][16384];
	static int k;
	char *b = buf[k++ % 3];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, b, sizeof(buf[0]) - 1);

	if (fd >= 0)
		close(fd);
	b[n > 0 ? n : 0] = 0;
	return b;
}

/* ---- itimers --------------------------------------------------------------- */

static const struct itimerval it_want[3] = {
	{ { 7, 250000 }, { 1000, 0 } },
	{ { 3, 500000 }, { 900, 0 } },
	{ { 2, 250 }, { 800, 0 } },
};

static void setup_itimers(void)
{
	signal(SIGALRM, SIG_IGN);
	signal(SIGVTALRM, SIG_IGN);
	signal(SIGPROF, SIG_IGN);
	for (int w = 0; w < 3; w++)
		if (setitimer(w, &it_want[w], NULL))
			tp_die("setitimer %d", w);
	if (tp_corrupting("itimer")) {
		struct itimerval it = it_want[0];

		it.it_value.tv_sec += 10;
		setitimer(ITIMER_REAL, &it, NULL);
	}
}

static void check_itimers(void)
{
	static const char *names[] = { "ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF" };

	for (int w = 0; w < 3; w++) {
		struct itimerval it;
		char what[64];
		int64_t got, want = tv2ns(&it_want[w].it_value);

		getitimer(w, &it);
		got = tv2ns(&it.it_value);
		snprintf(what, sizeof(what), "%s value", names[w]);
		if (w == ITIMER_REAL) {
			check_remaining(what, got, want);
		} else {
			/* CPU-time itimers are rounded up to a tick (4 ms at HZ=250) */
			checked++;
			if (got > want + 20000000 || got < want - NS)
				tp_differs(what, "%.6f s left, want %.6f s less at most 1 s of CPU time", got / 1e9,
					   want / 1e9);
		}
		snprintf(what, sizeof(what), "%s interval", names[w]);
		check_i64(what, tv2ns(&it.it_interval), tv2ns(&it_want[w].it_interval));
	}
}

/* ---- POSIX timers ---------------------------------------------------------- */

struct ptimer {
	timer_t id;
	clockid_t clock;
	int notify, signo, to_thread;
	uint64_t value;
	int64_t initial, interval;	/* ns; initial 0: disarmed */
	int cpu;
};

static struct ptimer pt[6];
static char timers_text[16384];
static pthread_t sig_thread;
static pid_t sig_tid;

static void *pause_thread(void *arg)
{
	sigset_t all;

	(void)arg;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	__atomic_store_n(&sig_tid, gettid(), __ATOMIC_SEQ_CST);
	for (;;)
		pause();
	return NULL;
}

static void make_ptimer(struct ptimer *p, int n)
{
	struct sigevent sev;
	struct itimerspec its = { ns2ts(p->interval), ns2ts(p->initial) };

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = p->notify;
	sev.sigev_signo = p->signo;
	sev.sigev_value.sival_ptr = (void *)(uintptr_t)p->value;
	if (p->to_thread)
		sev._sigev_un._tid = sig_tid;
	if (timer_create(p->clock, &sev, &p->id))
		tp_die("timer_create %d", n);
	if (p->initial && timer_settime(p->id, 0, &its, NULL))
		tp_die("timer_settime %d", n);
}

/* /proc/self/timers without the order (newest first) mattering: lines as they are */
static void timers_now(char *out, size_t len)
{
	snprintf(out, len, "%s", slurp("/proc/self/timers"));
}

static void setup_posix(void)
{
	timer_t spare[10];
	sigset_t s;
	struct sigevent none = { .sigev_notify = SIGEV_NONE };

	pthread_create(&sig_thread, NULL, pause_thread, NULL);
	while (!__atomic_load_n(&sig_tid, __ATOMIC_SEQ_CST))
		usleep(1000);
	sigemptyset(&s);
	sigaddset(&s, SIGRTMIN + 2);
	sigaddset(&s, SIGRTMIN + 4);
	sigaddset(&s, SIGRTMIN + 5);
	sigaddset(&s, SIGUSR1);
	sigprocmask(SIG_BLOCK, &s, NULL);
	/* ten, then some deleted: the IDs left have gaps (0 3 4 7 8 9, then
	 * the real ones from 10 upwards) */
	for (int i = 0; i < 10; i++)
		if (timer_create(CLOCK_MONOTONIC, &none, &spare[i]))
			tp_die("timer_create spare %d", i);
	timer_delete(spare[1]);
	timer_delete(spare[2]);
	timer_delete(spare[5]);
	timer_delete(spare[6]);
	pt[0] = (struct ptimer){ .clock = CLOCK_MONOTONIC, .notify = SIGEV_SIGNAL, .signo = SIGRTMIN + 2,
				 .value = 0xabcdef123ULL, .initial = 1000 * NS, .interval = 3500 * 1000000LL };
	pt[1] = (struct ptimer){ .clock = CLOCK_REALTIME, .notify = SIGEV_THREAD_ID, .signo = SIGRTMIN + 3,
				 .value = 42, .initial = 500 * NS, .to_thread = 1 };
	pt[2] = (struct ptimer){ .clock = CLOCK_BOOTTIME, .notify = SIGEV_NONE, .initial = 700 * NS,
				 .interval = 1250 * 1000000LL };
	pt[3] = (struct ptimer){ .clock = CLOCK_MONOTONIC, .notify = SIGEV_SIGNAL, .signo = SIGUSR1,
				 .value = (uintptr_t)&pt[3] };
	pt[4] = (struct ptimer){ .clock = CLOCK_PROCESS_CPUTIME_ID, .notify = SIGEV_SIGNAL, .signo = SIGRTMIN + 4,
				 .value = 4, .initial = 100 * NS, .cpu = 1 };
	pt[5] = (struct ptimer){ .clock = CLOCK_MONOTONIC, .notify = SIGEV_SIGNAL, .signo = SIGRTMIN + 5,
				 .value = 0x5555, .initial = 50 * 1000000LL, .interval = 50 * 1000000LL };
	for (int i = 0; i < 6; i++)
		make_ptimer(&pt[i], i);
	timers_now(timers_text, sizeof(timers_text));
	if (tp_corrupting("posix-id")) {
		/* the same timer again, with another ID */
		timer_delete(pt[2].id);
		make_ptimer(&pt[2], 2);
	}
	if (tp_corrupting("posix-time")) {
		struct itimerspec its = { ns2ts(pt[0].interval), ns2ts(pt[0].initial + 10 * NS) };

		timer_settime(pt[0].id, 0, &its, NULL);
	}
}

static void check_posix(void)
{
	static char now[16384];
	struct timespec wait = { 3, 0 };
	sigset_t s;
	siginfo_t si;

	timers_now(now, sizeof(now));
	checked++;
	if (strcmp(now, timers_text)) {
		char *a = timers_text, *b = now;

		while (*a && *a == *b)
			a++, b++;
		tp_differs("/proc/self/timers", "from \"%.60s\" on, want \"%.60s\"", b, a);
	}
	for (int i = 0; i < 6; i++) {
		struct itimerspec its;
		char what[64];

		snprintf(what, sizeof(what), "POSIX timer %d (ID %d)", i, (int)(intptr_t)pt[i].id);
		checked++;
		if (timer_gettime(pt[i].id, &its)) {
			tp_differs(what, "timer_gettime: %s", strerror(errno));
			continue;
		}
		snprintf(what, sizeof(what), "POSIX timer %d interval", i);
		check_i64(what, ts2ns(&its.it_interval), pt[i].interval);
		snprintf(what, sizeof(what), "POSIX timer %d value", i);
		if (i == 5)
			continue;	/* fast: checked live below */
		if (!pt[i].initial)
			check_i64(what, ts2ns(&its.it_value), 0);
		else if (pt[i].cpu) {
			checked++;
			if (ts2ns(&its.it_value) > pt[i].initial || ts2ns(&its.it_value) < pt[i].initial - NS)
				tp_differs(what, "%.3f s left, want %.3f s less at most 1 s", ts2ns(&its.it_value) / 1e9,
					   pt[i].initial / 1e9);
		} else if (pt[i].interval) {
			/* periodic: initial, then each interval */
			int64_t e = mono_ns() - t_setup, v = ts2ns(&its.it_value);

			checked++;
			if (v > pt[i].initial - e + gap_ns + TOL || v < pt[i].initial - e - TOL)
				tp_differs(what, "%.3f s left, want %.3f..%.3f s", v / 1e9,
					   (pt[i].initial - e - TOL) / 1e9, (pt[i].initial - e + gap_ns + TOL) / 1e9);
		} else {
			check_remaining(what, ts2ns(&its.it_value), pt[i].initial);
		}
	}
	/* the 50 ms timer still fires: twice, with its ID and value */
	sigemptyset(&s);
	sigaddset(&s, SIGRTMIN + 5);
	for (int k = 0; k < 2; k++) {
		int sig = sigtimedwait(&s, &si, &wait);

		checked++;
		if (sig != SIGRTMIN + 5) {
			tp_differs("POSIX timer 5 signal", "none within 3 s (%s)", strerror(errno));
			break;
		}
		check_i64("POSIX timer 5 si_code", si.si_code, SI_TIMER);
		check_i64("POSIX timer 5 si_timerid", si.si_timerid, (int)(intptr_t)pt[5].id);
		check_i64("POSIX timer 5 si_value", (uintptr_t)si.si_value.sival_ptr, pt[5].value);
		checked++;
		if (si.si_overrun < 0)
			tp_differs("POSIX timer 5 si_overrun", "%d", si.si_overrun);
		tp_log("POSIX timer 5: signal %d, overrun %d, timer_getoverrun %d", k, si.si_overrun,
		       timer_getoverrun(pt[5].id));
	}
}

/* ---- timerfd --------------------------------------------------------------- */

static int tfd[4];
static int64_t tfd_abs;		/* REALTIME ns of tfd[1]'s expiry */

static int fd_flags(int fd)
{
	return (fcntl(fd, F_GETFL) & (O_NONBLOCK | O_ACCMODE)) | (fcntl(fd, F_GETFD) & FD_CLOEXEC ? O_CLOEXEC : 0);
}

static void setup_timerfd(void)
{
	struct itimerspec a = { ns2ts(2500 * 1000000LL), ns2ts(1000 * NS) };
	struct itimerspec c = { ns2ts(20 * 1000000LL), ns2ts(20 * 1000000LL) };
	struct itimerspec d = { { 0, 0 }, ns2ts(1000000) };
	struct timespec now;
	struct itimerspec b = { { 0, 0 }, { 0, 0 } };

	tfd[0] = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	tfd[1] = timerfd_create(CLOCK_REALTIME, 0);
	tfd[2] = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	tfd[3] = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK);
	for (int i = 0; i < 4; i++)
		if (tfd[i] < 0)
			tp_die("timerfd_create %d", i);
	clock_gettime(CLOCK_REALTIME, &now);
	tfd_abs = ts2ns(&now) + 600 * NS;
	b.it_value = ns2ts(tfd_abs);
	if (timerfd_settime(tfd[0], 0, &a, NULL) ||
	    timerfd_settime(tfd[1], TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &b, NULL) ||
	    timerfd_settime(tfd[2], 0, &c, NULL) || timerfd_settime(tfd[3], 0, &d, NULL))
		tp_die("timerfd_settime");
	if (tp_corrupting("timerfd")) {
		a.it_interval.tv_nsec++;
		timerfd_settime(tfd[0], 0, &a, NULL);
	}
}

/* the "settime flags:" line of a timerfd's fdinfo */
static unsigned settime_flags(int fd)
{
	char path[64], *p;
	unsigned f = ~0U;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	p = strstr(slurp(path), "settime flags:");
	if (p)
		sscanf(p, "settime flags: %o", &f);
	return f;
}

static void check_timerfd(void)
{
	struct itimerspec its;
	uint64_t n = 0;
	int64_t e;
	struct pollfd pfd = { .events = POLLIN };

	if (tp_corrupting("timerfd-ticks"))
		(void)!read(tfd[2], &n, 8);
	check_i64("timerfd 0 flags", fd_flags(tfd[0]), O_RDWR | O_NONBLOCK | O_CLOEXEC);
	check_i64("timerfd 1 flags", fd_flags(tfd[1]), O_RDWR);
	timerfd_gettime(tfd[0], &its);
	check_remaining("timerfd 0 value", ts2ns(&its.it_value), 1000 * NS);
	check_i64("timerfd 0 interval", ts2ns(&its.it_interval), 2500 * 1000000LL);
	timerfd_gettime(tfd[1], &its);
	check_remaining("timerfd 1 value", ts2ns(&its.it_value), 600 * NS);
	check_i64("timerfd 1 interval", ts2ns(&its.it_interval), 0);
	check_i64("timerfd 1 settime flags", settime_flags(tfd[1]), TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET);
	/* 20 ms periodic, never read: every period the process ran */
	e = mono_ns() - t_setup;
	n = 0;
	checked++;
	if (read(tfd[2], &n, 8) != 8)
		tp_differs("timerfd 2 read", "%s", strerror(errno));
	else if ((int64_t)n < (e - gap_ns) / 20000000 - 10 || (int64_t)n > e / 20000000 + 60)
		tp_differs("timerfd 2 expirations", "got %llu, want %lld..%lld (%.3f s since set-up, stopped <= %.3f s)",
			   (unsigned long long)n, (long long)((e - gap_ns) / 20000000 - 10),
			   (long long)(e / 20000000 + 60), e / 1e9, gap_ns / 1e9);
	tp_log("timerfd 2: %llu expirations in %.3f s", (unsigned long long)n, e / 1e9);
	pfd.fd = tfd[2];
	checked++;
	if (poll(&pfd, 1, 2000) != 1)
		tp_differs("timerfd 2", "does not fire again within 2 s");
	n = 0;
	checked++;
	if (read(tfd[3], &n, 8) != 8 || n != 1)
		tp_differs("timerfd 3 (expired one-shot)", "read %llu (%s), want 1", (unsigned long long)n,
			   strerror(errno));
	timerfd_gettime(tfd[3], &its);
	check_i64("timerfd 3 value", ts2ns(&its.it_value), 0);
}

/* ---- signalfd -------------------------------------------------------------- */

static int sfd[2];

static void setup_signalfd(void)
{
	sigset_t a, b;

	sigemptyset(&a);
	sigaddset(&a, SIGUSR1);
	sigaddset(&a, SIGRTMIN + 7);
	sigemptyset(&b);
	sigaddset(&b, SIGHUP);
	sigprocmask(SIG_BLOCK, &a, NULL);
	sigprocmask(SIG_BLOCK, &b, NULL);
	sfd[0] = signalfd(-1, &a, SFD_NONBLOCK | SFD_CLOEXEC);
	sfd[1] = signalfd(-1, &b, 0);
	if (sfd[0] < 0 || sfd[1] < 0)
		tp_die("signalfd");
	if (tp_corrupting("signalfd")) {
		sigaddset(&a, SIGRTMIN + 8);
		signalfd(sfd[0], &a, 0);
	}
}

static uint64_t sigmask_of(int fd)
{
	char path[64], *p;
	unsigned long long m = 0;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	p = strstr(slurp(path), "sigmask:");
	if (p)
		sscanf(p, "sigmask: %llx", &m);
	return m;
}

static void check_signalfd(void)
{
	struct signalfd_siginfo ssi;
	union sigval v = { .sival_int = 777 };
	struct pollfd pfd = { .fd = sfd[1], .events = POLLIN };

	check_i64("signalfd 0 mask", sigmask_of(sfd[0]), 1ULL << (SIGUSR1 - 1) | 1ULL << (SIGRTMIN + 7 - 1));
	check_i64("signalfd 1 mask", sigmask_of(sfd[1]), 1ULL << (SIGHUP - 1));
	check_i64("signalfd 0 flags", fd_flags(sfd[0]), O_RDWR | O_NONBLOCK | O_CLOEXEC);
	check_i64("signalfd 1 flags", fd_flags(sfd[1]), O_RDWR);
	sigqueue(getpid(), SIGRTMIN + 7, v);
	kill(getpid(), SIGUSR1);
	kill(getpid(), SIGHUP);
	checked++;
	if (read(sfd[0], &ssi, sizeof(ssi)) != sizeof(ssi) || ssi.ssi_signo != (unsigned)SIGUSR1)
		tp_differs("signalfd 0", "no SIGUSR1 read (%s)", strerror(errno));
	checked++;
	if (read(sfd[0], &ssi, sizeof(ssi)) != sizeof(ssi) || ssi.ssi_signo != (unsigned)SIGRTMIN + 7 ||
	    ssi.ssi_int != 777)
		tp_differs("signalfd 0", "no SIGRTMIN+7 with value 777 read (%s)", strerror(errno));
	checked++;
	if (poll(&pfd, 1, 1000) != 1 || read(sfd[1], &ssi, sizeof(ssi)) != sizeof(ssi) ||
	    ssi.ssi_signo != SIGHUP)
		tp_differs("signalfd 1", "no SIGHUP read");
}

/* ---- inotify --------------------------------------------------------------- */

static int ifd[2], wd_dir, wd_file;
static char idir[4200], ifile[4300];

static void setup_inotify(void)
{
	char other[4300];
	int wd_gone, fd;
	char buf[4096];

	snprintf(idir, sizeof(idir), "%s/inotify dir", dir);
	snprintf(ifile, sizeof(ifile), "%s/inotify file", dir);
	snprintf(other, sizeof(other), "%s/inotify other", dir);
	if (mkdir(idir, 0700) && errno != EEXIST)
		tp_die("mkdir %s", idir);
	fd = open(ifile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || close(fd))
		tp_die("create %s", ifile);
	fd = open(other, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || close(fd))
		tp_die("create %s", other);
	ifd[0] = inotify_init1(IN_NONBLOCK);
	ifd[1] = inotify_init1(IN_CLOEXEC);
	if (ifd[0] < 0 || ifd[1] < 0)
		tp_die("inotify_init1");
	wd_dir = inotify_add_watch(ifd[0], idir, IN_CREATE | IN_DELETE);
	wd_gone = inotify_add_watch(ifd[0], other, IN_ATTRIB);
	inotify_rm_watch(ifd[0], wd_gone);
	wd_gone = inotify_add_watch(ifd[0], other, IN_ATTRIB);
	inotify_rm_watch(ifd[0], wd_gone);
	wd_file = inotify_add_watch(ifd[0], ifile, IN_MODIFY | IN_ONESHOT);
	if (wd_dir < 0 || wd_file < 0)
		tp_die("inotify_add_watch");
	while (read(ifd[0], buf, sizeof(buf)) > 0)	/* the IN_IGNORED of the removed ones */
		;
	if (tp_corrupting("inotify")) {
		inotify_rm_watch(ifd[0], wd_dir);
		inotify_add_watch(ifd[0], idir, IN_CREATE | IN_DELETE);
		while (read(ifd[0], buf, sizeof(buf)) > 0)
			;
	}
}

/* the "inotify wd:" lines of fd's fdinfo, mask and wd only, in order */
static void watches(int fd, char *out, size_t len)
{
	char path[64], *p;
	size_t o = 0;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	out[0] = 0;
	for (p = slurp(path); (p = strstr(p, "inotify wd:")); p++) {
		unsigned wd, mask;
		unsigned long long ino;

		if (sscanf(p, "inotify wd:%x ino:%llx sdev:%*x mask:%x", &wd, &ino, &mask) == 3 && o < len)
			o += snprintf(out + o, len - o, "wd %u ino %llu mask %#x; ", wd, ino, mask);
	}
}

static char watches_text[1024];

static void inotify_event(const char *what, int wd, uint32_t mask, const char *name)
{
	char buf[4096] __attribute__((aligned(8)));
	struct pollfd pfd = { .fd = ifd[0], .events = POLLIN };
	struct inotify_event *ev = (struct inotify_event *)buf;

	checked++;
	if (poll(&pfd, 1, 1000) != 1 || read(ifd[0], buf, sizeof(buf)) < (ssize_t)sizeof(*ev)) {
		tp_differs(what, "no event within 1 s");
		return;
	}
	check_i64(what, ev->wd, wd);
	checked++;
	if (!(ev->mask & mask) || (name && (!ev->len || strcmp(ev->name, name))))
		tp_differs(what, "mask %#x name \"%s\", want mask %#x name \"%s\"", ev->mask, ev->len ? ev->name : "",
			   mask, name ? name : "");
}

static void check_inotify(void)
{
	char now[1024], f[4400];
	int fd;

	watches(ifd[0], now, sizeof(now));
	checked++;
	if (strcmp(now, watches_text))
		tp_differs("inotify watches", "\"%s\", want \"%s\"", now, watches_text);
	check_i64("inotify 0 flags", fd_flags(ifd[0]), O_RDONLY | O_NONBLOCK);
	check_i64("inotify 1 flags", fd_flags(ifd[1]), O_RDONLY | O_CLOEXEC);
	snprintf(f, sizeof(f), "%s/new", idir);
	fd = open(f, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0)
		close(fd);
	inotify_event("inotify IN_CREATE in the directory", wd_dir, IN_CREATE, "new");
	fd = open(ifile, O_WRONLY | O_APPEND);
	if (fd < 0 || write(fd, "x", 1) != 1)
		tp_die("write %s", ifile);
	close(fd);
	inotify_event("inotify IN_MODIFY on the file", wd_file, IN_MODIFY, NULL);
	unlink(f);
}

/* ---- eventfd --------------------------------------------------------------- */

static int efd;

static void setup_eventfd(void)
{
	efd = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
	if (efd < 0)
		tp_die("eventfd");
	if (tp_corrupting("eventfd")) {
		int plain = eventfd(3, EFD_NONBLOCK);

		dup2(plain, efd);
		close(plain);
	}
}

static void check_eventfd(void)
{
	uint64_t v;

	for (int k = 0; k < 3; k++) {
		v = 0;
		checked++;
		if (read(efd, &v, 8) != 8 || v != 1)
			tp_differs("eventfd (EFD_SEMAPHORE) read", "%d: got %llu (%s), want 1", k, (unsigned long long)v,
				   strerror(errno));
	}
	checked++;
	if (read(efd, &v, 8) != -1 || errno != EAGAIN)
		tp_differs("eventfd (EFD_SEMAPHORE)", "a fourth read did not fail with EAGAIN");
}

/* ---- sleeps ---------------------------------------------------------------- */

struct sleeper {
	pthread_t th;
	int clock_ns;		/* 1: clock_nanosleep */
	int ret, err;
	int64_t took;
};

static struct sleeper sl[2];

static void *sleep_thread(void *arg)
{
	struct sleeper *s = arg;
	struct timespec req = { 2, 0 }, rem;
	int64_t t0 = mono_ns();

	if (s->clock_ns) {
		s->ret = clock_nanosleep(CLOCK_MONOTONIC, 0, &req, &rem);
		s->err = s->ret;
	} else {
		s->ret = nanosleep(&req, &rem);
		s->err = s->ret ? errno : 0;
	}
	if (!s->clock_ns && tp_corrupting("sleep"))
		usleep(2000000);	/* as a sleep restarted from the beginning */
	s->took = mono_ns() - t0;
	return NULL;
}

static void setup_sleeps(void)
{
	for (int i = 0; i < 2; i++) {
		sl[i].clock_ns = i;
		if (pthread_create(&sl[i].th, NULL, sleep_thread, &sl[i]))
			tp_die("pthread_create");
	}
}

static void check_sleeps(void)
{
	for (int i = 0; i < 2; i++) {
		const char *what = i ? "clock_nanosleep(CLOCK_MONOTONIC, 0, 2 s)" : "nanosleep(2 s)";

		pthread_join(sl[i].th, NULL);
		checked++;
		if (sl[i].ret)
			tp_differs(what, "returned %d (%s) after %.3f s, want 0", sl[i].ret, strerror(sl[i].err),
				   sl[i].took / 1e9);
		checked++;
		if (sl[i].took < 2 * NS || sl[i].took > 2 * NS + gap_ns + TOL)
			tp_differs(what, "slept %.3f s, want 2..%.3f s", sl[i].took / 1e9, (2 * NS + gap_ns + TOL) / 1e9);
	}
}

/* ---- what cs-dump must refuse ---------------------------------------------- */

static int keep_fd = -1;

/* thread-clock: a POSIX timer on CLOCK_THREAD_CPUTIME_ID in a process with
 * two threads (the creating thread is not told by /proc) */
static void setup_thread_clock(void)
{
	struct sigevent none = { .sigev_notify = SIGEV_NONE };
	struct itimerspec its = { { 0, 0 }, { 100, 0 } };
	timer_t t;

	pthread_create(&sig_thread, NULL, pause_thread, NULL);
	if (timer_create(CLOCK_THREAD_CPUTIME_ID, &none, &t) || timer_settime(t, 0, &its, NULL))
		tp_die("timer_create(CLOCK_THREAD_CPUTIME_ID)");
}

/* inotify-deleted: a watch on a file unlinked since (kept alive by an fd
 * opened after the inotify instance, so the inotify fd is met first) */
static void setup_inotify_deleted(void)
{
	char f[4300];
	int in = inotify_init1(0);

	snprintf(f, sizeof(f), "%s/inotify deleted", dir);
	keep_fd = open(f, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (in < 0 || keep_fd < 0 || inotify_add_watch(in, f, IN_MODIFY) < 0 || unlink(f))
		tp_die("inotify on a deleted file");
}

/* inotify-queued: an event waits in the queue */
static void setup_inotify_queued(void)
{
	char f[4300];
	int in = inotify_init1(0), fd;

	snprintf(f, sizeof(f), "%s/inotify queued", dir);
	if (in < 0 || inotify_add_watch(in, dir, IN_CREATE) < 0)
		tp_die("inotify on %s", dir);
	fd = open(f, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		tp_die("create %s", f);
	close(fd);
}

/* ---- main ------------------------------------------------------------------- */

static const char *const modes[] = { "itimer", "posix-id", "posix-time", "timerfd", "timerfd-ticks", "signalfd",
				     "inotify", "eventfd", "sleep", NULL };

int main(int argc, char **argv)
{
	static const char *kinds[] = { "itimers", "posix", "timerfd", "signalfd", "inotify", "eventfd", "sleeps",
				       "thread-clock", "inotify-deleted", "inotify-queued" };
	int want[10] = { 0 };
	char path[4200];

	tp_init("timers", argc, argv);
	tp_corrupt_check_mode(modes);
	tp_dirname(argv[1], dir, sizeof(dir));
	for (int a = 2; a < argc; a++) {
		int found = 0;

		for (int k = 0; k < 10; k++)
			if (!strcmp(argv[a], kinds[k]) || (k < 7 && !strcmp(argv[a], "all")))
				want[k] = found = 1;
		if (!found) {
			errno = EINVAL;
			tp_die("unknown kind %s", argv[a]);
		}
	}
	tp_block_usr2();
	if (want[0])
		setup_itimers();
	if (want[1])
		setup_posix();
	if (want[2])
		setup_timerfd();
	if (want[3])
		setup_signalfd();
	if (want[4])
		setup_inotify();
	if (want[5])
		setup_eventfd();
	if (want[6])
		setup_sleeps();
	if (want[7])
		setup_thread_clock();
	if (want[8])
		setup_inotify_deleted();
	if (want[9])
		setup_inotify_queued();
	t_setup = mono_ns();
	if (want[4])
		watches(ifd[0], watches_text, sizeof(watches_text));
	usleep(1000000);
	tp_write_ready(argv[1]);
	tp_wait_usr2();

	snprintf(path, sizeof(path), "%s/stopped-ms", dir);
	gap_ns = atoll(slurp(path)) * 1000000LL;
	if (want[0])
		check_itimers();
	if (want[1])
		check_posix();
	if (want[2])
		check_timerfd();
	if (want[3])
		check_signalfd();
	if (want[4])
		check_inotify();
	if (want[5])
		check_eventfd();
	if (want[6])
		check_sleeps();
	tp_finish(checked);
}
