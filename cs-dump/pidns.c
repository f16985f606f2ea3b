/*
 * Dumping again a tree that cs-restore --pidns restored: its processes live
 * in a PID namespace one level below ours whose init (PID 1 there) is
 * cs-restore's own init ("cs-init", cs-restore/pidns.c).
 *
 * cs-dump keeps working with our PIDs (ptrace, /proc, pidfd_open, kcmp all
 * take them), and the images get the PIDs the processes have inside the
 * namespace: the values the program itself sees and may have stored
 * (getpid(2), gettid(2), getpgid(2)). Those are the last number of the
 * NSpid, NSpgid and NSsid lines of /proc/PID/status (proc(5); one number per
 * PID namespace level, from that of the /proc mount down to the process's
 * own; 0 when the group or session leader is not visible down there).
 * pidns_translate rewrites every PID of the collected entries once they are
 * all collected, while the tree is still frozen (threads cannot go away).
 *
 * Values the target hands us through the kernel in its own terms need no
 * translation: the si_pid of queued signals (the kernel fills it in the
 * receiver's namespace when the signal is sent), the PID a CPU-time clock
 * id encodes (clock_getcpuclockid(3): the caller's namespace). Values read
 * from our /proc are ours: /proc/PID/task, /proc/PID/stat, the "notify:
 * .../tid.N" of /proc/PID/timers, /proc/locks.
 *
 * inventory.img says pidns: its PIDs mean nothing here, cs-restore wants
 * --pidns for it. --track-mem is unchanged: its holder knows the target by
 * our PID and start time; only the parent's root_pid, an inside PID, is
 * compared with dump_vpid.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "pidns: "
#include "log.h"
#include "util.h"
#include "dump.h"
#include "inventory.pb-c.h"

static struct {
	int on;			/* the tree is in a namespace of cs-restore --pidns */
	pid_t init;		/* its init, by our PID */
	char ns[64];		/* readlink of its /proc/PID/ns/pid */
	pid_t root_vpid;	/* the root, inside */
} pns;

/* Fields of line key of /proc/PID[/task/TID]/status into v (at most max): how many, -1 if none. */
static int status_nums(pid_t pid, pid_t tid, const char *key, long *v, int max)
{
	char buf[256], *p, *end;
	int n = 0;

	if (proc_status_line(pid, tid, key, buf, sizeof(buf)))
		return -1;
	for (p = buf; n < max; p = end) {
		long x = strtol(p, &end, 10);

		if (end == p)
			break;
		v[n++] = x;
	}
	return n;
}

static int ns_link(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", pid);
	n = readlink(path, buf, len - 1);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return 0;
}

/* Is host process pid cs-restore's init of a --pidns namespace? */
static int is_cs_init(pid_t pid)
{
	char path[64], exe[PATH_MAX], *comm, *base;
	ssize_t n;
	int ok;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	comm = read_file_at(AT_FDCWD, path, NULL, 64);
	ok = comm && !strcmp(comm, "cs-init\n");
	free(comm);
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (!ok || n < 0)
		return 0;
	exe[n] = 0;
	base = strrchr(exe, '/');
	base = base ? base + 1 : exe;
	return !strcmp(base, "cs-restore") || !strcmp(base, "cs-restore (deleted)");
}

int pidns_detect(pid_t pid)
{
	long v[8], pp[2];
	char ns[64], cur_ns[64];
	pid_t cur = pid;

	if (status_nums(pid, 0, "NSpid", v, 8) != 2 || ns_link(pid, ns, sizeof(ns)))
		return 0;	/* ours, or deeper: check_target says why not */
	/* up the parents, still in the namespace, to its PID 1 */
	for (int depth = 0; depth < 4096; depth++) {
		long nv[8];

		if (status_nums(cur, 0, "NSpid", nv, 8) != 2 || ns_link(cur, cur_ns, sizeof(cur_ns)) ||
		    strcmp(cur_ns, ns))
			return 0;	/* left it without meeting its init (entered by setns(2)) */
		if (nv[1] == 1)
			break;
		if (status_nums(cur, 0, "PPid", pp, 1) != 1 || pp[0] <= 0)
			return 0;
		cur = pp[0];
	}
	if (!is_cs_init(cur))
		return 0;
	if (cur == pid)
		return pr_err("process %d is the init of a PID namespace made by cs-restore --pidns: dump the "
			      "restored tree's root, its child", pid);
	pns.on = 1;
	pns.init = cur;
	snprintf(pns.ns, sizeof(pns.ns), "%s", ns);
	pns.root_vpid = v[1];
	pr_info("process %d is process %ld in the PID namespace %s of cs-restore --pidns (its init is %d here): "
		"the images get the PIDs inside", pid, v[1], ns, cur);
	return 0;
}

pid_t pidns_ref(void)
{
	return pns.on ? pns.init : 0;
}

int pidns_check_target(pid_t pid, const char *nspid)
{
	char ns[64];
	long v[8];

	if (!pns.on)
		return pr_err("process %d is in a PID namespace below ours (NSpid %s) whose init is not the one "
			      "of cs-restore --pidns: dumping a process inside such a namespace is not supported yet",
			      pid, nspid);
	if (status_nums(pid, 0, "NSpid", v, 8) != 2 || ns_link(pid, ns, sizeof(ns)) || strcmp(ns, pns.ns))
		return pr_err("process %d is in a PID namespace (NSpid %s) other than that of the tree's root (%s): "
			      "not supported yet", pid, nspid, pns.ns);
	return 0;
}

pid_t dump_vpid(pid_t pid, pid_t tid)
{
	long v[8];

	if (!pns.on)
		return tid ? tid : pid;
	/* two levels: ours and the namespace's; one: outside it, not seen there */
	return status_nums(pid, tid, "NSpid", v, 8) == 2 ? v[1] : 0;
}

/* The inside value of id line key (NSpgid, NSsid) of host process pid; 0: not seen there. */
static uint32_t inner_id(pid_t pid, const char *key)
{
	long v[8];

	return status_nums(pid, 0, key, v, 8) == 2 ? v[1] : 0;
}

static ProcessEntry *entry_of(struct tree_node *n)
{
	return n->c ? n->c->proc : n->zpe;
}

/*
 * The session and foreground group a pty pair's slave is the controlling
 * terminal of: TIOCGSID and TIOCGPGRP answered them in our namespace
 * (pid_vnr of the caller, drivers/tty/tty_jobctrl.c). The session leader is
 * in the tree (tree_check_ptys); the group is that of a process of the tree.
 * Before the entries' own pgid and sid are rewritten: they are still ours.
 */
static int translate_ptys(struct dump_tree *t, const pid_t *vp)
{
	for (size_t i = 0; i < t->nr; i++) {
		struct dump_ctx *c = t->n[i].c;

		for (size_t k = 0; c && k < c->nr_fds; k++) {
			PtyEntry *p = c->fds[k]->pty;
			uint32_t sid = 0, pgrp = 0;

			if (!p || !p->has_sid)
				continue;
			for (size_t j = 0; j < t->nr && !sid; j++)
				if (t->n[j].pid == (pid_t)p->sid)
					sid = vp[j];
			for (size_t j = 0; p->has_fg_pgrp && j < t->nr && !pgrp; j++)
				if (entry_of(&t->n[j])->pgid == p->fg_pgrp)
					pgrp = inner_id(t->n[j].pid, "NSpgid");
			if (!sid || (p->has_fg_pgrp && !pgrp))
				return pr_err("fd %u of process %d: the session %u or foreground group %u of "
					      "/dev/pts/%u has no ID in the namespace", c->fds[k]->fd, c->pid, p->sid,
					      p->fg_pgrp, p->index);
			pr_debug("/dev/pts/%u: session %u is %u inside, foreground group %u is %u", p->index, p->sid,
				 sid, p->fg_pgrp, pgrp);
			p->sid = sid;
			if (p->has_fg_pgrp)
				p->fg_pgrp = pgrp;
		}
	}
	return 0;
}

int pidns_translate(struct dump_tree *t)
{
	pid_t *vp;

	if (!pns.on)
		return 0;
	vp = xzalloc(t->nr * sizeof(*vp));
	if (!vp)
		return -1;
	for (size_t i = 0; i < t->nr; i++)
		if (!(vp[i] = dump_vpid(t->n[i].pid, 0))) {
			free(vp);
			return pr_err("process %d has no PID in the namespace (NSpid)", t->n[i].pid);
		}
	if (translate_ptys(t, vp)) {
		free(vp);
		return -1;
	}
	for (size_t i = 0; i < t->nr; i++) {
		struct dump_ctx *c = t->n[i].c;
		ProcessEntry *pe = entry_of(&t->n[i]);
		pid_t host = t->n[i].pid;
		uint32_t *htid = xmalloc((pe->n_threads ? pe->n_threads : 1) * sizeof(*htid));

		if (!htid)
			goto fail;
		memcpy(htid, pe->threads, pe->n_threads * sizeof(*htid));
		pe->pid = vp[i];
		pe->ppid = dump_vpid(pe->ppid, 0);	/* the root's: 1, the init */
		pe->pgid = inner_id(host, "NSpgid");
		pe->sid = inner_id(host, "NSsid");
		for (size_t k = 0; k < pe->n_threads; k++) {
			pe->threads[k] = c ? dump_vpid(host, htid[k]) : vp[i];
			if (!pe->threads[k]) {
				free(htid);
				pr_err("thread %u of process %d has no TID in the namespace (NSpid)", htid[k], host);
				goto fail;
			}
			if (c && k < (size_t)c->pt.nr && c->cores && c->cores[k])
				c->cores[k]->tid = pe->threads[k];
		}
		pr_debug("process %d is %u inside: parent %u, group %u, session %u", host, pe->pid, pe->ppid,
			 pe->pgid, pe->sid);
		for (size_t j = 0; j < pe->n_posix_timers; j++) {
			PosixTimerEntry *pt = pe->posix_timers[j];

			for (size_t k = 0; pt->has_tid && k < pe->n_threads; k++)
				if (htid[k] == pt->tid) {
					pt->tid = pe->threads[k];
					break;
				}
		}
		free(htid);
		if (!c)
			continue;
		for (size_t k = 0; k < c->nr_fds; k++) {
			FdEntry *e = c->fds[k];

			for (size_t j = 0; e->has_from_pid && j < t->nr; j++)
				if (t->n[j].pid == (pid_t)e->from_pid) {
					e->from_pid = vp[j];
					break;
				}
		}
		for (size_t k = 0; k < c->nr_locks; k++)
			if (c->locks[k]->has_pid && c->locks[k]->pid > 0)
				c->locks[k]->pid = dump_vpid(c->locks[k]->pid, 0);
	}
	free(vp);
	return 0;
fail:
	free(vp);
	return -1;
}

void pidns_inventory(InventoryEntry *inv)
{
	if (!pns.on)
		return;
	inv->root_pid = pns.root_vpid;
	inv->has_pidns = inv->pidns = 1;
}
