/*
 * The owners of open file descriptions (cs-dump/fown.c): set inside the
 * process with remote fcntl(2) calls, so that the saved IDs are read in the
 * process's own PID namespace, and after its credentials, which the kernel
 * records with the owner (they decide whether it may signal the owner).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>

#define LOG_PREFIX "fown: "
#include "log.h"
#include "restore.h"

int restore_fown(struct rst_ctx *c)
{
	for (size_t i = 0; i < c->nr_fds; i++) {
		const FdEntry *e = c->fds[i];
		struct f_owner_ex own = { .type = e->fown_type, .pid = e->fown_id };
		long r;

		if (!e->has_fown_type)
			continue;
		if (e->fown_id) {
			if (scratch_write(c, 0, &own, sizeof(own)))
				return -1;
			r = rsys(c, 0, SYS_fcntl, e->fd, F_SETOWN_EX, SCRATCH(c), 0, 0, 0);
			if (r)
				return pr_err("process %d: cannot give fd %u to owner %d (type %u): %s", c->pid, e->fd,
					      e->fown_id, e->fown_type, strerror(-r));
		}
		if (e->fown_sig) {
			r = rsys(c, 0, SYS_fcntl, e->fd, F_SETSIG, e->fown_sig, 0, 0, 0);
			if (r)
				return pr_err("process %d: cannot set signal %u for fd %u (F_SETSIG): %s", c->pid,
					      e->fown_sig, e->fd, strerror(-r));
		}
	}
	return 0;
}
