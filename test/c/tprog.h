/*
 * tprog.h - the protocol every checksync C test program follows.
 *
 *   prog READY_FILE [args]
 *
 * A program sets up some state, writes its PID to READY_FILE (through
 * READY_FILE.tmp and rename, so a reader never sees half a number), waits
 * blocked in a syscall until SIGUSR2 arrives, then checks the state value by
 * value against what it recorded or can recompute.  It exits 0 when all is
 * identical, 1 with one stderr line per difference
 *   "regs: xmm3 differs: got ... want ..."
 * 2 when set-up itself failed, and 77 (automake's "skip") when asked to do
 * something this machine cannot do.
 *
 * CS_TEST_CORRUPT=MODE in the environment makes a program break one piece of
 * its own state after recording it, the way a faulty restore would; the
 * negative-control tests use it to prove that each check can fail.
 *
 * Header-only on purpose: every helper is static inline, so the programs
 * build from one .c file each and -Wmissing-prototypes stays quiet.
 */
#ifndef CS_TPROG_H
#define CS_TPROG_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TP_EXIT_DIFFERS	1
#define TP_EXIT_SETUP	2
#define TP_EXIT_SKIP	77

/* Stop printing after this many differences: a broken 64 MiB region would
 * otherwise print 16384 lines into the test log. */
#define TP_MAX_LINES	40

static const char *tp_name = "tprog";
static unsigned tp_ndiff;	/* updated atomically: threads report too */

/* One write(2) per line so lines from several threads do not interleave. */
static inline void tp_vline(const char *fmt, va_list ap)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf), "%s: ", tp_name);

	if (n < 0 || (size_t)n >= sizeof(buf))
		n = 0;
	int m = vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	while (n > 0) {
		ssize_t w = write(2, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		n -= w;
	}
}

static inline __attribute__((format(printf, 1, 2))) void tp_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tp_vline(fmt, ap);
	va_end(ap);
}

/* Set-up failed: nothing was tested, so this is neither a pass nor a fail. */
static inline __attribute__((format(printf, 1, 2), noreturn)) void tp_die(const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	va_start(ap, fmt);
	tp_vline(fmt, ap);
	va_end(ap);
	tp_log("set-up failed (errno %d: %s)", e, strerror(e));
	exit(TP_EXIT_SETUP);
}

/* Report one difference: "NAME: WHAT differs: <fmt>". */
static inline __attribute__((format(printf, 2, 3))) void tp_differs(const char *what, const char *fmt, ...)
{
	unsigned n = __atomic_add_fetch(&tp_ndiff, 1, __ATOMIC_SEQ_CST);
	char line[900];
	va_list ap;

	if (n > TP_MAX_LINES) {
		if (n == TP_MAX_LINES + 1)
			tp_log("more differences follow, not printed");
		return;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	tp_log("%s differs: %s", what, line);
}

static inline int tp_check_u64(const char *what, uint64_t got, uint64_t want)
{
	if (got == want)
		return 0;
	tp_differs(what, "got 0x%llx want 0x%llx",
		   (unsigned long long)got, (unsigned long long)want);
	return -1;
}

static inline void tp_hex(char *out, size_t outsz, const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t o = 0;

	out[0] = '\0';
	/* Most significant byte first: reads like the register's value. */
	for (size_t i = len; i > 0 && o + 3 < outsz; i--)
		o += snprintf(out + o, outsz - o, "%02x", b[i - 1]);
}

/* Compare LEN bytes (LEN <= 64 for readable output). */
static inline int tp_check_bytes(const char *what, const void *got, const void *want, size_t len)
{
	char g[160], w[160];

	if (memcmp(got, want, len) == 0)
		return 0;
	tp_hex(g, sizeof(g), got, len);
	tp_hex(w, sizeof(w), want, len);
	tp_differs(what, "got %s want %s", g, w);
	return -1;
}

static inline int tp_check_str(const char *what, const char *got, const char *want)
{
	if (strcmp(got, want) == 0)
		return 0;
	tp_differs(what, "got \"%s\" want \"%s\"", got, want);
	return -1;
}

/* Exit status from the number of differences; quiet-ish on success. */
static inline __attribute__((noreturn)) void tp_finish(unsigned checked)
{
	unsigned n = __atomic_load_n(&tp_ndiff, __ATOMIC_SEQ_CST);

	if (n) {
		tp_log("FAIL: %u difference(s) in %u checked values", n, checked);
		exit(TP_EXIT_DIFFERS);
	}
	tp_log("ok: %u values checked", checked);
	exit(0);
}

/* ---- CS_TEST_CORRUPT --------------------------------------------------- */

static inline const char *tp_corrupt_mode(void)
{
	const char *m = getenv("CS_TEST_CORRUPT");

	return m && *m ? m : NULL;
}

static inline int tp_corrupting(const char *mode)
{
	const char *m = tp_corrupt_mode();

	return m && strcmp(m, mode) == 0;
}

/* Called once set-up knows its modes: an unknown mode is a typo in a test,
 * and silently passing would hide it. modes is NULL-terminated. */
static inline void tp_corrupt_check_mode(const char *const *modes)
{
	const char *m = tp_corrupt_mode();

	if (!m)
		return;
	for (; *modes; modes++)
		if (strcmp(*modes, m) == 0) {
			tp_log("CS_TEST_CORRUPT=%s: will break this on purpose", m);
			return;
		}
	errno = EINVAL;
	tp_die("unknown CS_TEST_CORRUPT mode \"%s\"", m);
}

/* ---- ready file and SIGUSR2 -------------------------------------------- */

static inline void tp_init(const char *name, int argc, char **argv)
{
	tp_name = name;
	if (argc < 2) {
		fprintf(stderr, "usage: %s READY_FILE [args]\n", name);
		exit(TP_EXIT_SETUP);
	}
	/* The bats harness reads stderr from a file; no buffering surprises. */
	setvbuf(stdout, NULL, _IONBF, 0);
}

/* Write "PID\n" to PATH.tmp, then rename it to PATH.  No stdio: a FILE
 * would malloc, and memory.c checks that the heap does not move after
 * set-up. */
static inline void tp_write_ready(const char *path)
{
	char tmp[4096], buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		tp_die("ready file path too long");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		tp_die("cannot create %s", tmp);
	if (write(fd, buf, n) != n || close(fd) != 0)
		tp_die("cannot write %s", tmp);
	if (rename(tmp, path) < 0)
		tp_die("cannot rename %s to %s", tmp, path);
}

/* The directory holding PATH, into OUT ("." when PATH has no slash). */
static inline void tp_dirname(const char *path, char *out, size_t outsz)
{
	const char *slash = strrchr(path, '/');
	size_t len;

	if (!slash) {
		snprintf(out, outsz, ".");
		return;
	}
	len = slash == path ? 1 : (size_t)(slash - path);
	if (len >= outsz)
		tp_die("path too long: %s", path);
	memcpy(out, path, len);
	out[len] = '\0';
}

/* Block SIGUSR2 in the calling thread (threads created later inherit it). */
static inline void tp_block_usr2(void)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGUSR2);
	if (sigprocmask(SIG_BLOCK, &s, NULL) < 0)
		tp_die("cannot block SIGUSR2");
}

/*
 * Wait in sigwaitinfo() for the (blocked) SIGUSR2.  A restore turns an
 * interrupted rt_sigtimedwait into EINTR: loop.  No race with the sender:
 * a SIGUSR2 that arrives early simply stays pending.
 */
static inline void tp_wait_usr2(void)
{
	sigset_t s;
	siginfo_t si;

	sigemptyset(&s);
	sigaddset(&s, SIGUSR2);
	for (;;) {
		int sig = sigwaitinfo(&s, &si);
		if (sig == SIGUSR2)
			return;
		if (sig < 0 && errno != EINTR)
			tp_die("sigwaitinfo");
	}
}

#endif /* CS_TPROG_H */
