/* Small helpers shared by both commands. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/capability.h>

#define LOG_PREFIX ""
#include "log.h"
#include "util.h"

void *xmalloc(size_t size)
{
	void *p = malloc(size);

	if (!p)
		pr_err("out of memory (%zu bytes)", size);
	return p;
}

void *xzalloc(size_t size)
{
	void *p = calloc(1, size);

	if (!p)
		pr_err("out of memory (%zu bytes)", size);
	return p;
}

void *xrealloc(void *old, size_t size)
{
	void *p = realloc(old, size);

	if (!p)
		pr_err("out of memory (%zu bytes)", size);
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		pr_err("out of memory");
	return p;
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= w;
	}
	return 0;
}

ssize_t read_all(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = read(fd, (char *)buf + got, len - got);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += r;
	}
	return got;
}

void *read_file_at(int dirfd, const char *path, size_t *lenp, size_t max)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);	/* a FIFO must not block */
	size_t cap = 4096, len = 0;
	char *buf;

	if (fd < 0)
		return NULL;
	buf = malloc(cap);
	while (buf) {
		ssize_t r;

		if (len + 1 >= cap) {
			char *n;

			if (cap > max) {
				free(buf);
				close(fd);
				errno = EFBIG;
				return NULL;
			}
			n = realloc(buf, cap * 2);
			if (!n)
				break;
			buf = n;
			cap *= 2;
		}
		r = read(fd, buf + len, cap - len - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;

			free(buf);
			close(fd);
			errno = e;
			return NULL;
		}
		if (r == 0) {
			buf[len] = 0;
			close(fd);
			if (len > max) {
				free(buf);
				errno = EFBIG;
				return NULL;
			}
			if (lenp)
				*lenp = len;
			return buf;
		}
		len += r;
	}
	free(buf);
	close(fd);
	errno = ENOMEM;
	return NULL;
}

uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000ULL + ts.tv_nsec / 1000;
}

/* the signals whose default action ends a process and that a user or a
 * supervisor sends to stop a command: ^C, ^\\, hang-up, timeout(1), systemd */
static const int deferred_sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM };
static sigset_t deferred_set, deferred_old;
static int deferring;

void cs_defer_signals(void)
{
	sigemptyset(&deferred_set);
	for (size_t i = 0; i < sizeof(deferred_sigs) / sizeof(deferred_sigs[0]); i++)
		sigaddset(&deferred_set, deferred_sigs[i]);
	if (sigprocmask(SIG_BLOCK, &deferred_set, &deferred_old) == 0)
		deferring = 1;
}

void cs_undefer_signals(void)
{
	if (!deferring)
		return;
	deferring = 0;
	sigprocmask(SIG_SETMASK, &deferred_old, NULL);
}

int cs_deferred_signal(void)
{
	sigset_t pend;

	if (!deferring || sigpending(&pend))
		return 0;
	for (size_t i = 0; i < sizeof(deferred_sigs) / sizeof(deferred_sigs[0]); i++)
		if (sigismember(&pend, deferred_sigs[i]) && !sigismember(&deferred_old, deferred_sigs[i]))
			return deferred_sigs[i];
	return 0;
}

int cs_fault(const char *name)
{
	const char *f = getenv("CS_FAULT");
	size_t n = strlen(name);
	int sig = cs_deferred_signal();

	/* a step is a safe point: no remote syscall is under way */
	if (sig)
		return pr_err("interrupted by SIG%s before step %s: stopping there, the process left as it was",
			      sigabbrev_np(sig), name);

	/* CS_FAULT=STEP (fail there) or CS_FAULT=exit:STEP (exit 42 there) */
	if (!f)
		return 0;
	if (!strncmp(f, "exit:", 5) && !strcmp(f + 5, name)) {
		pr_warn("fault injection: exiting at step %s", name);
		_exit(42);
	}
	if (!strncmp(f, name, n) && f[n] == 0)
		return pr_err("fault injection: step %s fails", name);
	return 0;
}

pid_t parse_pid(const char *s)
{
	long v = 0;

	/* digits only, no sign, space or leading zero; at most PID_MAX_LIMIT - 1 */
	if (!*s || *s == '0' || strlen(s) > 7)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
	}
	return v < 4194304 ? v : -1;
}

int parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0, mul = 1;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*p - '0');
	}
	switch (*p) {
	case 0: break;
	case 'k': case 'K': mul = 1ULL << 10; p++; break;
	case 'm': case 'M': mul = 1ULL << 20; p++; break;
	case 'g': case 'G': mul = 1ULL << 30; p++; break;
	default: return -1;
	}
	if (*p || v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

int cap_effective(int cap)
{
	cap_t c = cap_get_proc();
	cap_flag_value_t v = CAP_CLEAR;

	if (!c)
		return 0;
	if (cap_get_flag(c, cap, CAP_EFFECTIVE, &v))
		v = CAP_CLEAR;
	cap_free(c);
	return v == CAP_SET;
}
