/*
 * pidfds (FD_PIDFD): made once every process of the tree exists and every
 * process has its threads (restore_all: after the memory and threads of
 * all, before the rest), with remote syscalls in the owner's stub:
 * pidfd_open(2) on the restored process, or with PIDFD_THREAD on the
 * restored thread, with the saved PIDFD_NONBLOCK (O_NONBLOCK) and
 * PIDFD_THREAD (O_EXCL) flags, then moved to the saved number. stub_files
 * leaves their numbers free, and leaves out the registrations of pidfds in
 * epoll sets: they are made here, by a remote epoll_ctl(2), once the
 * pidfds exist (the whole of a set that holds a fired one-shot pidfd, so
 * that it can be fired while the set reports nothing else). In a --pidns
 * namespace the stub resolves the PID (TID) there, which is the one the
 * images hold.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/syscall.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "util.h"
#include "restore.h"

/* pidfd_open(2): PIDFD_NONBLOCK is O_NONBLOCK, PIDFD_THREAD (6.9) O_EXCL */
#define PIDFD_FLAGS (O_NONBLOCK | O_EXCL)

/* Whether id is a process of t (thread 0) or, thread set, a thread of a live one. */
static int in_tree(const struct rst_tree *t, uint32_t id, int thread)
{
	for (size_t i = 0; t && i < t->nr; i++) {
		const ProcessEntry *pe = t->p[i]->proc;

		if (pe->pid == id)
			return 1;
		for (size_t k = 1; thread && !pe->zombie && k < pe->n_threads; k++)
			if (pe->threads[k] == id)
				return 1;
	}
	return 0;
}

int check_pidfd(struct rst_ctx *c, const FdEntry *e)
{
	if (e->has_peer_fd || e->has_from_pid || e->pidfd_reaped)
		return 0;
	if (!e->has_pidfd_pid)
		return pr_err("fd %u (pidfd): no process in files.img", e->fd);
	if (in_tree(c->tree, e->pidfd_pid, !!(e->flags & O_EXCL)))
		return 0;
	return pr_err("fd %u (pidfd): refers to %s %u, which is not in pstree.img", e->fd,
		      (e->flags & O_EXCL) ? "thread" : "process", e->pidfd_pid);
}

int pidfd_watched(const struct rst_ctx *c, uint32_t tfd)
{
	for (size_t i = 0; i < c->nr_fds; i++)
		if (c->fds[i]->fd == tfd)
			return c->fds[i]->type == FD_PIDFD;
	return 0;
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
		return pr_err("process %d: cannot open pidfd %u on %s %u again: %s", c->pid, e->fd,
			      e->has_from_pid || !(e->flags & O_EXCL) ? "process" : "thread",
			      e->has_from_pid ? e->from_pid : e->pidfd_pid, strerror(-r));
	if (put_in_place(c, e, r))
		return -1;
	pr_info("process %d: fd %u is a pidfd of %s %u again", c->pid, e->fd, (e->flags & O_EXCL) ? "thread" : "process",
		e->pidfd_pid);
	return 0;
}

int pidfd_epoll_late(const struct rst_ctx *c, const FdEntry *e)
{
	for (size_t t = 0; t < e->n_tfds; t++)
		if (epoll_fired(e->tfds[t]->events) && pidfd_watched(c, e->tfds[t]->tfd))
			return 1;
	return 0;
}

/* Remote epoll_ctl(set, op, r's fd) with events; the epoll_event (12 bytes,
 * packed on x86_64) goes through the scratch page. 0, or -1 (logged). */
static int remote_ctl(struct rst_ctx *c, const FdEntry *set, int op, const EpollTfdEntry *r, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u64 = r->data };
	long ret;

	if (scratch_write(c, 0, &ev, sizeof(ev)))
		return -1;
	ret = rsys(c, 0, SYS_epoll_ctl, set->fd, op, r->tfd, SCRATCH(c), 0, 0);
	if (ret < 0)
		return pr_err("process %d: cannot register fd %u in epoll set %u: %s", c->pid, r->tfd, set->fd,
			      strerror(-ret));
	return 0;
}

/*
 * Fired one-shot registrations of late set e, made first while it is
 * empty, as epoll_disarmed (files.c) does in the stub: added armed for
 * everything and fired with a remote epoll_wait (its event to the scratch
 * page), or, ready for nothing, set back to the saved bits.
 */
static int remote_disarmed(struct rst_ctx *c, const FdEntry *e)
{
	for (size_t t = 0; t < e->n_tfds; t++) {
		const EpollTfdEntry *r = e->tfds[t];
		long n;

		if (!epoll_fired(r->events))
			continue;
		if (remote_ctl(c, e, EPOLL_CTL_ADD, r, r->events | EPOLL_ALL_EVENTS))
			return -1;
		n = rsys(c, 0, SYS_epoll_wait, e->fd, SCRATCH(c) + 64, 1, 0, 0, 0);
		if (n != 1 && remote_ctl(c, e, EPOLL_CTL_MOD, r, r->events))
			return -1;
	}
	return 0;
}

/*
 * The registrations of pidfds in the epoll sets that c made (not those it
 * took from a lower fd or an earlier process: made there), in files.img
 * order, with a remote epoll_ctl; the whole of a set that holds a fired
 * one-shot pidfd (pidfd_epoll_late), which stub_files left empty.
 */
static int register_pidfds(struct rst_ctx *c)
{
	for (size_t k = 0; k < c->nr_fds; k++) {
		const FdEntry *e = c->fds[k];
		int late;

		if (e->type != FD_EPOLL || e->has_peer_fd || e->has_from_pid)
			continue;
		late = pidfd_epoll_late(c, e);
		if (late && remote_disarmed(c, e))
			return -1;
		for (size_t t = 0; t < e->n_tfds; t++) {
			const EpollTfdEntry *r = e->tfds[t];

			if (epoll_fired(r->events) || (!late && !pidfd_watched(c, r->tfd)))
				continue;
			if (remote_ctl(c, e, EPOLL_CTL_ADD, r, r->events))
				return -1;
		}
		if (late)
			pr_info("process %d: epoll set %u filled: %zu registrations, a fired one-shot pidfd among them",
				c->pid, e->fd, e->n_tfds);
	}
	return 0;
}

int restore_pidfds(struct rst_tree *t)
{
	for (size_t i = 0; i < t->nr; i++) {
		struct rst_ctx *c = t->p[i];

		for (size_t k = 0; !c->proc->zombie && k < c->nr_fds; k++)
			if (c->fds[k]->type == FD_PIDFD && !pidfd_in_stub(c->fds[k]) && make_pidfd(c, c->fds[k]))
				return -1;
	}
	/* every pidfd exists: the epoll sets of every process can watch them */
	for (size_t i = 0; i < t->nr; i++)
		if (!t->p[i]->proc->zombie && register_pidfds(t->p[i]))
			return -1;
	return 0;
}
