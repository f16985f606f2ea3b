/*
 * Per-process state: signal handlers, credentials, rlimits, ids, cwd/root,
 * umask, personality, process-wide pending signals. Also the remote scratch
 * page that remote syscalls write their results into.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#define LOG_PREFIX "process: "
#include "log.h"
#include "util.h"
#include "dump.h"

#define SCRATCH_SIZE (SCRATCH_TABLE + SCRATCH_OUT + PT_BATCH_CODE_SIZE)

#ifndef PR_GET_MDWE
#define PR_GET_MDWE 66		/* prctl(2), Linux 6.3 */
#endif

/* The kB count after "Key:" in /proc/PID/status, -1 when unreadable. */
static long status_kb(pid_t pid, const char *key)
{
	char buf[64];

	if (proc_status_line(pid, 0, key, buf, sizeof(buf)))
		return -1;
	return strtol(buf, NULL, 10);
}

int remote_scratch_map(struct dump_ctx *c)
{
	long ret;

	if (pt_install_gadget(&c->pt))
		return -1;
	if (getenv("CS_FAULT") && !strcmp(getenv("CS_FAULT"), "flood")) {
		c->pt.extra_max = 2;	/* a test's flood without thousands of signals */
		c->pt.no_block = 1;	/* which pt_signals_off would keep out */
	}
	c->vmlck_kb = status_kb(c->pid, "VmLck");
	if (pt_syscall(&c->pt, &c->pt.t[0], &ret, SYS_mmap, 0, SCRATCH_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
		return -1;
	if (ret < 0 && ret > -4096)
		return pr_err("remote mmap in %d failed: %s", c->pid, strerror(-ret));
	c->scratch = ret;
	/* the code page replaces the last page: one munmap takes both away */
	return pt_batch_map(&c->pt, &c->pt.t[0], c->scratch + SCRATCH_TABLE + SCRATCH_OUT);
}

int remote_scratch_unmap(struct dump_ctx *c)
{
	long ret;
	int r;

	if (!c->scratch)
		return 0;
	/* a flood that failed the dump may go on: it must not leave the pages */
	c->pt.draining = 1;
	r = pt_syscall(&c->pt, &c->pt.t[0], &ret, SYS_munmap, c->scratch, SCRATCH_SIZE, 0, 0, 0, 0);
	c->pt.draining = 0;
	if (r)
		return pr_err("the scratch and code pages at %#lx stay mapped in %d", c->scratch, c->pid);
	if (ret)
		return pr_err("remote munmap in %d failed: %s", c->pid, strerror(-ret));
	c->scratch = 0;
	c->pt.batch_code = 0;
	return 0;
}

unsigned long rbatch_buf(struct dump_ctx *c, struct rbatch *b, size_t len)
{
	unsigned long a = c->scratch + SCRATCH_TABLE + b->used;

	len = (len + 7) & ~(size_t)7;
	if (len > SCRATCH_OUT - b->used) {
		pr_err("remote syscall batch: no room for %zu more bytes of results", len);
		return 0;
	}
	b->used += len;
	return a;
}

int rbatch_add(struct rbatch *b, long nr, unsigned long a1, unsigned long a2, unsigned long a3,
	       unsigned long a4, unsigned long a5, unsigned long a6)
{
	struct pt_call *k;

	if (b->n >= RBATCH_MAX)
		return pr_err("remote syscall batch: more than %d calls", RBATCH_MAX);
	k = &b->call[b->n];
	k->nr = nr;
	k->a[0] = a1;
	k->a[1] = a2;
	k->a[2] = a3;
	k->a[3] = a4;
	k->a[4] = a5;
	k->a[5] = a6;
	k->ret = -ENOSYS;
	return b->n++;
}

int rbatch_run(struct dump_ctx *c, struct pt_thread *t, struct rbatch *b)
{
	if (pt_batch(&c->pt, t, c->scratch, b->call, b->n))
		return -1;
	return b->used ? remote_read(c, c->scratch + SCRATCH_TABLE, b->out, b->used) : 0;
}

void *rbatch_out(struct dump_ctx *c, struct rbatch *b, unsigned long a)
{
	return b->out + (a - c->scratch - SCRATCH_TABLE);
}

int remote_read(struct dump_ctx *c, unsigned long addr, void *buf, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)addr, len };

	if (process_vm_readv(c->pid, &l, 1, &r, 1, 0) != (ssize_t)len)
		return pr_perror("cannot read %zu bytes at %#lx of %d", len, addr, c->pid);
	return 0;
}

/*
 * The value after "Key:" in st, the text of /proc/PID/status read once by
 * dump_process (the fields read here do not change while the process is
 * frozen, and each read of that file costs ~25 us here), into buf as
 * proc_status_line does. 0, or -1 when there is no such line.
 */
int status_key(const char *st, const char *key, char *buf, size_t len)
{
	size_t kl = strlen(key);

	for (const char *l = st; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (strncmp(l, key, kl) || l[kl] != ':')
			continue;
		l += kl + 1;
		while (*l == ' ' || *l == '\t')
			l++;
		snprintf(buf, len, "%.*s", (int)strcspn(l, "\n"), l);
		return 0;
	}
	return -1;
}

/*
 * mlockall(MCL_FUTURE) leaves no trace but in the mappings made after it:
 * the scratch mapping, made after VmLck was read (c->vmlck_kb), counts in
 * VmLck (mm->locked_vm, exact) only if it was locked at its mmap. Then
 * its VmFlags say whether with MCL_ONFAULT (lf). mlockall(2), proc(5).
 */
static int dump_mlock_future(struct dump_ctx *c, ProcessEntry *pe, const char *st)
{
	char buf[64];
	long now;

	if (c->vmlck_kb < 0 || status_key(st, "VmLck", buf, sizeof(buf)))
		return 0;	/* no VmLck: nothing to tell */
	now = strtol(buf, NULL, 10);
	pe->has_mlock_future = 1;
	pe->mlock_future = 0;
	if (now <= c->vmlck_kb)
		return 0;
	pe->mlock_future = MCL_FUTURE;
	{
		int n = 0;
		struct vma *v = proc_vmas(c->pid, &n);

		if (!v)
			return -1;
		for (int i = 0; i < n; i++)
			if (c->scratch >= v[i].start && c->scratch < v[i].end && vma_has_flag(&v[i], "lf"))
				pe->mlock_future |= MCL_ONFAULT;
		free(v);
	}
	pr_info("%d locks its new mappings (mlockall MCL_FUTURE%s)", c->pid,
		(pe->mlock_future & MCL_ONFAULT) ? " | MCL_ONFAULT" : "");
	return 0;
}

/*
 * cs-restore goes back to the working and root directories by path: path
 * (the /proc/PID/WHAT link) must name that directory now, not one mounted
 * over it or put in its place. 0, or -1 with one line.
 */
static int same_dir_by_path(pid_t pid, const char *what, const char *path)
{
	char proc[64];
	struct stat real, named;

	snprintf(proc, sizeof(proc), "/proc/%d/%s", pid, what);
	if (stat(proc, &real))
		return pr_perror("cannot stat %s", proc);
	if (stat(path, &named) == 0 && named.st_dev == real.st_dev && named.st_ino == real.st_ino)
		return 0;
	return pr_err("the %s directory %s of %d is not what that path names now (a mount over it?): it cannot "
		      "be restored", strcmp(what, "cwd") ? "root" : "working", path, pid);
}

static char *link_of(pid_t pid, const char *what)
{
	char path[64], buf[4096];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, what);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n < 0) {
		pr_perror("cannot read %s", path);
		return NULL;
	}
	buf[n] = 0;
	return xstrdup(buf);
}

/*
 * A process that leads a process group or session whose other members stay
 * behind (outside the dumped tree) keeps its PID in use as their group or
 * session ID once killed: the restore could never get that PID back.
 * Refuse such a dump.
 */
static int check_group_members(struct dump_ctx *c, pid_t pgid, pid_t sid)
{
	struct dirent *de;
	DIR *d;

	if (pgid != c->pid && sid != c->pid)
		return 0;
	d = opendir("/proc");
	if (!d)
		return pr_perror("cannot list /proc");
	while ((de = readdir(d))) {
		unsigned long long f[53];
		pid_t p = parse_pid(de->d_name);

		if (p <= 0 || p == c->pid || tree_has(c->tree, p) || proc_stat_fields(p, f))
			continue;
		if ((pid_t)f[5] == c->pid || (pid_t)f[6] == c->pid) {
			closedir(d);
			return pr_err("process %d leads the %s that process %d belongs to: its PID would stay "
				      "in use; not supported yet", c->pid, (pid_t)f[5] == c->pid ? "process group" : "session", p);
		}
	}
	closedir(d);
	return 0;
}

/* struct sigaction as rt_sigaction(2) reads it on x86-64 (the kernel's, sigsetsize 8) */
struct ksigaction {
	uint64_t handler, flags, restorer, mask;
};

/* Queue the reads of signals 1..64 (not SIGKILL, SIGSTOP) into b; where[sig]: the result space. */
static int queue_sigactions(struct dump_ctx *c, struct rbatch *b, unsigned long where[65], int idx[65])
{
	for (int sig = 1; sig <= 64; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		where[sig] = rbatch_buf(c, b, sizeof(struct ksigaction));
		if (!where[sig])
			return -1;
		idx[sig] = rbatch_add(b, SYS_rt_sigaction, sig, 0, where[sig], 8, 0, 0);
		if (idx[sig] < 0)
			return -1;
	}
	return 0;
}

static int save_sigactions(struct dump_ctx *c, ProcessEntry *pe, struct rbatch *b, unsigned long where[65],
			   int idx[65])
{
	pe->sigactions = xzalloc(64 * sizeof(*pe->sigactions));
	if (!pe->sigactions)
		return -1;
	for (int sig = 1; sig <= 64; sig++) {
		struct ksigaction *ka;
		SigactionEntry *s;
		long ret;

		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		ret = b->call[idx[sig]].ret;
		if (ret)
			return pr_err("cannot read the handler of signal %d (%ld)", sig, ret);
		ka = rbatch_out(c, b, where[sig]);
		if (!ka->handler && !ka->flags && !ka->mask)
			continue;	/* SIG_DFL, nothing set */
		s = xzalloc(sizeof(*s));
		if (!s)
			return -1;
		sigaction_entry__init(s);
		s->sig = sig;
		s->handler = ka->handler;
		s->flags = ka->flags;
		s->restorer = ka->restorer;
		s->mask = ka->mask;
		pe->sigactions[pe->n_sigactions++] = s;
	}
	return 0;
}

static int add_rlimit(ProcessEntry *pe, int r, const struct rlimit *rl)
{
	RlimitEntry *e = xzalloc(sizeof(*e));

	if (!e)
		return -1;
	rlimit_entry__init(e);
	e->resource = r;
	e->cur = rl->rlim_cur;
	e->max = rl->rlim_max;
	pe->rlimits[pe->n_rlimits++] = e;
	return 0;
}

/*
 * The RLIM_NLIMITS resource limits into pe. Read from here with
 * prlimit64(pid, r, NULL, &old), no remote syscall: allowed when the
 * target's real, effective and saved uids (and gids) all equal our real uid
 * (gid), or with CAP_SYS_RESOURCE in its user namespace (prlimit(2);
 * kernel/sys.c, check_prlimit_permission). Root lacks CAP_SYS_RESOURCE here
 * (KERNEL-FACTS.md): for another uid's process that is EPERM, and the
 * target is asked itself, in batch b (where: RLIM_NLIMITS result slots, idx
 * their calls). Returns 0 (local: *remote = 0; queued: *remote = 1) or -1.
 */
static int read_rlimits(struct dump_ctx *c, ProcessEntry *pe, struct rbatch *b, unsigned long *where, int *idx,
			int *remote)
{
	*remote = 0;
	pe->rlimits = xzalloc(RLIM_NLIMITS * sizeof(*pe->rlimits));
	if (!pe->rlimits)
		return -1;
	for (int r = 0; r < RLIM_NLIMITS; r++) {
		struct rlimit rl;

		if (syscall(SYS_prlimit64, c->pid, r, NULL, &rl)) {
			if (errno != EPERM || r)
				return pr_perror("cannot read rlimit %d of %d", r, c->pid);
			pr_debug("rlimits of %d: prlimit64 from here is EPERM (another uid): asked remotely", c->pid);
			*remote = 1;
			break;
		}
		if (add_rlimit(pe, r, &rl))
			return -1;
	}
	for (int r = 0; *remote && r < RLIM_NLIMITS; r++) {
		where[r] = rbatch_buf(c, b, sizeof(struct rlimit));
		if (!where[r])
			return -1;
		idx[r] = rbatch_add(b, SYS_prlimit64, 0, r, 0, where[r], 0, 0);
		if (idx[r] < 0)
			return -1;
	}
	return 0;
}

static int save_remote_rlimits(struct dump_ctx *c, ProcessEntry *pe, struct rbatch *b, unsigned long *where,
			       int *idx)
{
	for (int r = 0; r < RLIM_NLIMITS; r++) {
		if (b->call[idx[r]].ret)
			return pr_err("cannot read rlimit %d of %d (%ld)", r, c->pid, b->call[idx[r]].ret);
		if (add_rlimit(pe, r, rbatch_out(c, b, where[r])))
			return -1;
	}
	return 0;
}

/* What only the process itself can tell (signal handlers, the parent-death
 * signal, child subreaper, dumpable, securebits, memory-deny-write-execute;
 * rlimits of another uid's process), in one batch of remote syscalls. */
static int dump_remote_state(struct dump_ctx *c, ProcessEntry *pe)
{
	unsigned long sa_at[65] = { 0 }, rl_at[RLIM_NLIMITS], pd_at, sr_at;
	int sa_idx[65] = { 0 }, rl_idx[RLIM_NLIMITS], pd_idx, remote_rl, sr_idx, du_idx, sb_idx, md_idx;
	struct rbatch *b = xzalloc(sizeof(*b));
	uint32_t sig;
	int ret = -1;

	if (!b)
		return -1;
	if (read_rlimits(c, pe, b, rl_at, rl_idx, &remote_rl) || queue_sigactions(c, b, sa_at, sa_idx))
		goto out;
	pd_at = rbatch_buf(c, b, sizeof(int));
	if (!pd_at || (pd_idx = rbatch_add(b, SYS_prctl, PR_GET_PDEATHSIG, pd_at, 0, 0, 0, 0)) < 0)
		goto out;
	sr_at = rbatch_buf(c, b, sizeof(int));
	if (!sr_at || (sr_idx = rbatch_add(b, SYS_prctl, PR_GET_CHILD_SUBREAPER, sr_at, 0, 0, 0, 0)) < 0 ||
	    (du_idx = rbatch_add(b, SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0, 0, 0)) < 0 ||
	    (sb_idx = rbatch_add(b, SYS_prctl, PR_GET_SECUREBITS, 0, 0, 0, 0, 0)) < 0 ||
	    (md_idx = rbatch_add(b, SYS_prctl, PR_GET_MDWE, 0, 0, 0, 0, 0)) < 0)
		goto out;
	if (rbatch_run(c, &c->pt.t[0], b))
		goto out;
	if ((remote_rl && save_remote_rlimits(c, pe, b, rl_at, rl_idx)) || save_sigactions(c, pe, b, sa_at, sa_idx))
		goto out;
	if (b->call[pd_idx].ret) {
		pr_err("cannot read the parent-death signal of %d (%ld)", c->pid, b->call[pd_idx].ret);
		goto out;
	}
	memcpy(&sig, rbatch_out(c, b, pd_at), sizeof(sig));
	pe->has_pdeath_sig = 1;
	pe->pdeath_sig = sig;
	if (b->call[sr_idx].ret || b->call[du_idx].ret < 0 || b->call[sb_idx].ret < 0 ||
	    (b->call[md_idx].ret < 0 && b->call[md_idx].ret != -EINVAL)) {
		pr_err("cannot read the subreaper, dumpable, securebits or MDWE state of %d (%ld %ld %ld %ld)", c->pid,
		       b->call[sr_idx].ret, b->call[du_idx].ret, b->call[sb_idx].ret, b->call[md_idx].ret);
		goto out;
	}
	memcpy(&sig, rbatch_out(c, b, sr_at), sizeof(sig));
	pe->has_child_subreaper = 1;
	pe->child_subreaper = !!sig;
	pe->has_dumpable = 1;
	pe->dumpable = b->call[du_idx].ret;
	pe->creds->has_securebits = 1;
	pe->creds->securebits = b->call[sb_idx].ret;
	pe->has_mdwe = 1;
	pe->mdwe = b->call[md_idx].ret < 0 ? 0 : b->call[md_idx].ret;	/* EINVAL: a kernel without it */
	ret = 0;
out:
	free(b);
	return ret;
}

int dump_process(struct dump_ctx *c)
{
	ProcessEntry *pe = xzalloc(sizeof(*pe));
	unsigned long long st[53];
	char buf[256], *status;

	if (!pe)
		return -1;
	process_entry__init(pe);
	c->proc = pe;
	if (proc_stat_fields(c->pid, st))
		return -1;
	pe->pid = c->pid;
	pe->ppid = st[4];
	pe->pgid = st[5];
	pe->sid = st[6];
	pe->has_exit_signal = 1;
	pe->exit_signal = st[38];
	if (check_group_members(c, pe->pgid, pe->sid))
		return -1;
	pe->has_stopped = 1;
	pe->stopped = c->was_stopped;
	pe->n_threads = c->pt.nr;
	pe->threads = xzalloc(c->pt.nr * sizeof(uint32_t));
	if (!pe->threads)
		return -1;
	for (int i = 0; i < c->pt.nr; i++)
		pe->threads[i] = c->pt.t[i].tid;
	snprintf(buf, sizeof(buf), "/proc/%d/comm", c->pid);
	{
		char *comm = read_file_at(AT_FDCWD, buf, NULL, 64);

		if (!comm)
			return pr_perror("cannot read %s", buf);
		comm[strcspn(comm, "\n")] = 0;
		pe->comm = comm;
	}
	snprintf(buf, sizeof(buf), "/proc/%d/personality", c->pid);
	{
		char *p = read_file_at(AT_FDCWD, buf, NULL, 64);

		if (!p)
			return pr_perror("cannot read %s", buf);
		pe->personality = strtoul(p, NULL, 16);
		free(p);
	}
	pe->cwd = link_of(c->pid, "cwd");
	pe->root = link_of(c->pid, "root");
	if (!pe->cwd || !pe->root)
		return -1;
	if (strstr(pe->cwd, " (deleted)"))
		return pr_err("the working directory %s of %d was deleted: it cannot be restored", pe->cwd, c->pid);
	/* the links read as paths from our root, "/": a chroot's is its host path */
	if (strstr(pe->root, " (deleted)"))
		return pr_err("the root directory %s of %d (chroot) was deleted: it cannot be restored",
			      pe->root, c->pid);
	if (same_dir_by_path(c->pid, "cwd", pe->cwd) || same_dir_by_path(c->pid, "root", pe->root))
		return -1;
	snprintf(buf, sizeof(buf), "/proc/%d/oom_score_adj", c->pid);
	{
		char *p = read_file_at(AT_FDCWD, buf, NULL, 64);

		if (p) {
			pe->has_oom_score_adj = 1;
			pe->oom_score_adj = atoi(p);
			free(p);
		}
	}
	snprintf(buf, sizeof(buf), "/proc/%d/status", c->pid);
	status = read_file_at(AT_FDCWD, buf, NULL, 1 << 20);
	if (!status)
		return pr_perror("cannot read %s", buf);
	if (status_key(status, "Umask", buf, sizeof(buf))) {
		free(status);
		return pr_err("no Umask in /proc/%d/status", c->pid);
	}
	pe->umask = strtoul(buf, NULL, 8);
	/* redis disables THP for itself (PR_SET_THP_DISABLE) where it is "always" */
	if (status_key(status, "THP_enabled", buf, sizeof(buf)) == 0 && !strcmp(buf, "0")) {
		pe->has_thp_disabled = 1;
		pe->thp_disabled = 1;
	}
	if (dump_creds(c, pe, status) || dump_remote_state(c, pe) || dump_timers(c, pe) ||
	    dump_mlock_future(c, pe, status)) {
		free(status);
		return -1;
	}
	free(status);
	return dump_seccomp(c, pe) || dump_sched(c) || dump_procattr(c, pe) ? -1 : 0;
}
