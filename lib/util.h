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
 * the environment asks step NAME to fail (after logging), 0 otherwise;
 * exits with status 42 when asked to exit there. */
int cs_fault(const char *name);

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
