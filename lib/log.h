/*
 * Logging for both commands: levels -v0..-v4, a per-file prefix, file:line on
 * warnings and errors, timestamps from -v3.
 */
#ifndef CS_LOG_H
#define CS_LOG_H

#include <stdarg.h>

enum { LOG_ERR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3, LOG_TRACE = 4 };

/*
 * log_init - set the level (0..4) and the log file (NULL or "-": stderr).
 * Errors always also go to stderr when a log file is set, so a user of a
 * script sees the one-line reason. Returns 0, or -1 when the file cannot be
 * opened (errno set).
 */
int log_init(int level, const char *path);

/* log_banner - first lines of every log: tool version, kernel, CPU, xsave size. */
void log_banner(const char *tool);

/*
 * parse_verbosity - apply one -v option: "-v" adds one, "-vvv" adds three,
 * "-v3" or "--verbosity=3" sets the level (0..4). Returns 0, or -1 after a
 * one-line message on stderr naming tool.
 */
int parse_verbosity(const char *tool, const char *arg, int *level);

/* log_level - the level set by log_init. */
int log_level(void);

void log_msg(int level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/*
 * log_quiet_errors - from now on errors go to the log file only (-o), not
 * to stderr: after the one line that says why the run cannot go on (the
 * target died under us), the errors of every caller that unwinds would
 * only repeat it.
 */
void log_quiet_errors(void);
/* log_error_count - how many errors were logged (pr_err) so far. */
int log_error_count(void);
/* log_err - log at LOG_ERR and return -1. */
int log_err(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#ifndef LOG_PREFIX
#define LOG_PREFIX ""
#endif

#define pr_debug(fmt, ...) log_msg(LOG_DEBUG, __FILE__, __LINE__, LOG_PREFIX fmt "\n", ##__VA_ARGS__)
#define pr_info(fmt, ...) log_msg(LOG_INFO, __FILE__, __LINE__, LOG_PREFIX fmt "\n", ##__VA_ARGS__)
#define pr_warn(fmt, ...) log_msg(LOG_WARN, __FILE__, __LINE__, LOG_PREFIX fmt "\n", ##__VA_ARGS__)
/* pr_err logs and evaluates to -1, so callers write `return pr_err(...)`. */
#define pr_err(fmt, ...) log_err(__FILE__, __LINE__, LOG_PREFIX fmt "\n", ##__VA_ARGS__)
#define pr_perror(fmt, ...) pr_err(fmt ": %m", ##__VA_ARGS__)

#endif
