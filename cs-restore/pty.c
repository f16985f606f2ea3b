/*
 * Pseudo-terminal pairs held inside the tree (cs-dump/pty.c). devpts hands
 * out the lowest free index (ida_alloc in fs/devpts/inode.c), so the stub
 * that holds the master opens /dev/ptmx until it gets the saved index and
 * closes the extra masters; an index in use is refused before anything is
 * created. The master is unlocked, the slave's termios, window size and
 * packet mode are set through it (a master's termios ioctls act on its
 * slave). Slaves are opened by path, after their master exists (the
 * master's process comes first in the tree, and a process makes its
 * masters before its other fds). The session leader's stub takes the
 * slave as its controlling terminal (TIOCSCTTY, after its setsid and its
 * fds, before it forks: the other processes of the session inherit it at
 * fork, and only then). Once every stub exists, the leader sets the
 * foreground group (TIOCSPGRP) by a remote syscall: the group may be a
 * later process's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <asm/termbits.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define LOG_PREFIX "pty: "
#include "log.h"
#include "util.h"
#include "restore.h"

#define PTS_MAX 1048576	/* devpts indexes are below 2^20 (NR_UNIX98_PTY_MAX) */

int check_pty(struct rst_ctx *c, const FdEntry *e)
{
	char path[64];
	struct stat st;
	PtyEntry *p = e->pty;

	if (!p || p->index >= PTS_MAX || (p->has_cc && p->cc.len != sizeof(((struct termios2 *)0)->c_cc)))
		return pr_err("fd %u: corrupt pty entry in files.img", e->fd);
	if (e->type != FD_PTY_MASTER || e->has_peer_fd || e->has_from_pid)
		return 0;
	snprintf(path, sizeof(path), "/dev/pts/%u", p->index);
	if (stat(path, &st) == 0)
		return pr_err("fd %u of process %d: %s is taken: cannot make its pseudo-terminal pair again with "
			      "that index", e->fd, c->pid, path);
	if (access("/dev/ptmx", R_OK | W_OK))
		return pr_perror("fd %u of process %d: cannot open /dev/ptmx", e->fd, c->pid);
	return 0;
}

/* The master of e at its saved index, its slave's state set. */
int make_pty_master(const FdEntry *e, char *err, size_t len)
{
	PtyEntry *p = e->pty;
	int *extra = NULL, nr = 0, fd = -1, zero = 0;
	unsigned n;

	for (;;) {
		int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC), *x;

		if (m < 0) {
			snprintf(err, len, "fd %u: cannot open /dev/ptmx: %m", e->fd);
			goto out;
		}
		if (ioctl(m, TIOCGPTN, &n)) {
			snprintf(err, len, "fd %u: cannot read the index of a new pty (TIOCGPTN): %m", e->fd);
			close(m);
			goto out;
		}
		if (n == p->index) {
			fd = m;
			break;
		}
		if (n > p->index || nr > (int)p->index) {
			snprintf(err, len, "fd %u: /dev/pts/%u is taken: cannot make its pseudo-terminal pair again "
				 "(got /dev/pts/%u)", e->fd, p->index, n);
			close(m);
			goto out;
		}
		x = realloc(extra, (nr + 1) * sizeof(int));
		if (!x) {
			snprintf(err, len, "out of memory");
			close(m);
			goto out;
		}
		extra = x;
		extra[nr++] = m;
	}
	if (ioctl(fd, TIOCSPTLCK, &zero)) {
		snprintf(err, len, "fd %u: cannot unlock /dev/pts/%u (TIOCSPTLCK): %m", e->fd, p->index);
		goto fail;
	}
	if (p->has_cc) {
		struct termios2 t;

		memset(&t, 0, sizeof(t));
		t.c_iflag = p->iflag;
		t.c_oflag = p->oflag;
		t.c_cflag = p->cflag;
		t.c_lflag = p->lflag;
		t.c_line = p->line;
		memcpy(t.c_cc, p->cc.data, sizeof(t.c_cc));
		t.c_ispeed = p->ispeed;
		t.c_ospeed = p->ospeed;
		if (ioctl(fd, TCSETS2, &t)) {
			snprintf(err, len, "fd %u: cannot set the termios of /dev/pts/%u (TCSETS2): %m", e->fd,
				 p->index);
			goto fail;
		}
	}
	if (p->has_rows) {
		struct winsize ws = { p->rows, p->cols, p->xpixel, p->ypixel };

		if (ioctl(fd, TIOCSWINSZ, &ws)) {
			snprintf(err, len, "fd %u: cannot set the window size of /dev/pts/%u: %m", e->fd, p->index);
			goto fail;
		}
	}
	if (p->packet) {
		int one = 1;

		if (ioctl(fd, TIOCPKT, &one)) {
			snprintf(err, len, "fd %u: cannot set packet mode on /dev/pts/%u (TIOCPKT): %m", e->fd,
				 p->index);
			goto fail;
		}
	}
	if (p->hup) {
		/* every slave was closed: closing the last one sets TTY_OTHER_CLOSED (pty_close) */
		char path[64];
		int s;

		snprintf(path, sizeof(path), "/dev/pts/%u", p->index);
		s = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (s < 0) {
			snprintf(err, len, "fd %u: cannot open %s to close it: %m", e->fd, path);
			goto fail;
		}
		close(s);
	}
	if (p->locked) {
		int one = 1;

		if (ioctl(fd, TIOCSPTLCK, &one)) {
			snprintf(err, len, "fd %u: cannot lock /dev/pts/%u again (TIOCSPTLCK): %m", e->fd, p->index);
			goto fail;
		}
	}
	goto out;
fail:
	close(fd);
	fd = -1;
out:
	for (int i = 0; i < nr; i++)
		close(extra[i]);
	free(extra);
	return fd;
}

int make_pty_slave(const FdEntry *e, char *err, size_t len)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/dev/pts/%u", e->pty->index);
	fd = open(path, (e->flags & ~(O_CREAT | O_TRUNC | O_EXCL | O_CLOEXEC)) | O_NOCTTY);
	if (fd < 0)
		snprintf(err, len, "fd %u: cannot open the pty slave %s: %m", e->fd, path);
	else if (e->pty->excl && ioctl(fd, TIOCEXCL)) {
		snprintf(err, len, "fd %u: cannot put %s in exclusive mode (TIOCEXCL): %m", e->fd, path);
		close(fd);
		return -1;
	}
	return fd;
}

static struct rst_ctx *ctx_by_pid(struct rst_tree *t, uint32_t pid)
{
	for (size_t i = 0; i < t->nr; i++)
		if (t->p[i]->proc->pid == pid && !t->p[i]->proc->zombie)
			return t->p[i];
	return NULL;
}

int check_ptys(struct rst_tree *t)
{
	for (size_t i = 0; i < t->nr; i++) {
		struct rst_ctx *c = t->p[i];

		for (size_t k = 0; !c->proc->zombie && k < c->nr_fds; k++) {
			PtyEntry *p = c->fds[k]->pty;
			struct rst_ctx *l;

			if (c->fds[k]->type != FD_PTY_MASTER || !p || !p->has_sid)
				continue;
			l = ctx_by_pid(t, p->sid);
			if (!l || l->proc->sid != p->sid)
				return pr_err("files.img: /dev/pts/%u is the controlling terminal of session %u, which "
					      "no process of the tree leads", p->index, p->sid);
			/* stub_ctty: the leader takes it before it forks */
			if (l->idx < c->idx)
				return pr_err("files.img: /dev/pts/%u is the controlling terminal of session %u, whose "
					      "leader comes before the holder of its master %d", p->index, p->sid, c->pid);
		}
	}
	return 0;
}

/* The master entries of the tree whose slave is the controlling terminal of session sid. */
static const PtyEntry *ctty_of(struct rst_tree *t, uint32_t sid)
{
	for (size_t i = 0; i < t->nr; i++) {
		struct rst_ctx *c = t->p[i];

		for (size_t k = 0; !c->proc->zombie && k < c->nr_fds; k++) {
			FdEntry *e = c->fds[k];

			if (e->type == FD_PTY_MASTER && e->pty && e->pty->has_sid && e->pty->sid == sid &&
			    !e->has_peer_fd && !e->has_from_pid && !e->parked)
				return e->pty;
		}
	}
	return NULL;
}

int stub_ctty(struct rst_ctx *c, char *err, size_t len)
{
	const PtyEntry *p;
	char path[64];
	int fd;

	if (c->proc->sid != c->proc->pid || !(p = ctty_of(c->tree, c->proc->pid)))
		return 0;
	snprintf(path, sizeof(path), "/dev/pts/%u", p->index);
	fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, len, "process %u: cannot open %s to make it its controlling terminal: %m", c->proc->pid,
			 path);
		return -1;
	}
	if (ioctl(fd, TIOCSCTTY, 0)) {
		snprintf(err, len, "process %u: cannot make %s its controlling terminal (TIOCSCTTY): %m",
			 c->proc->pid, path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* In process l (the session leader, /dev/pts/N its controlling terminal since
 * stub_ctty), remotely: the foreground group. */
static int set_fg(struct rst_ctx *l, const PtyEntry *p)
{
	char path[64];
	int32_t pgrp = p->fg_pgrp;
	long fd, r;

	snprintf(path, sizeof(path), "/dev/pts/%u", p->index);
	if (scratch_write(l, 0, path, strlen(path) + 1) || scratch_write(l, 256, &pgrp, sizeof(pgrp)))
		return -1;
	fd = rsys(l, 0, SYS_openat, AT_FDCWD, SCRATCH(l), O_RDWR | O_NOCTTY | O_CLOEXEC, 0, 0, 0);
	if (fd < 0)
		return pr_err("process %d: cannot open %s, its controlling terminal: %s", l->pid, path, strerror(-fd));
	r = rsys(l, 0, SYS_ioctl, fd, TIOCSPGRP, SCRATCH(l) + 256, 0, 0, 0);
	rsys(l, 0, SYS_close, fd, 0, 0, 0, 0, 0);
	if (r)
		return pr_err("process %d: cannot make process group %u the foreground of %s (TIOCSPGRP): %s", l->pid,
			      p->fg_pgrp, path, strerror(-r));
	pr_info("%s is the controlling terminal of session %u, foreground group %u", path, p->sid, p->fg_pgrp);
	return 0;
}

int restore_ttys(struct rst_tree *t)
{
	for (size_t i = 0; i < t->nr; i++) {
		struct rst_ctx *c = t->p[i];
		const PtyEntry *p;

		if (c->proc->zombie || c->proc->sid != c->proc->pid || !(p = ctty_of(t, c->proc->pid)))
			continue;
		if (p->has_fg_pgrp && set_fg(c, p))
			return -1;
	}
	return 0;
}
