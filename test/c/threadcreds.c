/*
 * threadcreds.c - threads with credentials of their own.
 *
 *   threadcreds READY_FILE root|nonroot|manygroups
 *
 * Linux keeps credentials per thread: a raw setresuid(2), setgroups(2) or
 * capset(2) changes the calling thread only (glibc's set*id wrappers
 * would change every thread, nptl(7)), as Samba's smbd does to act as a
 * user. Four threads (run as root):
 *   main  root: as started; nonroot: uids 3001, gids 3001, groups 3000
 *   A     groups 1001 1002 2000, gids 1001/1002/1003, fsgid 1004,
 *         uids 2001/2002/2003, fsuid 2001 (so no capability left)
 *   B     root: uid 0 without CAP_NET_RAW (capset), CAP_SYS_NICE not
 *         effective, CAP_NET_BIND_SERVICE inheritable and ambient,
 *         CAP_MKNOD out of the bounding set, securebits NOROOT |
 *         NOROOT_LOCKED | KEEP_CAPS;
 *         nonroot: securebits NOROOT | KEEP_CAPS, no groups, uids
 *         4001/4002/4001, gids 4001, CAP_MKNOD out of the bounding set,
 *         permitted NET_BIND_SERVICE and NET_RAW, effective, inheritable
 *         and ambient NET_BIND_SERVICE
 *   C     as main (it makes the same raw calls in nonroot mode)
 * manygroups: as root, but A only sets 1100 supplementary groups (10000
 * and up), more than cs-dump saves: the dump must refuse, naming A.
 * Every change is a raw syscall. The process is dumpable (PR_SET_DUMPABLE
 * 1 after the changes, which reset it). Each thread records what
 * /proc/self/task/TID/status says (Uid, Gid, Groups, CapInh, CapPrm,
 * CapEff, CapBnd, CapAmb) and prctl(PR_GET_SECUREBITS), after checking
 * that set-up gave what it asked for; on SIGUSR2 each thread compares,
 * value by value, and main checks the dumpable flag.
 *
 * CS_TEST_CORRUPT (after recording): a-uid (A's euid becomes its ruid),
 * a-gid (A's egid becomes its rgid), b-caps (B's lowest effective
 * capability dropped), b-sb (B's KEEP_CAPS cleared), b-groups (root mode:
 * B's groups become 7), dumpable (0).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "tprog.h"

#define MAXG 2048
#define MANY 1100		/* manygroups: more than cs-dump saves (1024) */
#define SB_NOROOT 1
#define SB_NOROOT_LOCKED 2
#define SB_KEEP_CAPS 0x10
#define BIT(c) (1ULL << (c))

struct creds {
	uint64_t uid[4], gid[4], groups[MAXG], ngroups;
	uint64_t inh, prm, eff, bnd, amb, sb;
};

static int nonroot, manygroups;
static int pipefd[2];
static unsigned nchecked;
static int ready_count;

static pid_t gettid_(void)
{
	return syscall(SYS_gettid);
}

/* The calling thread's credentials, from /proc/self/task/TID/status and prctl. */
static void snap(struct creds *c)
{
	static __thread char buf[65536];
	char path[64], *l;
	ssize_t n;
	int fd;

	memset(c, 0, sizeof(*c));
	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)gettid_());
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		tp_die("open %s", path);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		tp_die("read %s", path);
	buf[n] = 0;
	for (l = buf; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		char *p = strchr(l, ':');

		if (!p)
			continue;
		p++;
		if (!strncmp(l, "Uid:", 4) || !strncmp(l, "Gid:", 4)) {
			uint64_t *v = l[0] == 'U' ? c->uid : c->gid;

			if (sscanf(p, "%lu %lu %lu %lu", &v[0], &v[1], &v[2], &v[3]) != 4)
				tp_die("cannot parse %.4s", l);
		} else if (!strncmp(l, "Groups:", 7)) {
			char *end;

			for (;;) {
				unsigned long g = strtoul(p, &end, 10);

				if (end == p || c->ngroups == MAXG)
					break;
				c->groups[c->ngroups++] = g;
				p = end;
			}
		} else if (!strncmp(l, "CapInh:", 7)) {
			c->inh = strtoull(p, NULL, 16);
		} else if (!strncmp(l, "CapPrm:", 7)) {
			c->prm = strtoull(p, NULL, 16);
		} else if (!strncmp(l, "CapEff:", 7)) {
			c->eff = strtoull(p, NULL, 16);
		} else if (!strncmp(l, "CapBnd:", 7)) {
			c->bnd = strtoull(p, NULL, 16);
		} else if (!strncmp(l, "CapAmb:", 7)) {
			c->amb = strtoull(p, NULL, 16);
		}
	}
	c->sb = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
}

static void check(const char *who, const struct creds *want)
{
	static const char *const ids[] = { "real", "effective", "saved", "fs" };
	struct creds got;
	char what[64];

	snap(&got);
	for (int k = 0; k < 4; k++) {
		snprintf(what, sizeof(what), "%s: %s uid", who, ids[k]);
		tp_check_u64(what, got.uid[k], want->uid[k]);
		snprintf(what, sizeof(what), "%s: %s gid", who, ids[k]);
		tp_check_u64(what, got.gid[k], want->gid[k]);
	}
	snprintf(what, sizeof(what), "%s: number of groups", who);
	tp_check_u64(what, got.ngroups, want->ngroups);
	for (uint64_t k = 0; k < want->ngroups && k < got.ngroups; k++) {
		snprintf(what, sizeof(what), "%s: group %lu", who, k);
		tp_check_u64(what, got.groups[k], want->groups[k]);
	}
	snprintf(what, sizeof(what), "%s: CapInh", who);
	tp_check_u64(what, got.inh, want->inh);
	snprintf(what, sizeof(what), "%s: CapPrm", who);
	tp_check_u64(what, got.prm, want->prm);
	snprintf(what, sizeof(what), "%s: CapEff", who);
	tp_check_u64(what, got.eff, want->eff);
	snprintf(what, sizeof(what), "%s: CapBnd", who);
	tp_check_u64(what, got.bnd, want->bnd);
	snprintf(what, sizeof(what), "%s: CapAmb", who);
	tp_check_u64(what, got.amb, want->amb);
	snprintf(what, sizeof(what), "%s: securebits", who);
	tp_check_u64(what, got.sb, want->sb);
	__atomic_add_fetch(&nchecked, 14 + want->ngroups, __ATOMIC_SEQ_CST);
}

static void rsys(const char *what, long nr, long a, long b, long c)
{
	if (syscall(nr, a, b, c, 0, 0, 0))
		tp_die("%s", what);
}

static void set_groups(const char *who, int n, const gid_t *g)
{
	if (syscall(SYS_setgroups, n, g))
		tp_die("%s: setgroups", who);
}

static void capset_raw(const char *who, uint64_t eff, uint64_t prm, uint64_t inh)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = {
		{ (uint32_t)eff, (uint32_t)prm, (uint32_t)inh },
		{ (uint32_t)(eff >> 32), (uint32_t)(prm >> 32), (uint32_t)(inh >> 32) },
	};

	if (syscall(SYS_capset, &h, d))
		tp_die("%s: capset", who);
}

/* Fails set-up when v is not want: the kernel did not do what was asked. */
static void expect(const char *who, const char *what, uint64_t v, uint64_t want)
{
	if (v != want) {
		errno = 0;
		tp_die("%s: set-up gave %s %#lx, want %#lx", who, what, v, want);
	}
}

/* A's set-up: every id its own, and so no capability. */
static void setup_a(void)
{
	static const gid_t g[] = { 1001, 1002, 2000 };

	if (manygroups) {
		static gid_t many[MANY];

		for (int i = 0; i < MANY; i++)
			many[i] = 10000 + i;
		set_groups("A", MANY, many);
		return;
	}
	set_groups("A", 3, g);
	rsys("A: setresgid", SYS_setresgid, 1001, 1002, 1003);
	syscall(SYS_setfsgid, 1004);
	rsys("A: setresuid", SYS_setresuid, 2001, 2002, 2003);
	syscall(SYS_setfsuid, 2001);
}

/* B's set-up (see the top of the file). */
static void setup_b(void)
{
	rsys("B: drop CAP_MKNOD from the bounding set", SYS_prctl, PR_CAPBSET_DROP, CAP_MKNOD, 0);
	if (!nonroot) {
		struct creds c;

		snap(&c);
		capset_raw("B", c.eff & ~BIT(CAP_NET_RAW) & ~BIT(CAP_SYS_NICE), c.prm & ~BIT(CAP_NET_RAW),
			   BIT(CAP_NET_BIND_SERVICE));
		rsys("B: ambient", SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE);
		rsys("B: securebits", SYS_prctl, PR_SET_SECUREBITS, SB_NOROOT | SB_NOROOT_LOCKED | SB_KEEP_CAPS, 0);
		return;
	}
	rsys("B: securebits", SYS_prctl, PR_SET_SECUREBITS, SB_NOROOT | SB_KEEP_CAPS, 0);
	set_groups("B", 0, NULL);
	rsys("B: setresgid", SYS_setresgid, 4001, 4001, 4001);
	rsys("B: setresuid", SYS_setresuid, 4001, 4002, 4001);
	capset_raw("B", BIT(CAP_NET_BIND_SERVICE), BIT(CAP_NET_BIND_SERVICE) | BIT(CAP_NET_RAW),
		   BIT(CAP_NET_BIND_SERVICE));
	rsys("B: ambient", SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE);
}

/* main's and C's in nonroot mode. */
static void setup_plain(const char *who)
{
	static const gid_t g[] = { 3000 };

	if (!nonroot)
		return;
	set_groups(who, 1, g);
	rsys("setresgid", SYS_setresgid, 3001, 3001, 3001);
	rsys("setresuid", SYS_setresuid, 3001, 3001, 3001);
}

/* What set-up must have given, in the values that were asked for. */
static void verify_setup(const char *who, const struct creds *c)
{
	if (!strcmp(who, "A") && manygroups) {
		expect(who, "groups", c->ngroups, MANY);
	} else if (!strcmp(who, "A")) {
		expect(who, "uids", c->uid[0] << 48 | c->uid[1] << 32 | c->uid[2] << 16 | c->uid[3],
		       2001ULL << 48 | 2002ULL << 32 | 2003ULL << 16 | 2001);
		expect(who, "gids", c->gid[0] << 48 | c->gid[1] << 32 | c->gid[2] << 16 | c->gid[3],
		       1001ULL << 48 | 1002ULL << 32 | 1003ULL << 16 | 1004);
		expect(who, "groups", c->ngroups == 3 ? c->groups[0] << 32 | c->groups[1] << 16 | c->groups[2] : 0,
		       1001ULL << 32 | 1002ULL << 16 | 2000);
		expect(who, "CapEff|CapPrm", c->eff | c->prm, 0);
	} else if (!strcmp(who, "B")) {
		expect(who, "CapBnd & CAP_MKNOD", c->bnd & BIT(CAP_MKNOD), 0);
		expect(who, "CapAmb", c->amb, BIT(CAP_NET_BIND_SERVICE));
		expect(who, "CapInh", c->inh, BIT(CAP_NET_BIND_SERVICE));
		expect(who, "securebits", c->sb, nonroot ? SB_NOROOT | SB_KEEP_CAPS : SB_NOROOT | SB_NOROOT_LOCKED | SB_KEEP_CAPS);
		if (nonroot) {
			expect(who, "uids", c->uid[0] << 32 | c->uid[1] << 16 | c->uid[2], 4001ULL << 32 | 4002ULL << 16 | 4001);
			expect(who, "CapPrm", c->prm, BIT(CAP_NET_BIND_SERVICE) | BIT(CAP_NET_RAW));
		} else {
			expect(who, "CapPrm & CAP_NET_RAW", c->prm & BIT(CAP_NET_RAW), 0);
			expect(who, "CapEff & CAP_SYS_NICE", c->eff & BIT(CAP_SYS_NICE), 0);
			expect(who, "CapPrm & CAP_SYS_NICE", c->prm & BIT(CAP_SYS_NICE), BIT(CAP_SYS_NICE));
		}
	} else if (nonroot) {
		expect(who, "uids", c->uid[0] + c->uid[1] + c->uid[2] + c->uid[3], 4 * 3001);
		expect(who, "groups", c->ngroups == 1 ? c->groups[0] : 0, 3000);
	}
}

/* After recording: break one value, the way a faulty restore would. */
static void corrupt(const char *who, const struct creds *c)
{
	if (!strcmp(who, "A")) {
		if (tp_corrupting("a-uid"))
			rsys("A: corrupt euid", SYS_setresuid, -1, 2001, -1);
		if (tp_corrupting("a-gid"))
			rsys("A: corrupt egid", SYS_setresgid, -1, 1001, -1);
	} else if (!strcmp(who, "B")) {
		if (tp_corrupting("b-caps"))
			capset_raw("B", c->eff & (c->eff - 1), c->prm, c->inh);
		if (tp_corrupting("b-sb"))
			rsys("B: corrupt KEEP_CAPS", SYS_prctl, PR_SET_KEEPCAPS, 0, 0);
		if (tp_corrupting("b-groups")) {
			static const gid_t g[] = { 7 };

			if (nonroot) {
				tp_log("b-groups: B has no CAP_SETGID in nonroot mode");
				exit(TP_EXIT_SKIP);
			}
			set_groups("B: corrupt", 1, g);
		}
	}
}

static void *worker(void *arg)
{
	const char *who = arg;
	struct creds want;
	char b;

	if (!strcmp(who, "A"))
		setup_a();
	else if (!strcmp(who, "B"))
		setup_b();
	else
		setup_plain(who);
	snap(&want);
	verify_setup(who, &want);
	corrupt(who, &want);
	__atomic_add_fetch(&ready_count, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		ssize_t n = read(pipefd[0], &b, 1);

		if (n == 1)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		tp_die("%s: read the wake-up pipe", who);
	}
	check(who, &want);
	return NULL;
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "a-uid", "a-gid", "b-caps", "b-sb", "b-groups", "dumpable", NULL };
	static char *names[] = { "A", "B", "C" };
	pthread_t t[3];
	struct creds want;

	tp_init("threadcreds", argc, argv);
	tp_corrupt_check_mode(modes);
	if (argc < 3 || (strcmp(argv[2], "root") && strcmp(argv[2], "nonroot") && strcmp(argv[2], "manygroups"))) {
		errno = EINVAL;
		tp_die("usage: threadcreds READY_FILE root|nonroot|manygroups");
	}
	nonroot = !strcmp(argv[2], "nonroot");
	manygroups = !strcmp(argv[2], "manygroups");
	if (geteuid()) {
		tp_log("needs root");
		exit(TP_EXIT_SKIP);
	}
	tp_block_usr2();
	if (pipe(pipefd))
		tp_die("pipe");
	for (int i = 0; i < 3; i++)
		if (pthread_create(&t[i], NULL, worker, names[i]))
			tp_die("pthread_create");
	while (__atomic_load_n(&ready_count, __ATOMIC_SEQ_CST) < 3)
		usleep(1000);
	setup_plain("main");
	/* every change of uid made the process not dumpable (suid_dumpable) */
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
		tp_die("PR_SET_DUMPABLE");
	snap(&want);
	verify_setup("main", &want);
	if (tp_corrupting("dumpable"))
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	tp_write_ready(argv[1]);
	tp_wait_usr2();
	if (write(pipefd[1], "abc", 3) != 3)
		tp_die("write the wake-up pipe");
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	check("main", &want);
	tp_check_u64("dumpable", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
	nchecked++;
	tp_finish(nchecked);
}
