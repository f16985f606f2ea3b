/*
 * Named FIFOs, opened again by their path, and the capacity of every pipe.
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
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

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
