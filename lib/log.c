/* Logging: see log.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/utsname.h>
#include <cpuid.h>

#include "log.h"
#include "config.h"

static int cur_level = LOG_WARN;
static FILE *log_file;	/* NULL: stderr only */

int log_init(int level, const char *path)
{
	cur_level = level;
	if (path && strcmp(path, "-")) {
		log_file = fopen(path, "a");
		if (!log_file)
			return -1;
		setvbuf(log_file, NULL, _IOLBF, 0);
	}
	return 0;
}

int log_level(void)
{
	return cur_level;
}

void log_banner(const char *tool)
{
	struct utsname u;
	char model[64] = "unknown";
	unsigned a, b, c, d, xsize = 0;
	FILE *f;

	uname(&u);
	f = fopen("/proc/cpuinfo", "r");
	if (f) {
		char line[256];

		while (fgets(line, sizeof(line), f)) {
			char *p = strchr(line, ':');

			if (!strncmp(line, "model name", 10) && p) {
				snprintf(model, sizeof(model), "%s", p + 2);
				model[strcspn(model, "\n")] = 0;
				break;
			}
		}
		fclose(f);
	}
	if (__get_cpuid_count(0xd, 0, &a, &b, &c, &d))
		xsize = b;
	log_msg(LOG_INFO, __FILE__, __LINE__, "%s %s on Linux %s, CPU %s, xsave %u bytes\n",
		tool, PACKAGE_VERSION, u.release, model, xsize);
}

static void emit(FILE *f, int level, const char *file, int line, const char *fmt, va_list ap)
{
	if (cur_level >= LOG_DEBUG) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		fprintf(f, "(%5ld.%06ld) ", (long)ts.tv_sec, ts.tv_nsec / 1000);
	}
	if (level <= LOG_WARN) {
		const char *base = strrchr(file, '/');

		fprintf(f, "%s %s:%d: ", level == LOG_ERR ? "error:" : "warning:", base ? base + 1 : file, line);
	}
	vfprintf(f, fmt, ap);
}

void log_msg(int level, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	if (level > cur_level && level > LOG_ERR)
		return;
	if (log_file) {
		va_start(ap, fmt);
		errno = saved;
		emit(log_file, level, file, line, fmt, ap);
		va_end(ap);
	}
	if (!log_file || level <= LOG_WARN) {
		va_start(ap, fmt);
		errno = saved;
		emit(stderr, level, file, line, fmt, ap);
		va_end(ap);
	}
	errno = saved;
}

static int errors_quiet;	/* log_quiet_errors: no more errors on stderr */
static int nr_errors;		/* errors logged so far */

void log_quiet_errors(void)
{
	errors_quiet = 1;
}

int log_error_count(void)
{
	return nr_errors;
}

int log_err(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	nr_errors++;
	if (log_file) {
		va_start(ap, fmt);
		emit(log_file, LOG_ERR, file, line, fmt, ap);
		va_end(ap);
	}
	if (!errors_quiet) {
		va_start(ap, fmt);
		errno = saved;
		emit(stderr, LOG_ERR, file, line, fmt, ap);
		va_end(ap);
	}
	errno = saved;
	return -1;
}

int parse_verbosity(const char *tool, const char *arg, int *level)
{
	char *end;
	long v;

	if (!arg || strspn(arg, "v") == strlen(arg)) {
		*level += 1 + (arg ? strlen(arg) : 0);
		if (*level > LOG_TRACE)
			*level = LOG_TRACE;
		return 0;
	}
	v = strtol(arg, &end, 10);
	if (*end || v < 0 || v > LOG_TRACE) {
		fprintf(stderr, "%s: invalid verbosity '%s' (0..4)\n", tool, arg);
		return -1;
	}
	*level = v;
	return 0;
}
