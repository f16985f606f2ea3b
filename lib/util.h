/* Small helpers shared by both commands. */
#ifndef CS_UTIL_H
#define CS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PAGE_SIZE 4096UL
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation wrappers: log "out of memory" and return NULL on failure. */
void *xmalloc(size_t size);
void *xzalloc(size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);

/* write_all - write len bytes, retrying short writes and EINTR. 0 or -1 (errno set). */
int write_all(int fd, const void *buf, size_t len);

/* read_all - read exactly len bytes unless EOF. Returns bytes read or -1 (errno). */
ssize_t read_all(int fd, void *buf, size_t len);

/*
 * read_file_at - read a whole file (relative to dirfd, AT_FDCWD allowed), at
 * most max bytes, NUL-terminated. Returns a malloc'ed buffer and its length in
 * *len (without the NUL), or NULL with errno set (EFBIG past max).
 */
void *read_file_at(int dirfd, const char *path, size_t *len, size_t max);

/* now_us - CLOCK_MONOTONIC in microseconds. */
uint64_t now_us(void);

/* cs_fault - fault-injection point: see CS_FAULT in cs-dump(8). Returns -1 when
 * the environment asks step NAME to fail (after logging), or when a signal
 * deferred by cs_defer_signals is pending (one line naming it), 0
 * otherwise; exits with status 42 when asked to exit there. */
int cs_fault(const char *name);

/*
 * cs_defer_signals - block SIGHUP, SIGINT, SIGQUIT and SIGTERM
 * (sigprocmask(2)) for the rest of the run, in every thread created from
 * now on too (they inherit the mask, pthread_sigmask(3)), so that none of
 * them kills cs-dump in the middle of a remote syscall, which would leave
 * a thread of the target running with the syscall's registers
 * (cs-dump(8), "If cs-dump is killed"). A process-directed signal stays
 * pending (signal(7)) until cs_fault, at the next step, sees it and fails
 * the step: the run then ends through its normal error path.
 * cs_undefer_signals - the mask from before cs_defer_signals again: a
 * signal still pending is delivered then, and takes its default action.
 * Call it before exiting, and in a child before execve(2) (the mask is
 * inherited across fork(2) and execve(2)).
 * cs_deferred_signal - the deferred signal pending, or 0 (none, or not
 * deferring). Not consumed: cs_undefer_signals delivers it.
 */
void cs_defer_signals(void);
void cs_undefer_signals(void);
int cs_deferred_signal(void);

/* parse_pid - strict decimal PID > 0; returns it or -1. */
pid_t parse_pid(const char *s);

/* parse_size - a byte count: decimal digits with an optional K, M or G
 * suffix (powers of 1024). Returns 0 and sets *out, or -1 (bad or overflow). */
int parse_size(const char *s, uint64_t *out);

/*
 * cap_effective - whether the calling process has capability cap (CAP_*
 * from <linux/capability.h>) in its effective set, asked through libcap
 * (cap_get_proc(3), cap_get_flag(3)). Returns 1 or 0 (0 also when libcap
 * cannot tell).
 */
int cap_effective(int cap);
#endif
