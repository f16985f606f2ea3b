/*
 * Named FIFOs, opened again by their path, the capacity of every pipe, and
 * --inherit-fd: a pipe end whose other end was outside the dumped tree
 * taken from cs-restore's own descriptors instead of a new pipe.
 *
 * Opening a FIFO read-only waits for a writer, write-only waits for a
 * reader, and write-only with O_NONBLOCK fails with ENXIO without one
 * (fifo(7), open(2)). An O_RDWR open never waits: it is both. So the stub
 * first opens the FIFO O_RDWR (the holder), which makes every later open of
 * it, with O_NONBLOCK added, succeed at once; it refills the object through
 * the holder and closes it. The fd's own O_NONBLOCK comes back from the
 * saved flags with F_SETFL in stub_files.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define LOG_PREFIX "fifo: "
#include "log.h"
#include "util.h"
#include "pipes.h"
#include "restore.h"

int check_fifo(const FdEntry *e)
{
	struct stat st;

	if (!e->path)
		return pr_err("fd %u: named FIFO without a path in files.img", e->fd);
	if (stat(e->path, &st)) {
		if (errno == ENOENT)
			return pr_err("fd %u: named FIFO %s is gone: cannot open it again", e->fd, e->path);
		return pr_perror("fd %u: cannot stat named FIFO %s", e->fd, e->path);
	}
	if (!S_ISFIFO(st.st_mode))
		return pr_err("fd %u: %s is not a named FIFO any more (mode %o): cannot open it again", e->fd,
			      e->path, (unsigned)(st.st_mode & S_IFMT));
	return 0;
}

int pipe_set_size(int fd, const FdEntry *e)
{
	int now = fcntl(fd, F_GETPIPE_SZ);

	if (!e->has_pipe_size || now == (int)e->pipe_size)
		return 0;
	/* the kernel rounds up to a power-of-two number of pages: the same
	 * request gives the same size (fcntl(2), pipe_set_size in fs/pipe.c) */
	return fcntl(fd, F_SETPIPE_SZ, e->pipe_size) < 0 ? -1 : 0;
}

/*
 * Put e's saved bytes into the FIFO that holder (O_RDWR) opens. When the
 * FIFO holds bytes already, another process kept it open since the dump and
 * the kernel kept them: nothing is added if they start with the saved ones
 * (bytes written after the dump may follow), and the restore stops if they
 * do not, rather than mix two streams. 0, or -1 with err set.
 */
static int fifo_refill(const FdEntry *e, int holder, char *err, size_t len)
{
	size_t saved = e->has_pipe_data ? e->pipe_data.len : 0;
	int queued = 0;

	if (ioctl(holder, FIONREAD, &queued)) {
		snprintf(err, len, "fd %u: cannot count the bytes in named FIFO %s: %m", e->fd, e->path);
		return -1;
	}
	if (queued) {
		void *buf;
		size_t n;
		int same;

		if (pipe_peek(holder, &buf, &n, NULL)) {
			snprintf(err, len, "fd %u: cannot read the bytes in named FIFO %s: %m", e->fd, e->path);
			return -1;
		}
		same = n >= saved && (!saved || !memcmp(buf, e->pipe_data.data, saved));
		free(buf);
		if (same)
			return 0;
		snprintf(err, len, "fd %u: named FIFO %s holds %d bytes that do not start with the %zu saved ones "
			 "(another process has it open): refusing to mix them", e->fd, e->path, queued, saved);
		return -1;
	}
	if (!e->has_pipe_data || !e->pipe_data.len)
		return 0;
	if ((size_t)fcntl(holder, F_GETPIPE_SZ) < e->pipe_data.len)
		fcntl(holder, F_SETPIPE_SZ, e->pipe_data.len);
	/* one non-blocking write into an empty pipe large enough takes all */
	if (write_all(holder, e->pipe_data.data, e->pipe_data.len)) {
		snprintf(err, len, "fd %u: cannot refill named FIFO %s with %zu bytes: %m", e->fd, e->path,
			 e->pipe_data.len);
		return -1;
	}
	return 0;
}

int stub_fifo_fd(const FdEntry *e, char *err, size_t len)
{
	struct stat hs, fs;
	int holder, fd;

	holder = open(e->path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (holder < 0) {
		snprintf(err, len, "fd %u: cannot open named FIFO %s: %m", e->fd, e->path);
		return -1;
	}
	fd = open(e->path, (e->flags & O_ACCMODE) | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 || fstat(holder, &hs) || fstat(fd, &fs) || !S_ISFIFO(hs.st_mode) || hs.st_ino != fs.st_ino ||
	    hs.st_dev != fs.st_dev) {
		if (fd < 0)
			snprintf(err, len, "fd %u: cannot open named FIFO %s: %m", e->fd, e->path);
		else
			snprintf(err, len, "fd %u: %s changed while it was opened: not the named FIFO it was",
				 e->fd, e->path);
		goto err;
	}
	/* the first fd of each FIFO object carries its size and bytes */
	if (e->has_pipe_size && pipe_set_size(holder, e)) {
		snprintf(err, len, "fd %u: cannot set the size of named FIFO %s to %u bytes: %m", e->fd, e->path,
			 e->pipe_size);
		goto err;
	}
	if ((e->has_pipe_size || e->has_pipe_data) && fifo_refill(e, holder, err, len))
		goto err;
	close(holder);
	return fd;
err:
	if (fd >= 0)
		close(fd);
	close(holder);
	return -1;
}

/* Digits at s, at most max, into *v; *end after them. 0 if none or too big. */
static int parse_decimal(const char *s, const char **end, unsigned long long max, unsigned long long *v)
{
	unsigned long long n = 0;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (max - (unsigned)(*p - '0')) / 10)
			return 0;
		n = n * 10 + (unsigned)(*p - '0');
	}
	*end = p;
	*v = n;
	return p > s;
}

int inherit_fd_parse(const char *arg, struct inherit_fd **list, size_t *nr)
{
	unsigned long long ino = 0, fd = 0;
	struct inherit_fd *l;
	const char *s = arg;
	int ok;

	/* digits only: no sign, no blank, no overflow, inode not 0 */
	ok = !strncmp(s, "fd[", 3) && parse_decimal(s + 3, &s, INT_MAX, &fd) && !strncmp(s, "]:pipe:[", 8) &&
	     parse_decimal(s + 8, &s, ULLONG_MAX, &ino) && ino && !strcmp(s, "]");
	if (!ok) {
		fprintf(stderr, "cs-restore: invalid --inherit-fd '%s' (want fd[N]:pipe:[INODE])\n", arg);
		return -1;
	}
	/* now, before cs-restore opens anything that could take that number */
	if (fcntl((int)fd, F_GETFD) < 0) {
		fprintf(stderr, "cs-restore: --inherit-fd %s: cs-restore has no fd %llu\n", arg, fd);
		return -1;
	}
	l = realloc(*list, (*nr + 1) * sizeof(*l));
	if (!l) {
		fprintf(stderr, "cs-restore: out of memory\n");
		return -1;
	}
	l[*nr].fd = (int)fd;
	l[*nr].ino = ino;
	*list = l;
	(*nr)++;
	return 0;
}

static const char *accmode_name(int fl)
{
	if (fl < 0)
		return "not open";
	switch (fl & O_ACCMODE) {
	case O_RDONLY:
		return "read-only";
	case O_WRONLY:
		return "write-only";
	default:
		return "read-write";
	}
}

int check_inherit_fds(struct rst_ctx *c, struct rst_tree *t)
{
	for (size_t k = 0; k < c->nr_inherit; k++) {
		const struct inherit_fd *h = &c->inherit[k];
		int found = 0, alone = 0, saved = O_RDONLY, mode;
		struct stat st;

		if (c->pidns)
			return pr_err("--inherit-fd fd[%d]:pipe:[%llu]: not supported with --pidns", h->fd,
				      (unsigned long long)h->ino);
		for (size_t j = 0; j < k; j++)
			if (c->inherit[j].ino == h->ino)
				return pr_err("--inherit-fd: pipe:[%llu] is named twice", (unsigned long long)h->ino);
		if (fstat(h->fd, &st))
			return pr_perror("--inherit-fd fd[%d]:pipe:[%llu]: cs-restore has no fd %d", h->fd,
					 (unsigned long long)h->ino, h->fd);
		if (!S_ISFIFO(st.st_mode))
			return pr_err("--inherit-fd fd[%d]:pipe:[%llu]: fd %d of cs-restore is not a pipe or FIFO",
				      h->fd, (unsigned long long)h->ino, h->fd);
		mode = fcntl(h->fd, F_GETFL);
		for (size_t i = 0; i < t->nr; i++) {
			struct rst_ctx *p = t->p[i];

			for (size_t j = 0; !p->proc->zombie && j < p->nr_fds; j++)
				if (p->fds[j]->type == FD_PIPE && p->fds[j]->has_ino && p->fds[j]->ino == h->ino) {
					found = 1;
					alone |= p->fds[j]->has_pipe_alone && p->fds[j]->pipe_alone;
					saved = (int)(p->fds[j]->flags & O_ACCMODE);
				}
		}
		if (!found)
			return pr_err("--inherit-fd fd[%d]:pipe:[%llu]: no pipe with inode %llu in the images", h->fd,
				      (unsigned long long)h->ino, (unsigned long long)h->ino);
		if (!alone)
			return pr_err("--inherit-fd fd[%d]:pipe:[%llu]: both ends of that pipe are in the images",
				      h->fd, (unsigned long long)h->ino);
		/* the process reads or writes it as it did its own end */
		if (mode < 0 || (mode & O_ACCMODE) != saved)
			return pr_err("--inherit-fd fd[%d]:pipe:[%llu]: fd %d of cs-restore is %s, the process had "
				      "the %s end", h->fd, (unsigned long long)h->ino, h->fd, accmode_name(mode),
				      saved == O_WRONLY ? "write" : "read");
		pr_info("pipe:[%llu] will be fd %d of cs-restore", (unsigned long long)h->ino, h->fd);
	}
	return 0;
}

void close_inherited(int fd)
{
	int n;

	if (fd > 2) {
		close(fd);
		return;
	}
	n = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (n >= 0 && n != fd) {
		dup2(n, fd);
		close(n);
	} else if (n < 0) {
		close(fd);
	}
}

int stub_inherited_fd(struct rst_ctx *c, const FdEntry *e, char *err, size_t len)
{
	for (size_t k = 0; k < c->nr_inherit; k++) {
		int pfd, fd;

		if (e->type != FD_PIPE || c->inherit[k].ino != e->ino)
			continue;
		/* the root's stub inherited it, but a child's stub comes after
		 * its parent closed everything: take it from cs-restore */
		pfd = syscall(SYS_pidfd_open, c->restorer, 0);
		fd = pfd < 0 ? -1 : syscall(SYS_pidfd_getfd, pfd, c->inherit[k].fd, 0);
		if (fd < 0)
			snprintf(err, len, "fd %u: cannot take fd %d of cs-restore (--inherit-fd): %m", e->fd,
				 c->inherit[k].fd);
		if (pfd >= 0)
			close(pfd);
		return fd;
	}
	return -2;
}
