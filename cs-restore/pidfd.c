/*
 * pidfds (FD_PIDFD): made once every process of the tree exists (after
 * seize_stubs: the stubs of the children, and the zombies, are there),
 * with remote syscalls in the owner's stub: pidfd_open(2) on the restored
 * process, with the saved PIDFD_NONBLOCK (O_NONBLOCK) and PIDFD_THREAD
 * (O_EXCL) flags, then moved to the saved number. stub_files leaves their
 * numbers free. In a --pidns namespace the stub resolves the PID there,
 * which is the PID the images hold.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "util.h"
#include "restore.h"

/* pidfd_open(2): PIDFD_NONBLOCK is O_NONBLOCK, PIDFD_THREAD (6.9) O_EXCL */
#define PIDFD_FLAGS (O_NONBLOCK | O_EXCL)

int check_pidfd(struct rst_ctx *c, const FdEntry *e)
{
	struct rst_tree *t = c->tree;

	if (e->has_peer_fd || e->has_from_pid)
		return 0;
	if (!e->has_pidfd_pid)
		return pr_err("fd %u (pidfd): no process in files.img", e->fd);
	for (size_t i = 0; t && i < t->nr; i++)
		if (t->p[i]->proc->pid == e->pidfd_pid)
			return 0;
	return pr_err("fd %u (pidfd): refers to process %u, which is not in pstree.img", e->fd, e->pidfd_pid);
}

/* Move the owner's fd r (a temporary) to e's number with e's FD_CLOEXEC. */
static int put_in_place(struct rst_ctx *c, const FdEntry *e, long r)
{
	int cloexec = !!(e->flags & O_CLOEXEC);

	if (r == e->fd)
		r = rsys(c, 0, SYS_fcntl, e->fd, F_SETFD, cloexec ? FD_CLOEXEC : 0, 0, 0, 0);
	else {
		long d = rsys(c, 0, SYS_dup3, r, e->fd, cloexec ? O_CLOEXEC : 0, 0, 0, 0);

		rsys(c, 0, SYS_close, r, 0, 0, 0, 0, 0);
		r = d < 0 ? d : 0;
	}
	if (r < 0)
		return pr_err("process %d: cannot move pidfd %u into place: %s", c->pid, e->fd, strerror(-r));
	return 0;
}

static int make_pidfd(struct rst_ctx *c, const FdEntry *e)
{
	long r;

	if (e->has_peer_fd)
		r = rsys(c, 0, SYS_dup, e->peer_fd, 0, 0, 0, 0, 0);	/* made before: a lower number */
	else if (e->has_from_pid) {
		/* the open file description of an earlier process: made before */
		long p = rsys(c, 0, SYS_pidfd_open, e->from_pid, 0, 0, 0, 0, 0);

		r = p < 0 ? p : rsys(c, 0, SYS_pidfd_getfd, p, e->from_fd, 0, 0, 0, 0);
		if (p >= 0)
			rsys(c, 0, SYS_close, p, 0, 0, 0, 0, 0);
	} else
		r = rsys(c, 0, SYS_pidfd_open, e->pidfd_pid, e->flags & PIDFD_FLAGS, 0, 0, 0, 0);
	if (r < 0)
		return pr_err("process %d: cannot open pidfd %u on process %u again: %s", c->pid, e->fd,
			      e->has_from_pid ? e->from_pid : e->pidfd_pid, strerror(-r));
	if (put_in_place(c, e, r))
		return -1;
	pr_info("process %d: fd %u is a pidfd of %s %u again", c->pid, e->fd, (e->flags & O_EXCL) ? "thread" : "process",
		e->pidfd_pid);
	return 0;
}

int restore_pidfds(struct rst_tree *t)
{
	for (size_t i = 0; i < t->nr; i++) {
		struct rst_ctx *c = t->p[i];

		for (size_t k = 0; !c->proc->zombie && k < c->nr_fds; k++)
			if (c->fds[k]->type == FD_PIDFD && make_pidfd(c, c->fds[k]))
				return -1;
	}
	return 0;
}
