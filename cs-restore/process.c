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

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65		/* prctl(2), Linux 6.3 */
#endif

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

int restore_creds(struct rst_ctx *c)
{
	long r;

	if (restore_prctl_before(c) || restore_thread_creds(c))
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
