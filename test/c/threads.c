/*
 * threads.c - do threads come back with their identity and their state?
 *
 *   threads READY_FILE [NTHREADS]     (default 4, at most 64)
 *
 * Thread i takes role i % 4 and blocks where real programs block:
 *   0  futex(FUTEX_WAIT) on a word, raw syscall
 *   1  nanosleep(1 h) in a loop (a restore turns it into EINTR)
 *   2  read() on a pipe
 *   3  pthread_cond_wait()
 * while main waits in sigwaitinfo() for SIGUSR2.  At set-up each thread
 * records its TID, fills a 32 KiB array on its stack and a thread-local
 * buffer with a pattern of its own, and records its FS base, robust-futex
 * list, signal mask and whether glibc's rseq area is registered.
 *
 * After SIGUSR2, main checks the PID, its own TID, stack and TLS, and that
 * /proc/self/task lists exactly the recorded TIDs; then it wakes every thread
 * the way it sleeps.  Each thread checks, from inside itself, gettid(), its
 * stack array element by element, its TLS, FS base, robust list, mask and
 * rseq.  Main joins them all with a deadline: pthread_join waits for the
 * kernel to clear the TID word named by set_tid_address (clear_child_tid),
 * so a restore that forgets it would hang a plain join.
 *
 * CS_TEST_CORRUPT: tid stack tls robust rseq mask ctid (thread 0 or the
 * TID table breaks one thing after set-up).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <time.h>
#include <asm/prctl.h>

#include "tprog.h"

#define MAXT		64
#define STACK_WORDS	4096		/* 32 KiB per thread */
#define TLS_BYTES	512
#define JOIN_SECONDS	5

enum { ROLE_FUTEX, ROLE_SLEEP, ROLE_PIPE, ROLE_COND, NROLES };
static const char *const role_names[NROLES] = { "futex", "nanosleep", "pipe read", "cond wait" };

struct tslot {
	pthread_t pt;
	int idx, role;
	pid_t tid;			/* gettid() at set-up */
	uint64_t stack_sum;		/* checksum of the stack array at set-up */
	uint64_t fsbase;
	void *robust_head;
	size_t robust_len;
	sigset_t mask;
	size_t rseq_len;		/* 0: rseq not checked */
	int done;			/* verification finished (atomic) */
	int ndiff_own;
};

static struct tslot slots[MAXT];
static int nthreads = 4;
static pid_t main_pid;
static int nready;			/* threads about to block (atomic) */

static uint32_t wake_futex;		/* role 0: 0 = sleep, 1 = go */
static int wake_pipe[2];		/* role 2 */
static pthread_mutex_t cond_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int cond_go;			/* role 3, under cond_mutex */
static volatile int sleep_stop;		/* role 1 */

static __thread uint64_t tls_val;
static __thread uint8_t tls_buf[TLS_BYTES];

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t stack_word(int idx, int k)
{
	return splitmix((uint64_t)(idx + 1) << 32 | (uint64_t)k);
}

static uint8_t tls_byte(int idx, int k)
{
	return (uint8_t)(splitmix(0x715000ull + (uint64_t)idx * TLS_BYTES + k) >> 17);
}

/* noinline, through a pointer: the array must live in stack memory */
static __attribute__((noinline)) uint64_t fill_stack(uint64_t *a, int idx)
{
	uint64_t sum = 0;

	for (int k = 0; k < STACK_WORDS; k++) {
		a[k] = stack_word(idx, k);
		sum = sum * 31 + a[k];
	}
	return sum;
}

static __attribute__((noinline)) void check_stack(const char *who, const uint64_t *a, int idx,
						  uint64_t want_sum)
{
	char what[96];
	uint64_t sum = 0;
	int bad = 0;

	for (int k = 0; k < STACK_WORDS; k++) {
		sum = sum * 31 + a[k];
		if (a[k] != stack_word(idx, k) && bad++ < 4) {
			snprintf(what, sizeof(what), "%s stack word %d", who, k);
			tp_check_u64(what, a[k], stack_word(idx, k));
		}
	}
	snprintf(what, sizeof(what), "%s stack checksum", who);
	tp_check_u64(what, sum, want_sum);
}

/*
 * The TLS buffer's address, hidden from the optimiser: GCC 12 -O2 folds
 * a huge constant from the pattern loop into the %fs-relative offset and the
 * link fails (R_X86_64_TPOFF32 truncated).
 */
static uint8_t *tls_buf_ptr(void)
{
	uint8_t *p = tls_buf;

	asm("" : "+r"(p));
	return p;
}

static void fill_tls(int idx)
{
	uint8_t *b = tls_buf_ptr();

	tls_val = splitmix(0x7150000ull + idx);
	for (int k = 0; k < TLS_BYTES; k++)
		b[k] = tls_byte(idx, k);
}

static void check_tls(const char *who, int idx)
{
	char what[96];

	const uint8_t *b = tls_buf_ptr();

	snprintf(what, sizeof(what), "%s TLS word", who);
	tp_check_u64(what, tls_val, splitmix(0x7150000ull + idx));
	for (int k = 0; k < TLS_BYTES; k++)
		if (b[k] != tls_byte(idx, k)) {
			snprintf(what, sizeof(what), "%s TLS byte %d", who, k);
			tp_check_u64(what, b[k], tls_byte(idx, k));
			break;
		}
}

static pid_t sys_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static uint64_t get_fsbase(void)
{
	unsigned long fs = 0;

	syscall(SYS_arch_prctl, ARCH_GET_FS, &fs);
	return fs;
}

/*
 * Is glibc's rseq area registered for this thread?  Registering the same
 * area, length and signature again gives EBUSY when it is; when it is not
 * the call registers it (harmless: we are about to exit).
 */
static int rseq_probe(size_t len)
{
	void *area = (char *)__builtin_thread_pointer() + __rseq_offset;

	if (syscall(SYS_rseq, area, (uint32_t)len, 0, RSEQ_SIG) == 0)
		return 0;		/* was not registered: is now */
	return -errno;
}

static void record_rseq(struct tslot *s)
{
	s->rseq_len = 0;
	if (__rseq_size == 0)
		return;		/* glibc.pthread.rseq=0: nothing to check */
	/* glibc 2.35/2.36 register 32 bytes and say so in __rseq_size;
	 * later ones may export a smaller feature size */
	if (rseq_probe(__rseq_size) == -EBUSY)
		s->rseq_len = __rseq_size;
	else if (rseq_probe(32) == -EBUSY)
		s->rseq_len = 32;
}

static void record_thread_state(struct tslot *s)
{
	s->tid = sys_gettid();
	s->fsbase = get_fsbase();
	if (syscall(SYS_get_robust_list, 0, &s->robust_head, &s->robust_len) < 0)
		tp_die("get_robust_list");
	pthread_sigmask(SIG_SETMASK, NULL, &s->mask);
	record_rseq(s);
}

static void check_thread_state(const char *who, struct tslot *s)
{
	char what[96];
	void *head;
	size_t len;
	sigset_t mask;

	snprintf(what, sizeof(what), "%s gettid()", who);
	tp_check_u64(what, sys_gettid(), s->tid);
	snprintf(what, sizeof(what), "%s getpid()", who);
	tp_check_u64(what, getpid(), main_pid);
	snprintf(what, sizeof(what), "%s FS base", who);
	tp_check_u64(what, get_fsbase(), s->fsbase);
	snprintf(what, sizeof(what), "%s FS base vs pthread_self()", who);
	tp_check_u64(what, get_fsbase(), (uintptr_t)pthread_self());

	head = NULL;
	len = 0;
	syscall(SYS_get_robust_list, 0, &head, &len);
	snprintf(what, sizeof(what), "%s robust list head", who);
	tp_check_u64(what, (uintptr_t)head, (uintptr_t)s->robust_head);
	snprintf(what, sizeof(what), "%s robust list length", who);
	tp_check_u64(what, len, s->robust_len);

	pthread_sigmask(SIG_SETMASK, NULL, &mask);
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&mask, sig) != sigismember(&s->mask, sig)) {
			snprintf(what, sizeof(what), "%s signal mask (signal %d)", who, sig);
			tp_check_u64(what, sigismember(&mask, sig), sigismember(&s->mask, sig));
		}

	if (s->rseq_len) {
		int r = rseq_probe(s->rseq_len);
		snprintf(what, sizeof(what), "%s rseq registration", who);
		if (r != -EBUSY)
			tp_differs(what, "got %s want registered (area %p, %zu bytes)",
				   r == 0 ? "not registered" : strerror(-r),
				   (void *)((char *)__builtin_thread_pointer() + __rseq_offset),
				   s->rseq_len);
	}
}

static void corrupt_thread(struct tslot *s, uint64_t *stack_arr)
{
	static struct robust_list_head dummy = { .list = { &dummy.list } };
	sigset_t m;

	if (s->idx != 0)
		return;
	if (tp_corrupting("stack"))
		stack_arr[STACK_WORDS / 2] ^= 0x40;
	if (tp_corrupting("tls"))
		tls_buf[100] ^= 0x01;
	if (tp_corrupting("robust"))
		syscall(SYS_set_robust_list, &dummy, sizeof(dummy));
	if (tp_corrupting("rseq") && s->rseq_len)
		syscall(SYS_rseq, (char *)__builtin_thread_pointer() + __rseq_offset,
			(uint32_t)s->rseq_len, RSEQ_FLAG_UNREGISTER, RSEQ_SIG);
	if (tp_corrupting("mask")) {
		sigemptyset(&m);
		sigaddset(&m, SIGWINCH);
		pthread_sigmask(SIG_BLOCK, &m, NULL);
	}
	if (tp_corrupting("ctid"))
		syscall(SYS_set_tid_address, NULL);	/* join can no longer finish */
}

static void on_usr1(int sig)
{
	/* only interrupts nanosleep */
}

static void *thread_main(void *arg)
{
	struct tslot *s = arg;
	uint64_t stack_arr[STACK_WORDS];
	char who[32];
	sigset_t m;

	snprintf(who, sizeof(who), "thread %d (%s)", s->idx, role_names[s->role]);
	/* Only the sleeper takes SIGUSR1; SIGUSR2 stays blocked everywhere. */
	if (s->role == ROLE_SLEEP) {
		sigemptyset(&m);
		sigaddset(&m, SIGUSR1);
		pthread_sigmask(SIG_UNBLOCK, &m, NULL);
	}
	s->stack_sum = fill_stack(stack_arr, s->idx);
	fill_tls(s->idx);
	record_thread_state(s);
	if (tp_corrupt_mode())
		corrupt_thread(s, stack_arr);
	__atomic_add_fetch(&nready, 1, __ATOMIC_SEQ_CST);

	switch (s->role) {
	case ROLE_FUTEX:
		while (__atomic_load_n(&wake_futex, __ATOMIC_SEQ_CST) == 0)
			if (syscall(SYS_futex, &wake_futex, FUTEX_WAIT, 0, NULL, NULL, 0) < 0 &&
			    errno != EINTR && errno != EAGAIN)
				tp_die("futex wait");
		break;
	case ROLE_SLEEP:
		while (!sleep_stop) {
			struct timespec ts = { 3600, 0 };
			if (nanosleep(&ts, NULL) < 0 && errno != EINTR)
				tp_die("nanosleep");
		}
		break;
	case ROLE_PIPE:
		for (;;) {
			char c;
			ssize_t n = read(wake_pipe[0], &c, 1);
			if (n == 1) {
				if (c != 'w')
					tp_differs("pipe byte", "got 0x%02x want 0x77", (unsigned char)c);
				break;
			}
			if (n < 0 && errno == EINTR)
				continue;
			tp_die("%s: read on the wake-up pipe returned %zd", who, n);
		}
		break;
	case ROLE_COND:
		pthread_mutex_lock(&cond_mutex);
		while (!cond_go)
			pthread_cond_wait(&cond, &cond_mutex);
		pthread_mutex_unlock(&cond_mutex);
		break;
	}

	unsigned before = __atomic_load_n(&tp_ndiff, __ATOMIC_SEQ_CST);
	check_thread_state(who, s);
	check_stack(who, stack_arr, s->idx, s->stack_sum);
	check_tls(who, s->idx);
	s->ndiff_own = (int)(__atomic_load_n(&tp_ndiff, __ATOMIC_SEQ_CST) - before);
	__atomic_store_n(&s->done, 1, __ATOMIC_SEQ_CST);
	return s;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

/* /proc/self/task must list exactly main and the recorded TIDs. */
static void check_task_list(void)
{
	pid_t want[MAXT + 1], got[MAXT + 8];
	int nwant = 0, ngot = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	char gots[600] = "", wants[600] = "";

	if (!d) {
		tp_differs("/proc/self/task", "cannot open it: %s", strerror(errno));
		return;
	}
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && ngot < MAXT + 8)
			got[ngot++] = atoi(de->d_name);
	closedir(d);
	want[nwant++] = main_pid;
	for (int i = 0; i < nthreads; i++)
		want[nwant++] = slots[i].tid;
	qsort(got, ngot, sizeof(pid_t), cmp_pid);
	qsort(want, nwant, sizeof(pid_t), cmp_pid);
	if (ngot == nwant && memcmp(got, want, ngot * sizeof(pid_t)) == 0)
		return;
	for (int i = 0, o = 0; i < ngot && o < (int)sizeof(gots) - 12; i++)
		o += snprintf(gots + o, sizeof(gots) - o, " %d", (int)got[i]);
	for (int i = 0, o = 0; i < nwant && o < (int)sizeof(wants) - 12; i++)
		o += snprintf(wants + o, sizeof(wants) - o, " %d", (int)want[i]);
	tp_differs("/proc/self/task", "got [%s ] want [%s ]", gots, wants);
}

static void wake_all(void)
{
	int npipe = 0;
	char buf[MAXT];

	__atomic_store_n(&wake_futex, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &wake_futex, FUTEX_WAKE, MAXT, NULL, NULL, 0);

	for (int i = 0; i < nthreads; i++)
		npipe += slots[i].role == ROLE_PIPE;
	memset(buf, 'w', sizeof(buf));
	if (npipe && write(wake_pipe[1], buf, npipe) != npipe)
		tp_differs("wake-up pipe write", "got %s want %d bytes written", strerror(errno), npipe);

	pthread_mutex_lock(&cond_mutex);
	cond_go = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&cond_mutex);

	/* A SIGUSR1 may land just before the sleeper's next nanosleep: resend
	 * until it has finished. */
	sleep_stop = 1;
	for (int tries = 0; tries < JOIN_SECONDS * 100; tries++) {
		int pending = 0;
		for (int i = 0; i < nthreads; i++)
			if (slots[i].role == ROLE_SLEEP && !__atomic_load_n(&slots[i].done, __ATOMIC_SEQ_CST)) {
				pthread_kill(slots[i].pt, SIGUSR1);
				pending = 1;
			}
		if (!pending)
			break;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

static void join_all(void)
{
	struct timespec deadline;
	char what[64];

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += JOIN_SECONDS;
	for (int i = 0; i < nthreads; i++) {
		void *ret = NULL;
		int e = pthread_timedjoin_np(slots[i].pt, &ret, &deadline);

		snprintf(what, sizeof(what), "thread %d (%s) join", i, role_names[slots[i].role]);
		if (e == ETIMEDOUT)
			tp_differs(what, "got timeout after %d s want exit (%s)", JOIN_SECONDS,
				   __atomic_load_n(&slots[i].done, __ATOMIC_SEQ_CST)
				   ? "the thread finished: its clear_child_tid word was never cleared"
				   : "the thread never woke up or never finished its checks");
		else if (e)
			tp_differs(what, "got %s want 0", strerror(e));
		else if (ret != &slots[i])
			tp_differs(what, "got return value %p want %p", ret, (void *)&slots[i]);
	}
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "tid", "stack", "tls", "robust", "rseq", "mask", "ctid", NULL };
	uint64_t stack_arr[STACK_WORDS], main_sum;
	struct tslot main_slot = { .idx = 1000 };
	struct sigaction sa;
	struct timespec t0, now;

	tp_init("threads", argc, argv);
	tp_corrupt_check_mode(modes);
	if (argc > 2)
		nthreads = atoi(argv[2]);
	if (nthreads < 1 || nthreads > MAXT) {
		errno = EINVAL;
		tp_die("thread count must be 1..%d", MAXT);
	}
	main_pid = getpid();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;	/* no SA_RESTART: nanosleep gets EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	sigaddset(&m, SIGUSR2);
	if (sigprocmask(SIG_BLOCK, &m, NULL) < 0)	/* inherited by threads */
		tp_die("sigprocmask");
	if (pipe(wake_pipe) < 0)
		tp_die("pipe");

	main_sum = fill_stack(stack_arr, main_slot.idx);
	fill_tls(main_slot.idx);
	record_thread_state(&main_slot);

	for (int i = 0; i < nthreads; i++) {
		slots[i].idx = i;
		slots[i].role = i % NROLES;
		int e = pthread_create(&slots[i].pt, NULL, thread_main, &slots[i]);
		if (e) {
			errno = e;
			tp_die("pthread_create %d", i);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (__atomic_load_n(&nready, __ATOMIC_SEQ_CST) < nthreads) {
		struct timespec ts = { 0, 1000 * 1000 };
		nanosleep(&ts, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > 10) {
			errno = ETIMEDOUT;
			tp_die("threads did not start");
		}
	}
	if (tp_corrupting("tid"))
		slots[nthreads - 1].tid += 100000;

	tp_write_ready(argv[1]);
	tp_wait_usr2();

	check_thread_state("main", &main_slot);
	check_stack("main", stack_arr, main_slot.idx, main_sum);
	check_tls("main", main_slot.idx);
	check_task_list();
	wake_all();
	join_all();
	/* per value: tid, pid, fs x2, robust x2, mask, rseq, stack words, TLS bytes */
	tp_finish((unsigned)(nthreads + 1) * (8 + STACK_WORDS + 1 + TLS_BYTES + 1) + 1);
}
