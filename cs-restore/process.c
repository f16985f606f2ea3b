/*
 * Process-wide checks and credentials. Credentials are restored last: once
 * the process runs as another user, cs-restore may lose the right to trace it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define LOG_PREFIX "process: "
#include "log.h"
#include "util.h"
#include "restore.h"

static const char *rlimit_name(unsigned r)
{
	static const char *n[] = { "CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE",
				   "MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME" };
	return r < ARRAY_SIZE(n) ? n[r] : "?";
}

/* A limit for a message: "unlimited" or the number (in a static buffer of
 * four, so that one message can hold several). */
static const char *rlim_str(uint64_t v)
{
	static char buf[4][24];
	static unsigned n;
	char *b = buf[n++ % 4];

	if (v == RLIM_INFINITY)
		return "unlimited";
	snprintf(b, sizeof(buf[0]), "%llu", (unsigned long long)v);
	return b;
}

int check_process(struct rst_ctx *c)
{
	ProcessEntry *pe = c->proc;

	if ((!c->idx && pe->pid != c->inv->root_pid) || !pe->n_threads || pe->threads[0] != pe->pid)
		return pr_err("pstree.img does not match the inventory");
	if (!pe->creds || pe->creds->n_uid != 4 || pe->creds->n_gid != 4)
		return pr_err("pstree.img: corrupt credentials");
	if (pe->root[0] != '/' || strlen(pe->root) >= 4096)
		return pr_err("pstree.img: corrupt root directory");
	if (strcmp(pe->root, "/")) {
		struct stat st;

		if (stat(pe->root, &st))
			return pr_err("the root directory %s of process %d (chroot) is gone: %s", pe->root, pe->pid,
				      strerror(errno));
		if (!S_ISDIR(st.st_mode))
			return pr_err("the root directory %s of process %d (chroot) is gone: not a directory",
				      pe->root, pe->pid);
	}
	for (size_t i = 0; i < pe->n_rlimits; i++) {
		RlimitEntry *r = pe->rlimits[i];
		struct rlimit cur;

		if (getrlimit(r->resource, &cur))
			return pr_err("pstree.img: unknown rlimit %u", r->resource);
		/* no CAP_SYS_RESOURCE here: a hard limit cannot be raised
		 * (setrlimit(2): EPERM; KERNEL-FACTS.md). RLIM_INFINITY is the
		 * largest value, so an unlimited saved limit is "above" too. */
		if (r->max <= cur.rlim_max || cur.rlim_max == RLIM_INFINITY || cap_effective(CAP_SYS_RESOURCE) == 1)
			continue;
		if (!c->lower_rlimits)
			return pr_err("rlimit %s: the saved hard limit %s is above what can be set here (%llu): "
				      "cs-restore --lower-rlimits lowers it",
				      rlimit_name(r->resource), rlim_str(r->max), (unsigned long long)cur.rlim_max);
		pr_warn("process %d: RLIMIT_%s lowered from %s/%s (soft/hard) to %s/%llu, the hard limit here",
			pe->pid, rlimit_name(r->resource), rlim_str(r->cur), rlim_str(r->max),
			rlim_str(r->cur > cur.rlim_max ? cur.rlim_max : r->cur), (unsigned long long)cur.rlim_max);
		r->max = cur.rlim_max;
		if (r->cur > r->max)
			r->cur = r->max;
	}
	return 0;
}

int restore_root(struct rst_ctx *c)
{
	const char *root = c->proc->root;
	long r;

	if (!strcmp(root, "/"))
		return 0;
	if (scratch_write(c, 0, root, strlen(root) + 1))
		return -1;
	r = rsys(c, 0, SYS_chroot, SCRATCH(c), 0, 0, 0, 0, 0);
	if (r)
		return pr_err("cannot change the root directory of process %d to %s: %s", c->pid, root, strerror(-r));
	return 0;
}

/*
 * Credentials of thread i of c (Linux keeps them per task: a raw
 * setresuid(2) in one thread changes only that one; glibc's wrapper
 * signals every thread to do the same, see nptl(7)).
 */
#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65		/* prctl(2), Linux 6.3 */
#endif
#ifndef SECBIT_KEEP_CAPS
#define SECBIT_KEEP_CAPS (1 << 4)	/* linux/securebits.h */
#endif
#ifndef SECBIT_KEEP_CAPS_LOCKED
#define SECBIT_KEEP_CAPS_LOCKED (1 << 5)
#endif
/* securebits set only once the capabilities are: KEEP_CAPS_LOCKED would
 * freeze KEEP_CAPS on, NO_CAP_AMBIENT_RAISE(_LOCKED) would refuse the
 * ambient set (bits 6 and 7, linux/securebits.h) */
#define SB_LATE (SECBIT_KEEP_CAPS_LOCKED | (1 << 6) | (1 << 7))

/* capset(2) in thread i of c: the three sets, 64-bit masks. Returns 0 or
 * -errno (-EIO when the scratch page cannot be written, said there). */
static long capset_remote(struct rst_ctx *c, int i, uint64_t eff, uint64_t prm, uint64_t inh)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];

	data[0].effective = eff;
	data[1].effective = eff >> 32;
	data[0].permitted = prm;
	data[1].permitted = prm >> 32;
	data[0].inheritable = inh;
	data[1].inheritable = inh >> 32;
	if (scratch_write(c, 0, &hdr, sizeof(hdr)) || scratch_write(c, 64, data, sizeof(data)))
		return -EIO;
	return rsys(c, i, SYS_capset, SCRATCH(c), SCRATCH(c) + 64, 0, 0, 0, 0);
}

static int thread_creds(struct rst_ctx *c, int i, const CredsEntry *cr)
{
	pid_t tid = c->pt.t[i].tid;
	unsigned sb = cr->has_securebits ? cr->securebits : 0;
	int setpcap;
	long r;

	/* bounding set first: dropping needs CAP_SETPCAP, which capset may remove */
	for (int cap = 0; cap < 64; cap++)
		if (!(cr->cap_bnd & (1ULL << cap)) && prctl(PR_CAPBSET_READ, cap) == 1) {
			r = rsys(c, i, SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0, 0);
			if (r)
				return pr_err("thread %d: cannot drop capability %d from the bounding set: %s", tid, cap,
					      strerror(-r));
		}
	if (cr->n_groups) {
		if (scratch_write(c, 0, cr->groups, cr->n_groups * sizeof(uint32_t)))
			return -1;
	}
	r = rsys(c, i, SYS_setgroups, cr->n_groups, SCRATCH(c), 0, 0, 0, 0);
	if (r)
		return pr_err("thread %d: cannot set supplementary groups: %s", tid, strerror(-r));
	r = rsys(c, i, SYS_setresgid, cr->gid[0], cr->gid[1], cr->gid[2], 0, 0, 0);
	if (r)
		return pr_err("thread %d: cannot set gids %u/%u/%u: %s", tid, cr->gid[0], cr->gid[1], cr->gid[2],
			      strerror(-r));
	/* keep capabilities across the uid change, then set them exactly; the
	 * securebits go in while the stub still has CAP_SETPCAP, but SB_LATE
	 * (capabilities(7)) */
	if (sb) {
		r = rsys(c, i, SYS_prctl, PR_SET_SECUREBITS, (sb & ~SB_LATE) | SECBIT_KEEP_CAPS, 0, 0, 0, 0);
		if (r)
			return pr_err("thread %d: cannot set securebits %#x: %s", tid, sb, strerror(-r));
	} else {
		rsys(c, i, SYS_prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0, 0);
	}
	r = rsys(c, i, SYS_setresuid, cr->uid[0], cr->uid[1], cr->uid[2], 0, 0, 0);
	if (r)
		return pr_err("thread %d: cannot set uids %u/%u/%u: %s", tid, cr->uid[0], cr->uid[1], cr->uid[2],
			      strerror(-r));
	rsys(c, i, SYS_prctl, PR_SET_KEEPCAPS, !!(sb & SECBIT_KEEP_CAPS), 0, 0, 0, 0);
	/* locking the SB_LATE bits needs CAP_SETPCAP (capabilities(7)): a
	 * process that locked them and then gave it up gets it for as long as
	 * the lock takes, dropped by a second capset (dropping needs nothing) */
	setpcap = (sb & SB_LATE) && !(cr->cap_eff & (1ULL << CAP_SETPCAP));
	r = capset_remote(c, i, cr->cap_eff | (setpcap ? 1ULL << CAP_SETPCAP : 0),
			  cr->cap_prm | (setpcap ? 1ULL << CAP_SETPCAP : 0), cr->cap_inh);
	if (r)
		return pr_err("thread %d: cannot set capabilities: %s", tid, strerror(-r));
	for (int cap = 0; cap < 64; cap++)
		if (cr->cap_amb & (1ULL << cap)) {
			r = rsys(c, i, SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0, 0);
			if (r)
				return pr_err("thread %d: cannot raise ambient capability %d: %s", tid, cap,
					      strerror(-r));
		}
	if (sb & SB_LATE) {
		r = rsys(c, i, SYS_prctl, PR_SET_SECUREBITS, sb, 0, 0, 0, 0);
		if (r)
			return pr_err("thread %d: cannot lock securebits %#x: %s", tid, sb, strerror(-r));
	}
	if (setpcap) {
		r = capset_remote(c, i, cr->cap_eff, cr->cap_prm, cr->cap_inh);
		if (r)
			return pr_err("thread %d: cannot drop CAP_SETPCAP after the securebits: %s", tid,
				      strerror(-r));
	}
	return 0;
}

/*
 * What the process set with prctl(2) and mlockall(2) that only it can set:
 * locking of future mappings (before the credentials: it may need
 * CAP_IPC_LOCK), then, after them, child subreaper, dumpable (a change of
 * uid reset it to /proc/sys/fs/suid_dumpable) and memory-deny-write-execute
 * (last: it refuses later executable mappings, and cannot be undone).
 */
static int restore_prctl_before(struct rst_ctx *c)
{
	ProcessEntry *pe = c->proc;
	long r;

	if (!pe->has_mlock_future || !pe->mlock_future)
		return 0;
	r = rsys(c, 0, SYS_mlockall, pe->mlock_future & (MCL_FUTURE | MCL_ONFAULT), 0, 0, 0, 0, 0);
	if (r)
		return pr_err("cannot lock future mappings again (mlockall %#x): %s", pe->mlock_future, strerror(-r));
	return 0;
}

static int restore_prctl_after(struct rst_ctx *c)
{
	ProcessEntry *pe = c->proc;
	long r;

	if (pe->has_child_subreaper && pe->child_subreaper) {
		r = rsys(c, 0, SYS_prctl, PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0, 0);
		if (r)
			return pr_err("cannot make %d a child subreaper again: %s", c->pid, strerror(-r));
	}
	/* 2 (SUID_DUMP_ROOT) comes only from the sysctl; prctl cannot set it */
	if (pe->has_dumpable && pe->dumpable < 2) {
		r = rsys(c, 0, SYS_prctl, PR_SET_DUMPABLE, pe->dumpable, 0, 0, 0, 0);
		if (r)
			return pr_err("cannot set dumpable to %u: %s", pe->dumpable, strerror(-r));
	}
	if (pe->has_mdwe && pe->mdwe) {
		r = rsys(c, 0, SYS_prctl, PR_SET_MDWE, pe->mdwe, 0, 0, 0, 0);
		if (r)
			return pr_err("cannot set memory-deny-write-execute %#x (PR_SET_MDWE): %s", pe->mdwe,
				      strerror(-r));
	}
	return 0;
}

/* Whether cr is what the stub's threads have already: cs-restore's own
 * credentials (they were forked from it). Then the other threads need no
 * remote syscall. */
static int creds_are_ours(const CredsEntry *cr)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	uid_t ru, eu, su;
	gid_t rg, eg, sg, groups[64];
	int n = getgroups(64, groups);

	if (getresuid(&ru, &eu, &su) || getresgid(&rg, &eg, &sg) || n < 0 || syscall(SYS_capget, &hdr, d))
		return 0;
	if (cr->n_uid < 3 || cr->n_gid < 3 || cr->uid[0] != ru || cr->uid[1] != eu || cr->uid[2] != su ||
	    cr->gid[0] != rg || cr->gid[1] != eg || cr->gid[2] != sg || cr->n_groups != (size_t)n)
		return 0;
	for (int i = 0; i < n; i++)
		if (cr->groups[i] != groups[i])
			return 0;
	if (cr->cap_eff != (d[0].effective | (uint64_t)d[1].effective << 32) ||
	    cr->cap_prm != (d[0].permitted | (uint64_t)d[1].permitted << 32) ||
	    cr->cap_inh != (d[0].inheritable | (uint64_t)d[1].inheritable << 32) || cr->cap_amb ||
	    (cr->has_securebits && cr->securebits != (unsigned)prctl(PR_GET_SECUREBITS)))
		return 0;
	for (int cap = 0; cap < 64; cap++)
		if (!(cr->cap_bnd & (1ULL << cap)) && prctl(PR_CAPBSET_READ, cap) == 1)
			return 0;
	return 1;
}

int restore_creds(struct rst_ctx *c)
{
	CredsEntry *cr = c->proc->creds;
	long r;
	int all = !creds_are_ours(cr);

	if (restore_prctl_before(c))
		return -1;
	for (int i = 0; i < (all ? c->pt.nr : 1); i++)
		if (thread_creds(c, i, cr))
			return -1;
	if (c->proc->has_oom_score_adj) {
		char path[64], val[16];
		int fd;

		snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", c->pid);
		snprintf(val, sizeof(val), "%d", c->proc->oom_score_adj);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, val, strlen(val)) < 0)
			pr_warn("cannot restore oom_score_adj %s: %m", val);
		if (fd >= 0)
			close(fd);
	}
	/* the stub asked to die with us; the restored process must not */
	r = rsys(c, 0, SYS_prctl, PR_SET_PDEATHSIG, c->proc->has_pdeath_sig ? c->proc->pdeath_sig : 0, 0, 0, 0, 0);
	if (r)
		return pr_err("cannot reset the parent-death signal: %s", strerror(-r));
	return restore_prctl_after(c);
}
