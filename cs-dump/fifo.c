/*
 * Pipes and named FIFOs: the unread bytes and the capacity of the pipe
 * object behind an fd, and which fd of the tree puts them back. A FIFO is
 * saved by its path (cs-restore opens it again); a pipe whose other end is
 * outside the tree is saved like any pipe and marked pipe_alone.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define LOG_PREFIX "fifo: "
#include "log.h"
#include "util.h"
#include "pipes.h"
#include "dump.h"

/*
 * The bytes and size of the pipe behind fd of c. A readable end is read
 * through copy, the caller's copy of the target's own fd (pidfd_getfd): no
 * new open file description, so a FIFO sees no extra reader. A write-only
 * end is opened again through /proc/PID/fd/N, read-only and non-blocking:
 * that never blocks (fifo(7)), and tee(2) needs a readable end.
 */
int dump_pipe_data(struct dump_ctx *c, int fd, int copy, FdEntry *e, const char *kind)
{
	char path[64];
	void *buf;
	size_t len;
	int rfd = copy, size, ret;

	if ((e->flags & O_ACCMODE) == O_WRONLY) {
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", c->pid, fd);
		rfd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (rfd < 0)
			return pr_perror("cannot open fd %d (%s) of %d to read it", fd, kind, c->pid);
	}
	ret = pipe_peek(rfd, &buf, &len, &size);
	if (ret)
		pr_perror("cannot read the unread bytes of fd %d (%s) of %d", fd, kind, c->pid);
	if (rfd != copy)
		close(rfd);
	if (ret)
		return -1;
	e->has_pipe_size = 1;
	e->pipe_size = size;
	if (len) {
		e->has_pipe_data = 1;
		e->pipe_data.data = buf;
		e->pipe_data.len = len;
	}
	pr_debug("fd %d (%s): %zu unread bytes, capacity %d", fd, kind, len, size);
	return 0;
}

int dump_fifo(struct dump_ctx *c, int fd, int copy, FdEntry *e, const char *link, const struct stat *st)
{
	/* a FIFO removed while open has no path to open again: its link
	 * reads "PATH (deleted)" and st_nlink is 0 (proc(5)) */
	if (!st->st_nlink)
		return pr_err("fd %d is named FIFO %s, removed while open: not supported", fd, link);
	e->type = FD_FIFO;
	e->path = xstrdup(link);
	if (!e->path)
		return -1;
	e->has_fifo_dev = 1;
	e->fifo_dev = st->st_dev;
	return dump_pipe_data(c, fd, copy, e, "named FIFO");
}

int tree_fifo_fill(struct dump_tree *t)
{
	/* the bytes of a FIFO belong to the object, which every fd on it
	 * shows: keep them (and the capacity) on its first fd only. Fds
	 * that share an open file description are dup'ed or taken with
	 * pidfd_getfd at restore, never refilled. */
	for (size_t i = 0; i < t->nr; i++) {
		struct dump_ctx *c = t->n[i].c;

		for (size_t k = 0; c && k < c->nr_fds; k++) {
			FdEntry *e = c->fds[k];
			int first = 1;

			if (e->type != FD_FIFO || e->has_peer_fd || e->has_from_pid)
				continue;
			for (size_t a = 0; a <= i && first; a++) {
				struct dump_ctx *p = t->n[a].c;

				for (size_t j = 0; p && j < (a == i ? k : p->nr_fds) && first; j++) {
					FdEntry *o = p->fds[j];

					first = !(o->type == FD_FIFO && !o->has_peer_fd && !o->has_from_pid &&
						  o->ino == e->ino && o->fifo_dev == e->fifo_dev);
				}
			}
			if (first)
				continue;
			free(e->pipe_data.data);
			e->pipe_data.data = NULL;
			e->pipe_data.len = 0;
			e->has_pipe_data = e->has_pipe_size = 0;
		}
	}
	return 0;
}
