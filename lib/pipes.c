/*
 * Pipes and FIFOs: the bytes they hold, read without consuming them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "util.h"
#include "pipes.h"

int pipe_peek(int fd, void **buf, size_t *len, int *size)
{
	int p[2] = { -1, -1 }, sz, e = 0;
	ssize_t n;
	void *b = NULL;

	*buf = NULL;
	*len = 0;
	sz = fcntl(fd, F_GETPIPE_SZ);
	if (sz < 0)
		return -1;
	if (size)
		*size = sz;
	/* the copy must hold all of fd's pipe: the same capacity (raising it
	 * past /proc/sys/fs/pipe-max-size needs CAP_SYS_RESOURCE, which a
	 * pipe of that size already proves someone had) */
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) || fcntl(p[1], F_SETPIPE_SZ, sz) < 0) {
		e = errno;
		goto out;
	}
	n = tee(fd, p[1], sz, SPLICE_F_NONBLOCK);
	if (n < 0) {
		/* EAGAIN: the pipe is empty */
		if (errno != EAGAIN)
			e = errno;
		goto out;
	}
	if (n > 0) {
		b = malloc(n);
		if (!b) {
			e = ENOMEM;
			goto out;
		}
		if (read_all(p[0], b, n) != n) {
			e = errno ? errno : EIO;
			free(b);
			goto out;
		}
		*buf = b;
		*len = n;
	}
out:
	if (p[0] >= 0) {
		close(p[0]);
		close(p[1]);
	}
	errno = e;
	return e ? -1 : 0;
}
