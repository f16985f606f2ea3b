/*
 * File locks (--file-locks): flock, POSIX and OFD locks are taken again on
 * the fds that held them, by remote syscalls in the stub before the process
 * runs. Whether someone else holds a conflicting lock now is tested in the
 * check phase, from open file descriptions of our own that take nothing
 * (F_OFD_GETLK) or let go at once (flock), so that a lock held elsewhere
 * refuses the restore before anything is created.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/syscall.h>

#define LOG_PREFIX "locks: "
#include "log.h"
#include "util.h"
#include "restore.h"

enum { LK_FLOCK = 1, LK_POSIX, LK_OFD };

static const FdEntry *fd_of(struct rst_ctx *c, uint32_t fd)
{
	for (size_t i = 0; i < c->nr_fds; i++)
		if (c->fds[i]->fd == fd)
			return c->fds[i];
	return NULL;
}

/* "the POSIX write lock on bytes 0-9", "the exclusive flock" */
static void describe(const FileLockEntry *l, char *buf, size_t len)
{
	if (l->kind == LK_FLOCK) {
		snprintf(buf, len, "the %s flock", l->type == F_WRLCK ? "exclusive" : "shared");
		return;
	}
	if (l->len)
		snprintf(buf, len, "the %s %s lock on bytes %lld-%lld", l->kind == LK_POSIX ? "POSIX" : "OFD",
			 l->type == F_WRLCK ? "write" : "read", (long long)l->start,
			 (long long)(l->start + l->len - 1));
	else
		snprintf(buf, len, "the %s %s lock on bytes %lld-EOF", l->kind == LK_POSIX ? "POSIX" : "OFD",
			 l->type == F_WRLCK ? "write" : "read", (long long)l->start);
}

int read_locks(struct rst_ctx *c)
{
	struct img *img;
	char n[64];
	int r;

	if (!img_listed(img_pname(n, sizeof(n), "file-locks", c->sfx)))
		return 0;
	img = img_open(c->dirfd, n, MAGIC_FILE_LOCKS);
	if (!img)
		return -1;
	for (;;) {
		FileLockEntry *l, **arr;
		const FdEntry *e;

		r = img_read_msg(img, &file_lock_entry__descriptor, (ProtobufCMessage **)&l);
		if (r <= 0)
			break;
		arr = xrealloc(c->locks, (c->nr_locks + 1) * sizeof(*arr));
		if (!arr) {
			r = -1;
			break;
		}
		c->locks = arr;
		arr[c->nr_locks++] = l;
		e = fd_of(c, l->fd);
		if (l->kind < LK_FLOCK || l->kind > LK_OFD || (l->type != F_RDLCK && l->type != F_WRLCK) ||
		    l->start < 0 || l->len < 0 || !e || (e->has_peer_fd || e->has_from_pid) || (e->type != FD_REG && e->type != FD_CHR)) {
			r = pr_err("file-locks.img: the lock of fd %u is corrupt", l->fd);
			break;
		}
	}
	img_free(img);
	return r < 0 ? -1 : 0;
}

/* Does another process hold a lock that conflicts with l on e's file? 0: no, -1: yes or error (logged). */
static int check_lock(struct rst_ctx *c, const FileLockEntry *l, const FdEntry *e)
{
	const GhostFileEntry *g = ghost_of(c, e);
	char what[96];
	int fd, ret = 0;

	describe(l, what, sizeof(what));
	/* a recreated deleted file is new: nobody can hold it (one linked
	 * again by --link-remap is not: tested through its link); under
	 * --shell-job a terminal is not reopened by its path */
	if ((g && !g->link_remap) || (e->type == FD_CHR && c->shell_job &&
				      (!strncmp(e->path, "/dev/pts/", 9) || !strncmp(e->path, "/dev/tty", 8))))
		return 0;
	fd = open(g ? g->link_remap : e->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return pr_perror("fd %u: cannot open %s to test %s", e->fd, g ? g->link_remap : e->path, what);
	if (l->kind == LK_FLOCK) {
		if (flock(fd, (l->type == F_WRLCK ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0)
			flock(fd, LOCK_UN);
		else if (errno == EWOULDBLOCK)
			ret = pr_err("fd %u: cannot take %s on %s again: another process holds a flock on it",
				     e->fd, what, e->path);
		else
			ret = pr_perror("fd %u: cannot test %s on %s", e->fd, what, e->path);
	} else {
		/* an OFD lock of our own conflicts with a POSIX or OFD lock of anyone */
		struct flock fl = { .l_type = l->type, .l_whence = SEEK_SET, .l_start = l->start, .l_len = l->len };

		if (fcntl(fd, F_OFD_GETLK, &fl))
			ret = pr_perror("fd %u: cannot test %s on %s", e->fd, what, e->path);
		else if (fl.l_type != F_UNLCK) {
			char range[64];

			if (fl.l_len)
				snprintf(range, sizeof(range), "%lld-%lld", (long long)fl.l_start,
					 (long long)(fl.l_start + fl.l_len - 1));
			else
				snprintf(range, sizeof(range), "%lld-EOF", (long long)fl.l_start);
			if (fl.l_pid > 0)
				ret = pr_err("fd %u: cannot take %s on %s again: process %d holds a %s lock on bytes %s",
					     e->fd, what, e->path, fl.l_pid, fl.l_type == F_WRLCK ? "write" : "read",
					     range);
			else
				ret = pr_err("fd %u: cannot take %s on %s again: an OFD %s lock of another process "
					     "holds bytes %s", e->fd, what, e->path,
					     fl.l_type == F_WRLCK ? "write" : "read", range);
		}
	}
	close(fd);
	return ret;
}

int check_locks(struct rst_ctx *c)
{
	for (size_t i = 0; i < c->nr_locks; i++) {
		const FileLockEntry *l = c->locks[i];
		const FdEntry *e = fd_of(c, l->fd);
		char what[96];

		if (!c->file_locks) {
			describe(l, what, sizeof(what));
			return pr_err("fd %u (%s) held %s when dumped: use --file-locks to restore it", e->fd,
				      e->path, what);
		}
		if (check_lock(c, l, e))
			return -1;
	}
	return 0;
}

int restore_locks(struct rst_ctx *c)
{
	for (size_t i = 0; i < c->nr_locks; i++) {
		const FileLockEntry *l = c->locks[i];
		const FdEntry *e = fd_of(c, l->fd);
		char what[96];
		long r;

		describe(l, what, sizeof(what));
		if (l->kind == LK_FLOCK) {
			r = rsys(c, 0, SYS_flock, l->fd, (l->type == F_WRLCK ? LOCK_EX : LOCK_SH) | LOCK_NB, 0, 0, 0, 0);
		} else {
			struct flock fl = { .l_type = l->type, .l_whence = SEEK_SET, .l_start = l->start,
					    .l_len = l->len };

			if (scratch_write(c, 0, &fl, sizeof(fl)))
				return -1;
			r = rsys(c, 0, SYS_fcntl, l->fd, l->kind == LK_POSIX ? F_SETLK : F_OFD_SETLK, SCRATCH(c),
				 0, 0, 0);
		}
		if (r)
			return pr_err("fd %u: cannot take %s on %s again: %s", l->fd, what, e->path,
				      strerror(r < 0 ? -r : EIO));
		pr_info("fd %u: %s on %s taken", l->fd, what, e->path);
	}
	return 0;
}
