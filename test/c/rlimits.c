/*
 * rlimits.c - do the resource limits come back, soft and hard, each one?
 *
 *   rlimits READY_FILE
 *
 * Sets every resource limit to a value of its own (soft below hard, both
 * below the hard limit it was started with: without CAP_SYS_RESOURCE a hard
 * limit cannot be raised), records them, waits for SIGUSR2, then reads each
 * one back with getrlimit(2) and compares.
 *
 * A restore run with --lower-rlimits may lower hard limits on purpose: the
 * test then writes "RESOURCE HARD" lines (RESOURCE a number, e.g. "12 300000"
 * for RLIMIT_MSGQUEUE) to lowered next to READY_FILE before SIGUSR2, and the
 * program expects that hard limit and a soft limit no higher than it.
 *
 * CS_TEST_CORRUPT: nofile (the soft RLIMIT_NOFILE one lower), msgqueue (the
 * hard RLIMIT_MSGQUEUE one lower).
 */
#define _GNU_SOURCE
#include <sys/resource.h>

#include "tprog.h"

/* The wanted soft and hard limits; each is clipped to the hard limit at
 * the start. */
static const struct want {
	int res;
	const char *name;
	rlim_t soft, hard;
} wants[] = {
	{ RLIMIT_CPU, "CPU", 100003, 200003 },			/* seconds */
	{ RLIMIT_FSIZE, "FSIZE", 1ULL << 38, 1ULL << 39 },	/* bytes */
	{ RLIMIT_DATA, "DATA", 1ULL << 40, 1ULL << 41 },
	{ RLIMIT_STACK, "STACK", 12ULL << 20, 48ULL << 20 },
	{ RLIMIT_CORE, "CORE", 4096 * 3, 4096 * 1000 },
	{ RLIMIT_RSS, "RSS", 1ULL << 33, 1ULL << 34 },
	{ RLIMIT_NPROC, "NPROC", 4001, 5003 },
	{ RLIMIT_NOFILE, "NOFILE", 777, 4093 },
	{ RLIMIT_MEMLOCK, "MEMLOCK", 65536 * 3, 65536 * 5 },
	{ RLIMIT_AS, "AS", 1ULL << 45, 1ULL << 46 },
	{ RLIMIT_LOCKS, "LOCKS", 1111, 2222 },
	{ RLIMIT_SIGPENDING, "SIGPENDING", 3001, 4003 },
	{ RLIMIT_MSGQUEUE, "MSGQUEUE", 500000, 700000 },	/* bytes */
	{ RLIMIT_NICE, "NICE", 0, 0 },
	{ RLIMIT_RTPRIO, "RTPRIO", 0, 0 },
	{ RLIMIT_RTTIME, "RTTIME", 1000003, 2000003 },		/* microseconds */
};
#define N (sizeof(wants) / sizeof(wants[0]))

static struct rlimit set[N];

static void lowered(const char *ready, rlim_t *hard)
{
	char dir[4096], path[4200];
	FILE *f;
	int res;
	unsigned long long v;

	tp_dirname(ready, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/lowered", dir);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fscanf(f, "%d %llu", &res, &v) == 2)
		for (size_t i = 0; i < N; i++)
			if (wants[i].res == res)
				hard[i] = v;
	fclose(f);
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "nofile", "msgqueue", NULL };
	rlim_t hard[N];
	unsigned checked = 0;

	tp_init("rlimits", argc, argv);
	tp_corrupt_check_mode(modes);
	tp_block_usr2();
	for (size_t i = 0; i < N; i++) {
		struct rlimit now;

		if (getrlimit(wants[i].res, &now))
			tp_die("getrlimit %s", wants[i].name);
		set[i].rlim_max = wants[i].hard < now.rlim_max ? wants[i].hard : now.rlim_max;
		set[i].rlim_cur = wants[i].soft < set[i].rlim_max ? wants[i].soft : set[i].rlim_max;
		if (setrlimit(wants[i].res, &set[i]))
			tp_die("setrlimit %s %llu/%llu", wants[i].name, (unsigned long long)set[i].rlim_cur,
			       (unsigned long long)set[i].rlim_max);
	}
	if (tp_corrupting("nofile")) {
		struct rlimit r = { set[7].rlim_cur - 1, set[7].rlim_max };
		setrlimit(RLIMIT_NOFILE, &r);
	}
	if (tp_corrupting("msgqueue")) {
		struct rlimit r = { set[12].rlim_cur, set[12].rlim_max - 1 };
		setrlimit(RLIMIT_MSGQUEUE, &r);
	}
	tp_write_ready(argv[1]);
	tp_wait_usr2();

	for (size_t i = 0; i < N; i++)
		hard[i] = set[i].rlim_max;
	lowered(argv[1], hard);
	for (size_t i = 0; i < N; i++) {
		struct rlimit got;
		char what[64];
		rlim_t soft = set[i].rlim_cur < hard[i] ? set[i].rlim_cur : hard[i];

		if (getrlimit(wants[i].res, &got)) {
			tp_differs(wants[i].name, "getrlimit failed: %s", strerror(errno));
			continue;
		}
		snprintf(what, sizeof(what), "RLIMIT_%s soft", wants[i].name);
		tp_check_u64(what, got.rlim_cur, soft);
		snprintf(what, sizeof(what), "RLIMIT_%s hard", wants[i].name);
		tp_check_u64(what, got.rlim_max, hard[i]);
		checked += 2;
	}
	tp_finish(checked);
}
