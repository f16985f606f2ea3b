/*
 * Clocks and time namespaces, for both commands. CLOCK_MONOTONIC and
 * CLOCK_BOOTTIME count from the boot of the host; a time namespace adds a
 * fixed offset to each for the processes inside it (time_namespaces(7)).
 */
#ifndef CS_CLOCKS_H
#define CS_CLOCKS_H

#include <stdint.h>
#include <time.h>
#include <sys/types.h>

#define NSEC_PER_SEC 1000000000LL

/* clock_ns - clock clk as the caller sees it, in nanoseconds (clock_gettime(2)). */
int64_t clock_ns(clockid_t clk);

/*
 * timens_supported - whether this kernel has time namespaces (CONFIG_TIME_NS:
 * /proc/self/ns/time exists, namespaces(7)). 1 or 0.
 */
int timens_supported(void);

/*
 * timens_id - the time namespace of pid (0: the caller), and with
 * for_children the one its next children will get (they differ after
 * unshare(CLONE_NEWTIME), unshare(2)), as the text of the /proc/PID/ns
 * link ("time:[4026531834]"). Returns 0, or -1 with errno (ENOENT: no time
 * namespaces in this kernel, or the process is gone).
 */
int timens_id(pid_t pid, int for_children, char *buf, size_t len);

/*
 * timens_offsets - the CLOCK_MONOTONIC and CLOCK_BOOTTIME offsets, in
 * nanoseconds, of the time namespace that the children of pid (0: the
 * caller) get: /proc/PID/timens_offsets, time_namespaces(7). For a process
 * that has not unshared a time namespace of its own this is its own
 * namespace. Returns 0, or -1 with errno (ENOENT: no time namespaces; EPROTO:
 * a line this parser does not understand).
 */
int timens_offsets(pid_t pid, int64_t *mono, int64_t *boot);

/*
 * timens_format_offset - one line of /proc/PID/timens_offsets: "NAME SECS
 * NSECS\n" with NSECS in [0, 1e9) (a negative offset has a negative SECS,
 * time_namespaces(7)). Returns the length written (at most len - 1).
 */
int timens_format_offset(char *buf, size_t len, const char *name, int64_t ns);

#endif
