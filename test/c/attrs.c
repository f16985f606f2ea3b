/*
 * attrs.c - do seccomp, no_new_privs and the process attributes come back?
 *
 *   attrs READY_FILE [strict] [chroot] [notif]
 *
 * Main (nice 3, umask 027, personality ADDR_NO_RANDOMIZE, oom_score_adj 123,
 * cwd the directory of READY_FILE) installs seccomp filter F1:
 *   getppid -> EPERM, sigaltstack and prlimit64 -> kill the process
 * (cs-dump and cs-restore run both inside the target: without suspending
 * seccomp the dump would kill it), then starts three workers that inherit
 * F1 and block in read() on a pipe each:
 *   w1  SCHED_BATCH, nice 7, bound to the last CPU it may use, no_new_privs,
 *       and filter F2 of its own (SECCOMP_FILTER_FLAG_LOG): uname -> EXDEV
 *   w2  SCHED_FIFO priority 7 with SCHED_RESET_ON_FORK
 *   w3  SCHED_IDLE
 * strict: before F1, a thread enters seccomp strict mode and echoes bytes
 *         from one pipe to another with raw read/write.
 * chroot: main chroots to DIR/root (made here) and works in /sub; /proc is
 *         not there, so only what syscalls tell is checked.
 * notif:  F1 also returns SECCOMP_RET_USER_NOTIF for getpgid (for the
 *         refusal test: cs-dump must refuse it).
 *
 * After SIGUSR2 every thread checks, from inside itself, its policy,
 * priority, flags, nice, affinity, no_new_privs and what its filters do
 * (getppid, uname); main also checks each thread's Seccomp, Seccomp_filters
 * and NoNewPrivs in /proc/self/task/TID/status, umask, cwd, root,
 * personality, oom_score_adj and that the strict thread still echoes.
 *
 * prctl state of the process: child subreaper, not dumpable, securebits
 * NOROOT | NO_SETUID_FIXUP, memory-deny-write-execute, and mlockall(MCL_FUTURE
 * | MCL_ONFAULT) (checked by a new mapping: locked, not populated; not in
 * chroot mode).
 *
 * I/O priority and timer slack, per thread: main best-effort 2 and
 * 123456 ns, w1 best-effort 6 and 77777 ns, w3 idle class; the core dump
 * filter of the process 0x3f (not in chroot mode: it is read in /proc).
 *
 * CS_TEST_CORRUPT: nice policy rtprio affinity nnp filter umask cwd
 * personality oom root ioprio slack coredump subreaper dumpable securebits
 * mlockall (root: chroot mode only).
 */
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

#include "tprog.h"

#ifndef SECCOMP_RET_USER_NOTIF
#define SECCOMP_RET_USER_NOTIF 0x7fc00000U
#endif
#ifndef SECCOMP_FILTER_FLAG_LOG
#define SECCOMP_FILTER_FLAG_LOG (1UL << 1)
#endif
#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65		/* Linux 6.3 */
#define PR_GET_MDWE 66
#endif
#define SB_WANT 0x5		/* SECBIT_NOROOT | SECBIT_NO_SETUID_FIXUP */
#define IOPRIO_WHO_PROCESS 1	/* ioprio_set(2) */
#define IOPRIO_BE (2 << 13)
#define IOPRIO_IDLE (3 << 13)
#ifndef SCHED_FLAG_RESET_ON_FORK
#define SCHED_FLAG_RESET_ON_FORK 0x01
#endif

struct sattr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t prio;
	uint64_t runtime, deadline, period;
};

/* What a thread records at set-up and checks after SIGUSR2. */
struct tstate {
	const char *name;
	pid_t tid;
	struct sattr sa;
	int nice;
	cpu_set_t cpus;
	int nnp;
	long ioprio;		/* ioprio_get(2) of the thread itself */
	long slack;		/* PR_GET_TIMERSLACK, ns */
	int uname_errno;	/* 0: uname works */
	int seccomp, nfilters;	/* in /proc status */
	int pipe[2];		/* wake-up */
	pthread_t pt;
};

enum { T_MAIN, T_W1, T_W2, T_W3, NT };
static struct tstate ts[NT] = { { .name = "main" }, { .name = "w1" }, { .name = "w2" }, { .name = "w3" } };
static unsigned checked;
static int done_pipe[2], sin[2], sout[2];
static pid_t strict_tid;
static int opt_strict, opt_chroot, opt_notif;
static pthread_barrier_t bar;

#define LD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define ON(nr, ret) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, (ret))
#define ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static void filter_f1(void)
{
	struct sock_filter f[] = {
		LD_NR,
		ON(SYS_getppid, SECCOMP_RET_ERRNO | EPERM),
		ON(SYS_sigaltstack, SECCOMP_RET_KILL_PROCESS),
		ON(SYS_prlimit64, SECCOMP_RET_KILL_PROCESS),
		ON(SYS_getpgid, opt_notif ? SECCOMP_RET_USER_NOTIF : SECCOMP_RET_ALLOW),
		ALLOW,
	};
	struct sock_fprog p = { sizeof(f) / sizeof(f[0]), f };

	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &p)) {
		if (errno == EACCES || errno == EPERM)
			exit(TP_EXIT_SKIP);
		tp_die("cannot install seccomp filter F1");
	}
}

/* uname -> EXDEV; flags: SECCOMP_FILTER_FLAG_LOG or 0 */
static void filter_uname(unsigned flags)
{
	struct sock_filter f[] = { LD_NR, ON(SYS_uname, SECCOMP_RET_ERRNO | EXDEV), ALLOW };
	struct sock_fprog p = { sizeof(f) / sizeof(f[0]), f };

	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &p))
		tp_die("cannot install the uname filter");
}

static int uname_errno(void)
{
	struct utsname u;

	return uname(&u) ? errno : 0;
}

/* Record the calling thread's attributes into s. */
static void record(struct tstate *s)
{
	s->tid = gettid();
	memset(&s->sa, 0, sizeof(s->sa));
	if (syscall(SYS_sched_getattr, 0, &s->sa, sizeof(s->sa), 0))
		tp_die("%s: sched_getattr", s->name);
	errno = 0;
	s->nice = getpriority(PRIO_PROCESS, s->tid);
	if (errno)
		tp_die("%s: getpriority", s->name);
	if (sched_getaffinity(0, sizeof(s->cpus), &s->cpus))
		tp_die("%s: sched_getaffinity", s->name);
	s->nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
	s->ioprio = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0);
	s->slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
	s->uname_errno = uname_errno();
}

/* Check, from inside the calling thread, what record() saw. */
static void verify(struct tstate *s)
{
	struct tstate now = { .name = s->name };
	char what[64];

	record(&now);
#define CHK(field, label)                                                        \
	do {                                                                     \
		snprintf(what, sizeof(what), "%s: %s", s->name, label);         \
		tp_check_u64(what, (uint64_t)(now.field), (uint64_t)(s->field)); \
		__atomic_add_fetch(&checked, 1, __ATOMIC_SEQ_CST);               \
	} while (0)
	CHK(tid, "tid");
	CHK(sa.policy, "scheduling policy");
	CHK(sa.prio, "real-time priority");
	CHK(sa.flags, "scheduling flags");
	CHK(nice, "nice value");
	CHK(nnp, "no_new_privs");
	CHK(ioprio, "I/O priority");
	CHK(slack, "timer slack");
	CHK(uname_errno, "uname errno (seccomp filter)");
	snprintf(what, sizeof(what), "%s: CPU affinity", s->name);
	tp_check_u64(what, CPU_EQUAL(&now.cpus, &s->cpus), 1);
	errno = 0;
	snprintf(what, sizeof(what), "%s: getppid errno (seccomp filter)", s->name);
	tp_check_u64(what, syscall(SYS_getppid) == -1 ? errno : 0, EPERM);
	checked += 2;
#undef CHK
}

static void set_sched(struct tstate *s, uint32_t policy, uint32_t prio, uint64_t flags, int nice)
{
	struct sattr a = { .size = sizeof(a), .policy = policy, .flags = flags, .nice = nice, .prio = prio };

	if (setpriority(PRIO_PROCESS, gettid(), nice))
		tp_die("%s: setpriority %d", s->name, nice);
	if (syscall(SYS_sched_setattr, 0, &a, 0)) {
		if (errno == EPERM)
			exit(TP_EXIT_SKIP);
		tp_die("%s: sched_setattr policy %u", s->name, policy);
	}
}

/* the calling thread's I/O priority (class << 13 | level) and timer slack */
static void set_io_slack(const char *name, long ioprio, long slack)
{
	if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, ioprio))
		tp_die("%s: ioprio_set %#lx", name, ioprio);
	if (slack && prctl(PR_SET_TIMERSLACK, slack, 0, 0, 0))
		tp_die("%s: PR_SET_TIMERSLACK %ld", name, slack);
}

static void *worker(void *arg)
{
	struct tstate *s = arg;
	char c;

	if (s == &ts[T_W1]) {
		cpu_set_t one;
		int last = -1;

		for (int i = 0; i < CPU_SETSIZE; i++)
			if (CPU_ISSET(i, &ts[T_MAIN].cpus))
				last = i;
		CPU_ZERO(&one);
		CPU_SET(last, &one);
		if (sched_setaffinity(0, sizeof(one), &one))
			tp_die("w1: sched_setaffinity");
		set_sched(s, SCHED_BATCH, 0, 0, 7);
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
			tp_die("w1: PR_SET_NO_NEW_PRIVS");
		filter_uname(SECCOMP_FILTER_FLAG_LOG);
		set_io_slack(s->name, IOPRIO_BE | 6, 77777);
	} else if (s == &ts[T_W2]) {
		set_sched(s, SCHED_FIFO, 7, SCHED_FLAG_RESET_ON_FORK, 0);
	} else {
		set_sched(s, SCHED_IDLE, 0, 0, 0);
		set_io_slack(s->name, IOPRIO_IDLE, 0);
	}
	record(s);
	pthread_barrier_wait(&bar);
	/* the wake-up from main after SIGUSR2 */
	while (read(s->pipe[0], &c, 1) != 1)
		;
	verify(s);
	if (write(done_pipe[1], "x", 1) != 1)
		tp_die("%s: write", s->name);
	return NULL;
}

/* Strict mode: only read, write, _exit and sigreturn from here on. */
static void *strict_thread(void *arg)
{
	unsigned char c;

	(void)arg;
	strict_tid = gettid();
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0))
		tp_die("PR_SET_SECCOMP strict");
	for (;;) {
		if (syscall(SYS_read, sin[0], &c, 1) != 1)
			continue;
		c++;
		syscall(SYS_write, sout[1], &c, 1);
	}
	return NULL;
}

static void proc_status(pid_t tid, const char *key, int *out)
{
	char path[64], line[256];
	FILE *f;

	*out = -1;
	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':')
			*out = atoi(line + strlen(key) + 1);
	fclose(f);
}

static void check_status(const char *name, pid_t tid, int seccomp, int nfilters, int nnp)
{
	char what[96];
	int v;

	proc_status(tid, "Seccomp", &v);
	snprintf(what, sizeof(what), "%s: Seccomp in its status", name);
	tp_check_u64(what, v, seccomp);
	proc_status(tid, "Seccomp_filters", &v);
	snprintf(what, sizeof(what), "%s: Seccomp_filters in its status", name);
	tp_check_u64(what, v, nfilters);
	proc_status(tid, "NoNewPrivs", &v);
	snprintf(what, sizeof(what), "%s: NoNewPrivs in its status", name);
	tp_check_u64(what, v, nnp);
	checked += 3;
}

static int read_oom(void)
{
	char buf[32] = "";
	int fd = open("/proc/self/oom_score_adj", O_RDWR | O_CLOEXEC);

	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0)
		tp_die("cannot read oom_score_adj");
	close(fd);
	return atoi(buf);
}

/* /proc/self/NAME, its first line (static buffer) */
static const char *read_proc_self(const char *name)
{
	static char buf[64];
	char path[64];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
		tp_die("cannot read %s", path);
	close(fd);
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return buf;
}

static void write_proc_self(const char *name, const char *text)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/self/%s", name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		tp_die("cannot write %s to %s", text, path);
	close(fd);
}

/* VmLck of /proc/self/status, kB */
static long vmlck_kb(void)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		tp_die("cannot open /proc/self/status");
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmLck:", 6))
			v = atol(line + 6);
	fclose(f);
	return v;
}

static void write_oom(int v)
{
	char buf[32];
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC), n = snprintf(buf, sizeof(buf), "%d", v);

	if (fd < 0 || write(fd, buf, n) != n)
		tp_die("cannot write oom_score_adj");
	close(fd);
}

/* tp_write_ready through a directory fd: after a chroot the path is gone. */
static void write_ready_at(int dfd, const char *name)
{
	char tmp[300], buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid()), fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, buf, n) != n || close(fd) || renameat(dfd, tmp, dfd, name))
		tp_die("cannot write the ready file");
}

static int stat_eq(const char *what, const char *path, const struct stat *want)
{
	struct stat st;

	checked++;
	if (stat(path, &st)) {
		tp_differs(what, "cannot stat %s: %s", path, strerror(errno));
		return -1;
	}
	if (st.st_dev == want->st_dev && st.st_ino == want->st_ino)
		return 0;
	tp_differs(what, "%s is inode %lu, want %lu", path, (unsigned long)st.st_ino, (unsigned long)want->st_ino);
	return -1;
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "nice", "policy", "rtprio", "affinity", "nnp", "filter", "umask",
					     "cwd", "personality", "oom", "root", "ioprio", "slack", "coredump", "subreaper", "dumpable",
					     "securebits", "mlockall", NULL };
	char dir[4096], path[4200], cwd_want[4200], cwd_now[4200];
	struct stat root_st, cwd_st;
	int oom, pers, dfd = -1, mdwe;
	mode_t um;

	tp_init("attrs", argc, argv);
	tp_corrupt_check_mode(modes);
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "strict"))
			opt_strict = 1;
		else if (!strcmp(argv[i], "chroot"))
			opt_chroot = 1;
		else if (!strcmp(argv[i], "notif"))
			opt_notif = 1;
		else {
			errno = EINVAL;
			tp_die("unknown argument %s", argv[i]);
		}
	}
	if ((tp_corrupting("root") && !opt_chroot) || (tp_corrupting("oom") && opt_chroot)) {
		errno = EINVAL;
		tp_die("CS_TEST_CORRUPT=%s does not go with%s chroot", tp_corrupt_mode(), opt_chroot ? "" : "out");
	}
	tp_block_usr2();
	tp_dirname(argv[1], dir, sizeof(dir));

	/* process attributes */
	umask(027);
	if (personality(PER_LINUX | ADDR_NO_RANDOMIZE) < 0)
		tp_die("personality");
	write_oom(123);
	oom = read_oom();
	ts[T_MAIN].tid = gettid();
	set_sched(&ts[T_MAIN], SCHED_OTHER, 0, 0, 3);
	set_io_slack("main", IOPRIO_BE | 2, 123456);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) ||
	    prctl(PR_SET_SECUREBITS, SB_WANT, 0, 0, 0) || mlockall(MCL_FUTURE | MCL_ONFAULT))
		tp_die("prctl / mlockall");
	if (prctl(PR_SET_MDWE, 1 /* PR_MDWE_REFUSE_EXEC_GAIN */, 0, 0, 0))
		tp_log("note: no PR_SET_MDWE here (%s): not checked", strerror(errno));
	mdwe = prctl(PR_GET_MDWE, 0, 0, 0, 0);
	if (!opt_chroot)
		write_proc_self("coredump_filter", "0x3f");
	if (sched_getaffinity(0, sizeof(ts[T_MAIN].cpus), &ts[T_MAIN].cpus))
		tp_die("sched_getaffinity");
	if (opt_chroot) {
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		snprintf(path, sizeof(path), "%s/root", dir);
		mkdir(path, 0755);
		snprintf(path, sizeof(path), "%s/root/sub", dir);
		mkdir(path, 0755);
		snprintf(path, sizeof(path), "%s/root", dir);
		if (dfd < 0 || chroot(path) || chdir("/sub"))
			tp_die("cannot chroot to %s", path);
		snprintf(cwd_want, sizeof(cwd_want), "/sub");
	} else {
		if (chdir(dir))
			tp_die("chdir %s", dir);
		if (!getcwd(cwd_want, sizeof(cwd_want)))
			tp_die("getcwd");
	}
	if (stat("/", &root_st) || stat(".", &cwd_st))
		tp_die("stat");

	/* threads, seccomp */
	if (pipe(done_pipe) || pipe(sin) || pipe(sout))
		tp_die("pipe");
	if (opt_strict) {
		pthread_t pt;

		if (pthread_create(&pt, NULL, strict_thread, NULL))
			tp_die("pthread_create");
		while (!__atomic_load_n(&strict_tid, __ATOMIC_SEQ_CST))
			usleep(1000);
		usleep(10000);
	}
	filter_f1();
	pthread_barrier_init(&bar, NULL, NT);
	for (int i = T_W1; i < NT; i++) {
		if (pipe(ts[i].pipe) || pthread_create(&ts[i].pt, NULL, worker, &ts[i]))
			tp_die("cannot start %s", ts[i].name);
	}
	pthread_barrier_wait(&bar);
	record(&ts[T_MAIN]);
	for (int i = 0; i < NT; i++) {
		ts[i].seccomp = 2;
		ts[i].nfilters = i == T_W1 ? 2 : 1;
	}
	um = umask(0);
	umask(um);
	pers = personality(0xffffffff);

	/* break one thing, as a faulty restore would */
	if (tp_corrupting("nice"))
		setpriority(PRIO_PROCESS, ts[T_MAIN].tid, 4);
	if (tp_corrupting("policy")) {
		struct sattr a = { .size = sizeof(a), .policy = SCHED_BATCH };

		syscall(SYS_sched_setattr, ts[T_W3].tid, &a, 0);
	}
	if (tp_corrupting("rtprio")) {
		struct sattr a = { .size = sizeof(a), .policy = SCHED_FIFO, .prio = 8 };

		syscall(SYS_sched_setattr, ts[T_W2].tid, &a, 0);
	}
	if (tp_corrupting("affinity")) {
		cpu_set_t all;

		CPU_ZERO(&all);
		CPU_SET(0, &all);
		if (CPU_EQUAL(&all, &ts[T_W1].cpus))
			exit(TP_EXIT_SKIP);	/* one CPU: nothing to change */
		sched_setaffinity(ts[T_W1].tid, sizeof(all), &all);
	}
	if (tp_corrupting("nnp"))
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (tp_corrupting("filter"))
		filter_uname(0);
	if (tp_corrupting("umask"))
		umask(022);
	if (tp_corrupting("cwd") && chdir(".."))
		tp_die("chdir ..");
	if (tp_corrupting("personality"))
		personality(PER_LINUX);
	if (tp_corrupting("oom"))
		write_oom(124);
	if (tp_corrupting("ioprio"))
		syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, ts[T_W1].tid, IOPRIO_BE | 5);
	if (tp_corrupting("slack"))
		prctl(PR_SET_TIMERSLACK, 123457, 0, 0, 0);
	if (tp_corrupting("coredump"))
		write_proc_self("coredump_filter", "0x33");
	if (tp_corrupting("subreaper"))
		prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
	if (tp_corrupting("dumpable"))
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	if (tp_corrupting("securebits"))
		prctl(PR_SET_SECUREBITS, SB_WANT & ~4, 0, 0, 0);
	if (tp_corrupting("mlockall"))
		munlockall();
	if (tp_corrupting("root") && chroot("/sub"))
		tp_die("chroot /sub");

	if (opt_chroot) {
		write_ready_at(dfd, strrchr(argv[1], '/') ? strrchr(argv[1], '/') + 1 : argv[1]);
		close(dfd);
	} else {
		tp_write_ready(argv[1]);
	}
	tp_wait_usr2();

	/* main's own state, from inside main */
	verify(&ts[T_MAIN]);
	{
		int sr = -1;

		prctl(PR_GET_CHILD_SUBREAPER, &sr, 0, 0, 0);
		tp_check_u64("child subreaper", sr, 1);
		tp_check_u64("dumpable", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
		tp_check_u64("securebits", prctl(PR_GET_SECUREBITS, 0, 0, 0, 0), SB_WANT);
		tp_check_u64("memory-deny-write-execute", prctl(PR_GET_MDWE, 0, 0, 0, 0), mdwe);
		checked += 4;
		if (!opt_chroot) {
			long before = vmlck_kb();
			void *m = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			unsigned char res[4] = { 1, 1, 1, 1 };

			if (m == MAP_FAILED || mincore(m, 4 * 4096, res))
				tp_die("mmap / mincore");
			tp_check_u64("mlockall MCL_FUTURE: kB locked by a new 16 KiB mapping", vmlck_kb() - before, 16);
			tp_check_u64("mlockall MCL_ONFAULT: pages of it resident", res[0] + res[1] + res[2] + res[3], 0);
			munmap(m, 4 * 4096);
			checked += 2;
		}
	}
	tp_check_u64("umask", umask(um), um);
	tp_check_u64("personality", personality(0xffffffff), pers);
	stat_eq("root directory", "/", &root_st);
	stat_eq("working directory", ".", &cwd_st);
	if (!getcwd(cwd_now, sizeof(cwd_now)))
		snprintf(cwd_now, sizeof(cwd_now), "(getcwd: %s)", strerror(errno));
	tp_check_str("working directory path", cwd_now, cwd_want);
	checked += 3;
	if (!opt_chroot) {
		/* what /proc tells, per thread */
		tp_check_u64("oom_score_adj", read_oom(), oom);
		tp_check_str("coredump_filter", read_proc_self("coredump_filter"), "0000003f");
		checked += 2;
		for (int i = 0; i < NT; i++)
			check_status(ts[i].name, ts[i].tid, ts[i].seccomp, ts[i].nfilters, i == T_W1);
		if (opt_strict)
			check_status("strict thread", strict_tid, 1, 0, 0);
	}
	if (opt_strict) {
		unsigned char c = 41;

		if (write(sin[1], &c, 1) != 1 || read(sout[0], &c, 1) != 1)
			tp_die("strict thread pipes");
		tp_check_u64("strict thread echo", c, 42);
		checked++;
	}
	/* each worker checks itself */
	for (int i = T_W1; i < NT; i++) {
		char c;

		if (write(ts[i].pipe[1], "w", 1) != 1 || read(done_pipe[0], &c, 1) != 1)
			tp_die("cannot wake %s", ts[i].name);
	}
	for (int i = T_W1; i < NT; i++)
		pthread_join(ts[i].pt, NULL);
	tp_finish(checked);
}
