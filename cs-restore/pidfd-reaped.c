/*
 * pidfds on a process that is dead and reaped (FdEntry.pidfd_reaped): a
 * supervisor holds one between reaping a worker and closing its pidfd.
 * Nothing of the process can be seen through it any more but that it is
 * dead: fdinfo "Pid: -1", poll reports it readable, waitid(P_PIDFD) is
 * ECHILD, pidfd_send_signal ESRCH. The stub makes one by itself, before it
 * is seized (stub_files): a child that exits at once, a pidfd on it while
 * it is a zombie, then the child reaped. Its registrations in epoll sets
 * are made with those of the other pidfds (restore_pidfds, pidfd.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "restore.h"

/* pidfd_open(2): PIDFD_NONBLOCK is O_NONBLOCK, PIDFD_THREAD (6.9) O_EXCL */
#define PIDFD_FLAGS (O_NONBLOCK | O_EXCL)

int pidfd_in_stub(const FdEntry *e)
{
	return e->type == FD_PIDFD && e->pidfd_reaped && !e->has_peer_fd && !e->has_from_pid;
}

int stub_reaped_pidfd(const FdEntry *e, char *err, size_t len)
{
	long child;
	int fd, st, saved;

	/* a raw fork: the stub came from clone3, libc's fork state is not its own */
	child = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (child < 0) {
		snprintf(err, len, "fd %u (pidfd of a reaped process): cannot fork a child to stand for it: %m", e->fd);
		return -1;
	}
	if (child == 0)
		syscall(SYS_exit_group, 0);
	/* it is ours and not waited for: a zombie at worst, until the waitpid */
	fd = syscall(SYS_pidfd_open, child, e->flags & PIDFD_FLAGS);
	saved = errno;
	while (waitpid(child, &st, 0) < 0 && errno == EINTR)
		;
	if (fd < 0) {
		errno = saved;
		snprintf(err, len, "fd %u (pidfd of a reaped process): pidfd_open on a child that exits: %m", e->fd);
		return -1;
	}
	return fd;
}
