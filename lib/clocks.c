/* Clocks and time namespaces: see clocks.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "clocks.h"

int64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	if (clock_gettime(clk, &ts))
		return -1;
	return ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

int timens_supported(void)
{
	return access("/proc/self/ns/time", F_OK) == 0;
}

int timens_id(pid_t pid, int for_children, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/ns/time%s", pid, for_children ? "_for_children" : "");
	else
		snprintf(path, sizeof(path), "/proc/self/ns/time%s", for_children ? "_for_children" : "");
	n = readlink(path, buf, len - 1);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return 0;
}

int timens_offsets(pid_t pid, int64_t *mono, int64_t *boot)
{
	char path[64], *text, *line, *next;
	int seen = 0;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/timens_offsets", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/timens_offsets");
	text = read_file_at(AT_FDCWD, path, NULL, 4096);
	if (!text)
		return -1;
	/* "monotonic   SECS   NSECS" then "boottime ..." (kernel/time/namespace.c) */
	for (line = text; *line; line = next) {
		char name[32];
		long long s;
		long ns;

		next = strchr(line, '\n');
		next = next ? next + 1 : line + strlen(line);
		if (sscanf(line, "%31s %lld %ld", name, &s, &ns) != 3 || ns < 0 || ns >= NSEC_PER_SEC)
			break;
		if (!strcmp(name, "monotonic")) {
			*mono = s * NSEC_PER_SEC + ns;
			seen |= 1;
		} else if (!strcmp(name, "boottime")) {
			*boot = s * NSEC_PER_SEC + ns;
			seen |= 2;
		}
	}
	free(text);
	if (seen != 3) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

int timens_format_offset(char *buf, size_t len, const char *name, int64_t ns)
{
	int64_t s = ns / NSEC_PER_SEC, r = ns % NSEC_PER_SEC;
	int n;

	if (r < 0) {	/* floor: the nanoseconds field is never negative */
		r += NSEC_PER_SEC;
		s--;
	}
	n = snprintf(buf, len, "%s %lld %lld\n", name, (long long)s, (long long)r);
	return n < 0 ? 0 : (size_t)n >= len ? (int)len - 1 : n;
}
