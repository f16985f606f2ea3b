/*
 * sigstate.c - does signal and per-task state survive a checkpoint/restore?
 *
 *   sigstate READY_FILE [nanosleep|sigsuspend]
 *
 * Set-up, in main and in one extra thread:
 *  - handlers with distinct flags and masks (SA_RESTART, SA_SIGINFO,
 *    SA_ONSTACK, SA_NODEFER, SA_RESETHAND, SA_NOCLDSTOP|SA_NOCLDWAIT), one
 *    SIG_IGN; every disposition 1..64 is recorded raw (rt_sigaction: handler,
 *    flags, restorer, mask), glibc's own included;
 *  - a blocked mask per thread (the thread's with SIGTRAP), a sigaltstack per thread (the thread's with
 *    SS_AUTODISARM);
 *  - pending signals while blocked: process-wide SIGHUP (kill) and
 *    SIGRTMIN+1 twice (sigqueue 1234, 1235: order matters); SIGUSR1 (tgkill)
 *    and SIGRTMIN+2 (rt_tgsigqueueinfo 5678) directed at the thread;
 *    SIGRTMIN+4 (4321) directed at main;
 *  - thread names (PR_SET_NAME), umask 0157, cwd "<dir of READY_FILE>/cwd dir".
 *
 * Waiting, with SIGUSR2 handled on the alternate stack:
 *  nanosleep   (default) SIGUSR2 unblocked; nanosleep(50 ms) until the handler
 *              sets a flag.  Polling: a SIGUSR2 that lands while a restore
 *              re-enters the syscall is never lost.
 *  sigsuspend  SIGUSR2 blocked in the real mask; sigsuspend() with a different
 *              temporary mask.  While a task sleeps there the kernel holds the
 *              real mask aside (saved_sigmask); a dump that takes the
 *              temporary mask for the real one leaves the wrong mask behind
 *              once sigsuspend returns.
 *
 * Verification: dispositions against the record and against the table
 * below, masks, altstacks (and that the handler really ran on it, with the
 * mask sa_mask asks for), names, umask, cwd, each thread's sigpending() set,
 * then every queued signal through sigtimedwait(): signal, si_code, si_value,
 * si_pid, in queue order, nothing left over.  (tgkill's si_code is asked of
 * the running kernel at set-up: SI_TKILL before, SI_USER on 6.18.)
 *
 * CS_TEST_CORRUPT: sigaction ign mask altstack pending name umask cwd
 * threadmask threadname.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include "tprog.h"

#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif
#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)
#endif

#define MAIN_ALT_SIZE	(64 * 1024)
#define THR_ALT_SIZE	(32 * 1024)
#define UMASK		0157
#define MAIN_NAME	"cs-sig-main"
#define THR_NAME	"cs-sig-thread"

/* The kernel's struct sigaction (x86_64), read with the raw syscall so
 * nothing in glibc can hide a field. */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

static struct ksigaction recorded[65];
static uint64_t sigbit(int sig) { return 1ull << (sig - 1); }

static int rt(int n) { return SIGRTMIN + n; }

static int read_ksigaction(int sig, struct ksigaction *k)
{
	memset(k, 0, sizeof(*k));
	return (int)syscall(SYS_rt_sigaction, sig, NULL, k, 8);
}

static uint64_t set_to_bits(const sigset_t *s)
{
	uint64_t b = 0;

	for (int sig = 1; sig <= 64; sig++)
		if (sigismember(s, sig) == 1)
			b |= sigbit(sig);
	return b;
}

static void bits_to_set(uint64_t b, sigset_t *s)
{
	sigemptyset(s);
	for (int sig = 1; sig <= 64; sig++)
		if (b & sigbit(sig))
			sigaddset(s, sig);
}

static uint64_t cur_mask(void)
{
	sigset_t s;

	pthread_sigmask(SIG_SETMASK, NULL, &s);
	return set_to_bits(&s);
}

/* "SIGHUP", "SIGRTMIN+3", ... */
static const char *signame(int sig, char *buf, size_t sz)
{
	if (sig >= SIGRTMIN && sig <= SIGRTMAX)
		snprintf(buf, sz, "SIGRTMIN+%d", sig - SIGRTMIN);
	else
		snprintf(buf, sz, "SIG%s", sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
	return buf;
}

static char *mask_str(uint64_t b, char *buf, size_t sz)
{
	size_t o = 0;
	char n[24];

	buf[0] = '\0';
	for (int sig = 1; sig <= 64 && o + 24 < sz; sig++)
		if (b & sigbit(sig))
			o += snprintf(buf + o, sz - o, "%s%s", o ? "," : "", signame(sig, n, sizeof(n)));
	if (!o)
		snprintf(buf, sz, "(none)");
	return buf;
}

static int check_mask(const char *what, uint64_t got, uint64_t want)
{
	char g[400], w[400];

	if (got == want)
		return 0;
	tp_differs(what, "got {%s} want {%s}", mask_str(got, g, sizeof(g)), mask_str(want, w, sizeof(w)));
	return -1;
}

/* ---- handlers and the table of what was installed ---------------------- */

static volatile sig_atomic_t usr2_seen;
static volatile int usr2_on_altstack;
static uint64_t usr2_mask;		/* blocked mask inside the handler */
static char *main_alt, *thr_alt;

static void h_plain(int sig) { }
static void h_info(int sig, siginfo_t *si, void *uc) { }

static void h_usr2(int sig, siginfo_t *si, void *uc)
{
	char here;
	sigset_t s;

	if (usr2_seen)
		return;
	usr2_on_altstack = &here >= main_alt && &here < main_alt + MAIN_ALT_SIZE;
	sigprocmask(SIG_SETMASK, NULL, &s);
	usr2_mask = set_to_bits(&s);
	usr2_seen = 1;
}

struct want_act {
	int sig;
	void *handler;
	unsigned long flags;		/* without glibc's SA_RESTORER */
	uint64_t mask;
};

static struct want_act wants[16];
static int nwants;

static void add_want(int sig, void *handler, unsigned long flags, uint64_t mask)
{
	wants[nwants++] = (struct want_act){ sig, handler, flags, mask };
}

static void build_table(void)
{
	add_want(SIGHUP, (void *)h_info, SA_SIGINFO | SA_ONSTACK | SA_NODEFER,
		 sigbit(SIGTERM) | sigbit(rt(5)));
	add_want(SIGUSR1, (void *)h_plain, SA_RESTART, sigbit(SIGINT) | sigbit(SIGQUIT));
	add_want(SIGUSR2, (void *)h_usr2, SA_SIGINFO | SA_ONSTACK | SA_RESTART, sigbit(rt(7)));
	add_want(SIGALRM, (void *)h_plain, SA_RESETHAND | SA_RESTART, sigbit(SIGUSR1));
	add_want(SIGCHLD, (void *)h_plain, SA_NOCLDSTOP | SA_NOCLDWAIT, 0);
	add_want(SIGPIPE, (void *)SIG_IGN, 0, 0);
	add_want(SIGWINCH, (void *)h_plain, SA_NODEFER | SA_RESETHAND, sigbit(SIGRTMAX));
	add_want(rt(3), (void *)h_info, SA_SIGINFO | SA_ONSTACK | SA_RESTART,
		 sigbit(SIGRTMAX - 1) | sigbit(SIGHUP));
}

static void install_table(void)
{
	for (int i = 0; i < nwants; i++) {
		struct sigaction sa;
		char n[24];

		memset(&sa, 0, sizeof(sa));
		if (wants[i].flags & SA_SIGINFO)
			sa.sa_sigaction = (void (*)(int, siginfo_t *, void *))wants[i].handler;
		else
			sa.sa_handler = (void (*)(int))wants[i].handler;
		sa.sa_flags = (int)wants[i].flags;
		bits_to_set(wants[i].mask, &sa.sa_mask);
		if (sigaction(wants[i].sig, &sa, NULL) < 0)
			tp_die("sigaction %s", signame(wants[i].sig, n, sizeof(n)));
	}
}

static void record_dispositions(void)
{
	for (int sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && read_ksigaction(sig, &recorded[sig]) < 0)
			tp_die("rt_sigaction %d", sig);
}

static unsigned check_dispositions(void)
{
	unsigned n = 0;
	char what[64], nm[24];

	for (int sig = 1; sig <= 64; sig++) {
		struct ksigaction k, *r = &recorded[sig];

		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		signame(sig, nm, sizeof(nm));
		if (read_ksigaction(sig, &k) < 0) {
			tp_differs(nm, "rt_sigaction failed: %s", strerror(errno));
			continue;
		}
		snprintf(what, sizeof(what), "sigaction %s handler", nm);
		tp_check_u64(what, (uintptr_t)k.handler, (uintptr_t)r->handler);
		snprintf(what, sizeof(what), "sigaction %s flags", nm);
		tp_check_u64(what, k.flags, r->flags);
		snprintf(what, sizeof(what), "sigaction %s restorer", nm);
		tp_check_u64(what, (uintptr_t)k.restorer, (uintptr_t)r->restorer);
		snprintf(what, sizeof(what), "sigaction %s mask", nm);
		check_mask(what, k.mask, r->mask);
		n += 4;
	}
	/* and against what set-up asked for, not only what it read back */
	for (int i = 0; i < nwants; i++) {
		struct ksigaction k;
		struct want_act *w = &wants[i];

		signame(w->sig, nm, sizeof(nm));
		read_ksigaction(w->sig, &k);
		snprintf(what, sizeof(what), "sigaction %s handler (as installed)", nm);
		tp_check_u64(what, (uintptr_t)k.handler, (uintptr_t)w->handler);
		snprintf(what, sizeof(what), "sigaction %s flags (as installed)", nm);
		tp_check_u64(what, k.flags & ~(unsigned long)SA_RESTORER, w->flags);
		snprintf(what, sizeof(what), "sigaction %s mask (as installed)", nm);
		check_mask(what, k.mask, w->mask);
		n += 3;
	}
	return n;
}

/* ---- the second thread -------------------------------------------------- */

static int thr_pipe[2];
static pid_t main_pid, thr_tid;
static int thr_ready;			/* atomic */
static uint64_t thr_want_mask;
static pthread_t thr;

static void check_altstack(const char *who, void *sp, size_t size, int flags)
{
	stack_t ss;
	char what[64];

	if (sigaltstack(NULL, &ss) < 0) {
		tp_differs(who, "sigaltstack failed: %s", strerror(errno));
		return;
	}
	snprintf(what, sizeof(what), "%s sigaltstack sp", who);
	tp_check_u64(what, (uintptr_t)ss.ss_sp, (uintptr_t)sp);
	snprintf(what, sizeof(what), "%s sigaltstack size", who);
	tp_check_u64(what, ss.ss_size, size);
	snprintf(what, sizeof(what), "%s sigaltstack flags", who);
	tp_check_u64(what, (unsigned)ss.ss_flags, (unsigned)flags);
}

static void check_name(const char *who, const char *want)
{
	char name[17] = "", what[64];

	prctl(PR_GET_NAME, name);
	snprintf(what, sizeof(what), "%s name (PR_GET_NAME)", who);
	tp_check_str(what, name, want);
}

struct expect_sig {
	int sig, code, value;		/* value < 0: no si_value to check */
	int seen;
};

/*
 * Take every signal in SET that is pending for the calling thread, without
 * waiting, and match it against EXP: same signal, si_code, si_value, si_pid;
 * several instances of one signal in the order given.
 */
static void drain_and_match(const char *who, struct expect_sig *exp, int nexp)
{
	sigset_t set;
	siginfo_t si;
	struct timespec zero = { 0, 0 };
	char what[96], nm[24];

	sigemptyset(&set);
	for (int i = 0; i < nexp; i++)
		sigaddset(&set, exp[i].sig);
	for (int rounds = 0; rounds < 16; rounds++) {
		int sig = sigtimedwait(&set, &si, &zero);
		if (sig < 0) {
			if (errno == EINTR)
				continue;
			break;		/* EAGAIN: nothing left */
		}
		signame(sig, nm, sizeof(nm));
		struct expect_sig *e = NULL;
		for (int i = 0; i < nexp; i++)
			if (exp[i].sig == sig && !exp[i].seen) {
				e = &exp[i];
				break;
			}
		snprintf(what, sizeof(what), "%s queued %s", who, nm);
		if (!e) {
			tp_differs(what, "got one more (si_code %d, value %d) want none",
				   si.si_code, si.si_value.sival_int);
			continue;
		}
		e->seen = 1;
		if (si.si_code != e->code || (e->value >= 0 && si.si_value.sival_int != e->value) ||
		    si.si_pid != main_pid || si.si_uid != getuid())
			tp_differs(what, "got si_code %d value %d pid %d uid %d want si_code %d value %d pid %d uid %d",
				   si.si_code, si.si_value.sival_int, (int)si.si_pid, (int)si.si_uid,
				   e->code, e->value < 0 ? si.si_value.sival_int : e->value,
				   (int)main_pid, (int)getuid());
	}
	for (int i = 0; i < nexp; i++)
		if (!exp[i].seen) {
			snprintf(what, sizeof(what), "%s queued %s", who, signame(exp[i].sig, nm, sizeof(nm)));
			tp_differs(what, "got nothing want si_code %d value %d", exp[i].code, exp[i].value);
		}
}

/*
 * The si_code the running kernel gives a tgkill(): SI_TKILL on older
 * kernels, SI_USER on 6.18 (measured).  Asked once at set-up, so the check
 * is against this kernel's own answer.
 */
static int tgkill_code;

static void probe_tgkill_code(void)
{
	sigset_t s, old;
	siginfo_t si;

	sigemptyset(&s);
	sigaddset(&s, SIGPROF);
	pthread_sigmask(SIG_BLOCK, &s, &old);
	if (syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), SIGPROF) < 0 ||
	    sigwaitinfo(&s, &si) != SIGPROF)
		tp_die("tgkill probe");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	tgkill_code = si.si_code;
}

static void *thread_main(void *arg)
{
	stack_t ss;
	sigset_t m;
	char c;
	int altflags = SS_AUTODISARM;

	bits_to_set(thr_want_mask, &m);
	pthread_sigmask(SIG_SETMASK, &m, NULL);
	prctl(PR_SET_NAME, THR_NAME);
	ss.ss_sp = thr_alt;
	ss.ss_size = THR_ALT_SIZE;
	ss.ss_flags = altflags;
	if (sigaltstack(&ss, NULL) < 0)
		tp_die("thread sigaltstack");
	thr_tid = (pid_t)syscall(SYS_gettid);

	if (tp_corrupting("threadmask")) {
		sigemptyset(&m);
		sigaddset(&m, rt(6));
		pthread_sigmask(SIG_UNBLOCK, &m, NULL);
	}
	if (tp_corrupting("threadname"))
		prctl(PR_SET_NAME, "cs-sig-other");
	__atomic_store_n(&thr_ready, 1, __ATOMIC_SEQ_CST);

	/* wait for main's go, in read() */
	for (;;) {
		ssize_t n = read(thr_pipe[0], &c, 1);
		if (n == 1)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		tp_die("thread: read on the pipe returned %zd", n);
	}

	tp_check_u64("thread gettid()", (uint64_t)syscall(SYS_gettid), thr_tid);
	check_mask("thread signal mask", cur_mask(), thr_want_mask);
	check_altstack("thread", thr_alt, THR_ALT_SIZE, altflags);
	check_name("thread", THR_NAME);

	sigset_t p;
	sigpending(&p);
	/* private to this thread + the process-wide ones */
	check_mask("thread pending set", set_to_bits(&p),
		   sigbit(SIGHUP) | sigbit(rt(1)) | sigbit(SIGUSR1) | sigbit(rt(2)));

	struct expect_sig exp[] = {
		{ SIGUSR1, tgkill_code, -1, 0 },
		{ rt(2), SI_QUEUE, 5678, 0 },
	};
	drain_and_match("thread", exp, 2);
	return NULL;
}

static int rt_tgsigqueueinfo(pid_t tid, int sig, int value)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	si.si_signo = sig;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_int = value;
	return (int)syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, sig, &si);
}

int main(int argc, char **argv)
{
	static const char *const modes[] = {
		"sigaction", "ign", "mask", "altstack", "pending", "name", "umask", "cwd",
		"threadmask", "threadname", NULL,
	};
	char dir[PATH_MAX], cwd_path[PATH_MAX + 16], want_cwd[PATH_MAX], got_cwd[PATH_MAX];
	uint64_t main_want_mask, suspend_mask = 0;
	int use_sigsuspend = 0;
	unsigned nchecked = 0;
	sigset_t m;
	stack_t ss;

	tp_init("sigstate", argc, argv);
	tp_corrupt_check_mode(modes);
	if (argc > 2) {
		if (!strcmp(argv[2], "sigsuspend"))
			use_sigsuspend = 1;
		else if (strcmp(argv[2], "nanosleep")) {
			errno = EINVAL;
			tp_die("unknown wait mode \"%s\" (nanosleep or sigsuspend)", argv[2]);
		}
	}
	main_pid = getpid();
	probe_tgkill_code();

	/* cwd and umask */
	tp_dirname(argv[1], dir, sizeof(dir));
	snprintf(cwd_path, sizeof(cwd_path), "%s/cwd dir", dir);
	if (mkdir(cwd_path, 0755) < 0 && errno != EEXIST)
		tp_die("mkdir %s", cwd_path);
	if (chdir(cwd_path) < 0)
		tp_die("chdir %s", cwd_path);
	if (!getcwd(want_cwd, sizeof(want_cwd)))
		tp_die("getcwd");
	umask(UMASK);
	prctl(PR_SET_NAME, MAIN_NAME);

	/* alternate stacks, with a pattern in them */
	main_alt = mmap(NULL, MAIN_ALT_SIZE + THR_ALT_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (main_alt == MAP_FAILED)
		tp_die("mmap");
	thr_alt = main_alt + MAIN_ALT_SIZE;
	for (int i = 0; i < MAIN_ALT_SIZE + THR_ALT_SIZE; i++)
		main_alt[i] = (char)(i * 7 + 3);
	ss.ss_sp = main_alt;
	ss.ss_size = MAIN_ALT_SIZE;
	ss.ss_flags = 0;
	if (sigaltstack(&ss, NULL) < 0)
		tp_die("sigaltstack");

	build_table();
	install_table();

	/* masks: every signal queued below is blocked wherever it could land */
	main_want_mask = sigbit(SIGHUP) | sigbit(SIGUSR1) | sigbit(rt(1)) | sigbit(rt(4)) |
			 sigbit(SIGRTMAX);
	if (use_sigsuspend) {
		main_want_mask |= sigbit(SIGUSR2);
		suspend_mask = (main_want_mask & ~sigbit(SIGUSR2)) | sigbit(SIGWINCH);
	}
	/* SIGTRAP blocked: a breakpoint trap in this thread (cs-dump's batch of
	 * remote syscalls ends on one) would unblock it (force_sig) */
	thr_want_mask = sigbit(SIGHUP) | sigbit(SIGUSR1) | sigbit(SIGUSR2) | sigbit(SIGQUIT) |
			sigbit(rt(1)) | sigbit(rt(2)) | sigbit(rt(6)) | sigbit(SIGTRAP);
	bits_to_set(main_want_mask, &m);
	if (sigprocmask(SIG_SETMASK, &m, NULL) < 0)
		tp_die("sigprocmask");

	if (pipe(thr_pipe) < 0)
		tp_die("pipe");
	if ((errno = pthread_create(&thr, NULL, thread_main, NULL)))
		tp_die("pthread_create");
	while (!__atomic_load_n(&thr_ready, __ATOMIC_SEQ_CST))
		usleep(1000);

	/* queue while blocked */
	if (kill(getpid(), SIGHUP) < 0)
		tp_die("kill SIGHUP");
	union sigval v = { .sival_int = 1234 };
	if (sigqueue(getpid(), rt(1), v) < 0)
		tp_die("sigqueue");
	v.sival_int = 1235;
	if (sigqueue(getpid(), rt(1), v) < 0)
		tp_die("sigqueue");
	if (syscall(SYS_tgkill, getpid(), thr_tid, SIGUSR1) < 0)
		tp_die("tgkill");
	if (rt_tgsigqueueinfo(thr_tid, rt(2), 5678) < 0)
		tp_die("rt_tgsigqueueinfo to the thread");
	if (rt_tgsigqueueinfo(getpid(), rt(4), 4321) < 0)
		tp_die("rt_tgsigqueueinfo to main");

	record_dispositions();
	sigset_t p;
	sigpending(&p);
	if (set_to_bits(&p) != (sigbit(SIGHUP) | sigbit(rt(1)) | sigbit(rt(4))) ||
	    cur_mask() != main_want_mask) {
		errno = EINVAL;
		tp_die("pending set or mask not as queued at set-up");
	}

	/* negative controls: break one thing after recording it */
	if (tp_corrupting("sigaction")) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = h_info;
		sa.sa_flags = SA_SIGINFO | SA_ONSTACK;	/* SA_NODEFER lost */
		bits_to_set(sigbit(SIGTERM) | sigbit(rt(5)), &sa.sa_mask);
		sigaction(SIGHUP, &sa, NULL);
	}
	if (tp_corrupting("ign"))
		signal(SIGPIPE, SIG_DFL);
	if (tp_corrupting("mask")) {
		sigemptyset(&m);
		sigaddset(&m, SIGRTMAX);
		sigprocmask(SIG_UNBLOCK, &m, NULL);
	}
	if (tp_corrupting("altstack")) {
		ss.ss_sp = main_alt;
		ss.ss_size = MAIN_ALT_SIZE - 4096;
		ss.ss_flags = 0;
		sigaltstack(&ss, NULL);
	}
	if (tp_corrupting("pending")) {
		sigset_t one;
		struct timespec zero = { 0, 0 };
		sigemptyset(&one);
		sigaddset(&one, rt(1));
		sigtimedwait(&one, NULL, &zero);	/* 1234 is gone */
	}
	if (tp_corrupting("name"))
		prctl(PR_SET_NAME, "cs-sig-other");
	if (tp_corrupting("umask"))
		umask(022);
	if (tp_corrupting("cwd") && chdir("..") < 0)
		tp_die("chdir ..");

	tp_write_ready(argv[1]);
	if (use_sigsuspend) {
		bits_to_set(suspend_mask, &m);
		while (!usr2_seen)
			sigsuspend(&m);
	} else {
		while (!usr2_seen) {
			struct timespec ts = { 0, 50 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}

	/* main's own state */
	nchecked += check_dispositions();
	check_mask("main signal mask", cur_mask(), main_want_mask);
	check_mask("signal mask inside the SIGUSR2 handler", usr2_mask,
		   (use_sigsuspend ? suspend_mask : main_want_mask) | sigbit(SIGUSR2) | sigbit(rt(7)));
	if (!usr2_on_altstack)
		tp_differs("SIGUSR2 handler stack", "got the normal stack want the alternate stack");
	check_altstack("main", main_alt, MAIN_ALT_SIZE, 0);
	check_name("main", MAIN_NAME);
	mode_t um = umask(0);
	umask(um);
	if (um != UMASK)
		tp_differs("umask", "got 0%03o want 0%03o", (unsigned)um, (unsigned)UMASK);
	if (!getcwd(got_cwd, sizeof(got_cwd)))
		snprintf(got_cwd, sizeof(got_cwd), "(getcwd failed: %s)", strerror(errno));
	tp_check_str("cwd", got_cwd, want_cwd);
	tp_check_u64("getpid()", getpid(), main_pid);
	sigpending(&p);
	check_mask("main pending set", set_to_bits(&p), sigbit(SIGHUP) | sigbit(rt(1)) | sigbit(rt(4)));
	nchecked += 11;

	/* the thread checks its own, while the shared signals are still queued */
	if (write(thr_pipe[1], "v", 1) != 1)
		tp_die("write to the thread");
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	int e = pthread_timedjoin_np(thr, NULL, &deadline);
	if (e)
		tp_differs("thread join", "got %s want 0", strerror(e));
	nchecked += 10;

	struct expect_sig exp[] = {
		{ SIGHUP, SI_USER, -1, 0 },
		{ rt(1), SI_QUEUE, 1234, 0 },
		{ rt(1), SI_QUEUE, 1235, 0 },
		{ rt(4), SI_QUEUE, 4321, 0 },
	};
	drain_and_match("main", exp, 4);
	sigpending(&p);
	check_mask("pending set after draining", set_to_bits(&p), 0);
	nchecked += 5;
	tp_finish(nchecked);
}
