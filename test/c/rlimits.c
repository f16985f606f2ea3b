/*
 * rlimits.c - do the resource limits come back, soft and hard, each one?
 *
 *   rlimits READY_FILE [uid|mdwe|lockedsb]
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
 * uid   after set-up, real and effective uid 65534 (saved uid 0, to write
 *       the ready file): prlimit64 from root without CAP_SYS_RESOURCE is
 *       then EPERM (prlimit(2)), so cs-dump asks the process itself.
 *       Checked after restore: the uids too.
 * lockedsb  as uid, with securebits NOROOT | NOROOT_LOCKED |
 *       KEEP_CAPS_LOCKED (0x23) set first and every capability dropped
 *       last: the process cannot set securebits itself any more (no
 *       CAP_SETPCAP), cs-restore must. Its timer slack is 123457 ns.
 *       Checked after restore: the uids, the securebits, the three empty
 *       capability sets and the timer slack.
 * mdwe  after set-up, prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN): no
 *       mapping may become executable (checked: mprotect adding PROT_EXEC is
 *       refused, else exit 77). Not checked after restore: the images have
 *       no MDWE.
 *
 * CS_TEST_CORRUPT: nofile (the soft RLIMIT_NOFILE one lower), msgqueue (the
 * hard RLIMIT_MSGQUEUE one lower), sb (lockedsb without NOROOT_LOCKED).
 */
#define _GNU_SOURCE
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

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

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif

/* MDWE on, and proven to refuse making memory executable (exit 77 without it). */
static void set_mdwe(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		tp_die("mmap");
	if (prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0)) {
		tp_log("PR_SET_MDWE: %s: cannot test this here", strerror(errno));
		exit(77);
	}
	if (mprotect(p, 4096, PROT_READ | PROT_EXEC) == 0 || errno != EACCES)
		tp_die("MDWE on, but mprotect(PROT_EXEC) was not refused with EACCES");
	munmap(p, 4096);
}

#define SB_LOCKED 0x23	/* SECBIT_NOROOT | _NOROOT_LOCKED | _KEEP_CAPS_LOCKED, linux/securebits.h */

/* capget(2) of this thread: effective, permitted, inheritable ORed into
 * one mask each; exits on failure */
static void caps_now(uint64_t *eff, uint64_t *prm, uint64_t *inh)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &hdr, d))
		tp_die("capget");
	*eff = d[0].effective | (uint64_t)d[1].effective << 32;
	*prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	*inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
}

static void drop_all_caps(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = { { 0 } };

	if (syscall(SYS_capset, &hdr, d))
		tp_die("capset (drop all)");
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "nofile", "msgqueue", "sb", NULL };
	int locked = argc > 2 && !strcmp(argv[2], "lockedsb");
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
	if (argc > 2 && !strcmp(argv[2], "mdwe"))
		set_mdwe();
	if (locked && prctl(PR_SET_TIMERSLACK, 123457, 0, 0, 0))
		tp_die("PR_SET_TIMERSLACK");
	if (locked && prctl(PR_SET_SECUREBITS, tp_corrupting("sb") ? SB_LOCKED & ~2 : SB_LOCKED, 0, 0, 0))
		tp_die("PR_SET_SECUREBITS %#x", SB_LOCKED);
	if (locked || (argc > 2 && !strcmp(argv[2], "uid"))) {
		if (setresuid(65534, 65534, 0))
			tp_die("setresuid");
		if (seteuid(0))		/* the ready file is in root's directory */
			tp_die("seteuid 0");
		tp_write_ready(argv[1]);
		if (seteuid(65534))
			tp_die("seteuid 65534");
		if (locked)
			drop_all_caps();
	} else {
		tp_write_ready(argv[1]);
	}
	tp_wait_usr2();

	if (locked) {
		uint64_t eff, prm, inh;

		tp_check_u64("securebits", prctl(PR_GET_SECUREBITS, 0, 0, 0, 0), SB_LOCKED);
		caps_now(&eff, &prm, &inh);
		tp_check_u64("effective capabilities", eff, 0);
		tp_check_u64("permitted capabilities", prm, 0);
		tp_check_u64("inheritable capabilities", inh, 0);
		tp_check_u64("timer slack", prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0), 123457);
		checked += 5;
	}
	if (locked || (argc > 2 && !strcmp(argv[2], "uid"))) {
		uid_t r, e, sv;

		if (getresuid(&r, &e, &sv))
			tp_die("getresuid");
		tp_check_u64("real uid", r, 65534);
		tp_check_u64("effective uid", e, 65534);
		tp_check_u64("saved uid", sv, 0);
		checked += 3;
	}

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
