/*
 * pidfds (pidfd_open(2), clone3(2) CLONE_PIDFD): a descriptor that refers
 * to one process (or, with PIDFD_THREAD, Linux 6.9, one thread). Its
 * /proc/PID/fdinfo/FD has "Pid:" and "NSpid:", the PID in the namespace
 * of the /proc mount (ours), -1 once the process is reaped (fs/pidfs.c,
 * pidfd_show_fdinfo); "flags:" has O_NONBLOCK (PIDFD_NONBLOCK) and, for a
 * thread pidfd, O_EXCL (PIDFD_THREAD; the kernel sets it on the file by
 * hand, measured on 6.18: flags 02004202). A pidfd whose process was
 * reaped (Pid: -1) is saved as such (pidfd_reaped). Otherwise only a pidfd on a process of
 * the dumped tree (alive or a zombie), or a thread pidfd on any thread of
 * a live process of the tree, can be made again: cs-restore opens it with
 * pidfd_open on the restored process (thread). An epoll set may watch a
 * pidfd: cs-restore registers it once the pidfd exists.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "util.h"
#include "dump.h"

int dump_pidfd(struct dump_ctx *c, int fd, FdEntry *e)
{
	char val[64];
	long pid;

	e->type = FD_PIDFD;
	if (proc_fdinfo_field(c->pid, fd, "Pid", val, sizeof(val)))
		return pr_err("fd %d (pidfd): no Pid in its fdinfo", fd);
	pid = strtol(val, NULL, 10);
	if (pid <= 0) {
		/* reaped: nothing of it is left but that it is dead (Pid: -1) */
		e->has_pidfd_reaped = 1;
		e->pidfd_reaped = 1;
		pr_info("fd %d: pidfd of a reaped %s, flags %#o", fd, (e->flags & O_EXCL) ? "thread" : "process",
			e->flags);
		return 0;
	}
	e->has_pidfd_pid = 1;
	e->pidfd_pid = pid;
	pr_info("fd %d: pidfd of %s %ld, flags %#o", fd, (e->flags & O_EXCL) ? "thread" : "process", pid, e->flags);
	return 0;
}

/* The node of t whose process (or, tid set, one of whose threads) is pid, or -1. */
static long node_of(struct dump_tree *t, pid_t pid, int tid)
{
	for (size_t j = 0; j < t->nr; j++) {
		ProcessEntry *pe = t->n[j].c ? t->n[j].c->proc : t->n[j].zpe;

		if (t->n[j].pid == pid)
			return j;
		for (size_t k = 0; tid && pe && k < pe->n_threads; k++)
			if ((pid_t)pe->threads[k] == pid)
				return j;
	}
	return -1;
}

int tree_check_pidfds(struct dump_tree *t)
{
	for (size_t i = 0; i < t->nr; i++) {
		struct dump_ctx *c = t->n[i].c;

		for (size_t k = 0; c && k < c->nr_fds; k++) {
			FdEntry *e = c->fds[k];
			pid_t pid = e->pidfd_pid;
			long j;

			if (e->type != FD_PIDFD || e->has_parked || e->pidfd_reaped)
				continue;
			j = node_of(t, pid, 0);
			if (j >= 0) {
				e->pidfd_pid = dump_vpid(pid, 0);	/* pidns.c: the PID inside, under --pidns */
			} else if ((j = node_of(t, pid, 1)) >= 0 && (e->flags & O_EXCL)) {
				/* a thread pidfd (PIDFD_THREAD) on a thread other than
				 * the leader: made once the threads exist (cs-restore) */
				e->pidfd_pid = dump_vpid(t->n[j].pid, pid);
			} else if (j >= 0) {
				/* pidfd_open(TID, 0) is ENOENT on 6.18: not made by the kernel */
				return pr_err("fd %u of process %d is a process pidfd of thread %d of process %d, "
					      "which is no leader: cannot restore it", e->fd, c->pid, pid, t->n[j].pid);
			} else
				return pr_err("fd %u of process %d is a pidfd of process %d, which is outside the dumped "
					      "tree: cannot restore it", e->fd, c->pid, pid);
			if (!e->pidfd_pid)
				return pr_err("fd %u of process %d: pidfd of %s %d, which has no ID in the "
					      "namespace", e->fd, c->pid, (e->flags & O_EXCL) ? "thread" : "process", pid);
		}
	}
	return 0;
}
