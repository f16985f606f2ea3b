/*
 * timerfd, signalfd and inotify descriptors. check_anon_fd runs in the check
 * phase (clocks, watched paths); make_anon_fd runs in the stub (no log: a
 * message in err), creating the object at any fd number for stub_files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/types.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "util.h"
#include "restore.h"

/* timerfd_ioctl(TFD_IOC_SET_TICKS): sets the expiry count of a timerfd
 * (fs/timerfd.c, CONFIG_CHECKPOINT_RESTORE; timerfd_create(2)). */
#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, __u64)
#endif

/* beyond this many, burning watch descriptors to reach a wd takes too long */
#define MAX_WD 100000

int check_anon_fd(const FdEntry *e)
{
	switch (e->type) {
	case FD_TIMERFD: {
		int fd;

		if (!e->timerfd)
			return pr_err("fd %u (timerfd): no timer in files.img", e->fd);
		fd = timerfd_create(e->timerfd->clockid, TFD_CLOEXEC);
		if (fd < 0)
			return pr_perror("fd %u (timerfd): cannot create a timerfd on clock %d", e->fd,
					 e->timerfd->clockid);
		close(fd);
		return 0;
	}
	case FD_SIGNALFD:
		if (!e->has_signalfd_mask)
			return pr_err("fd %u (signalfd): no signal mask in files.img", e->fd);
		return 0;
	case FD_INOTIFY:
		for (size_t i = 0; i < e->n_inotify_wds; i++) {
			InotifyWdEntry *w = e->inotify_wds[i];
			struct stat st;

			if (w->wd < 1 || w->wd > MAX_WD)
				return pr_err("fd %u (inotify): watch descriptor %d is out of range (1..%d)", e->fd,
					      w->wd, MAX_WD);
			for (size_t j = 0; j < i; j++)
				if (e->inotify_wds[j]->wd == w->wd)
					return pr_err("fd %u (inotify): watch descriptor %d twice", e->fd, w->wd);
			if (lstat(w->path, &st))
				return pr_perror("fd %u (inotify): cannot watch %s again (watch %d)", e->fd, w->path,
						 w->wd);
			if (st.st_ino != w->ino || st.st_dev != w->dev)
				return pr_err("fd %u (inotify): %s is not the file watched at dump time (watch %d: inode "
					      "%llu, now %llu)", e->fd, w->path, w->wd, (unsigned long long)w->ino,
					      (unsigned long long)st.st_ino);
		}
		return 0;
	}
	return 1;
}

static int make_timerfd(const FdEntry *e, char *err, size_t len)
{
	TimerfdEntry *t = e->timerfd;
	int fd = timerfd_create(t->clockid, 0);

	if (fd < 0) {
		snprintf(err, len, "fd %u: cannot create a timerfd on clock %d: %m", e->fd, t->clockid);
		return -1;
	}
	if (t->value_ns) {
		struct itimerspec its;
		uint64_t v = t->value_ns;

		/* an absolute timer keeps its flags (TFD_TIMER_CANCEL_ON_SET needs
		 * them): its expiry is now plus the time it had left */
		if (t->settime_flags & TFD_TIMER_ABSTIME) {
			struct timespec now;

			if (clock_gettime(t->clockid, &now)) {
				snprintf(err, len, "fd %u: cannot read clock %d: %m", e->fd, t->clockid);
				goto fail;
			}
			v += (uint64_t)now.tv_sec * 1000000000 + now.tv_nsec;
		}
		its.it_value.tv_sec = v / 1000000000;
		its.it_value.tv_nsec = v % 1000000000;
		its.it_interval.tv_sec = t->interval_ns / 1000000000;
		its.it_interval.tv_nsec = t->interval_ns % 1000000000;
		if (timerfd_settime(fd, t->settime_flags, &its, NULL)) {
			snprintf(err, len, "fd %u: cannot arm the timerfd: %m", e->fd);
			goto fail;
		}
	}
	/* after settime, which resets the count */
	if (t->ticks && ioctl(fd, TFD_IOC_SET_TICKS, &t->ticks)) {
		snprintf(err, len, "fd %u: cannot set the timerfd's %llu expirations (TFD_IOC_SET_TICKS): %m", e->fd,
			 (unsigned long long)t->ticks);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

static int cmp_wd(const void *a, const void *b)
{
	return (*(InotifyWdEntry *const *)a)->wd - (*(InotifyWdEntry *const *)b)->wd;
}

/*
 * An inotify instance hands out watch descriptors in increasing order from 1
 * and does not reuse a removed one until it wraps (idr_alloc_cyclic in
 * fs/notify/inotify/inotify_user.c). So the watches are added in wd order,
 * and a watch that gets too low a number is removed and added again until
 * it gets its own (no other watch of the instance is on its inode). The
 * IN_IGNORED events of those removals are read away at the end; an event on
 * a real watch in that window (before the process runs) would be too.
 */
static int make_inotify(const FdEntry *e, char *err, size_t len)
{
	InotifyWdEntry **w;
	int fd = inotify_init1(IN_NONBLOCK);
	char buf[4096];

	if (fd < 0) {
		snprintf(err, len, "fd %u: cannot create an inotify instance: %m", e->fd);
		return -1;
	}
	w = malloc((e->n_inotify_wds + 1) * sizeof(*w));
	if (!w) {
		snprintf(err, len, "out of memory");
		goto fail;
	}
	memcpy(w, e->inotify_wds, e->n_inotify_wds * sizeof(*w));
	qsort(w, e->n_inotify_wds, sizeof(*w), cmp_wd);
	for (size_t i = 0; i < e->n_inotify_wds; i++) {
		int wd;

		for (;;) {
			wd = inotify_add_watch(fd, w[i]->path, w[i]->mask | IN_DONT_FOLLOW);
			if (wd < 0) {
				snprintf(err, len, "fd %u: cannot watch %s (watch %d): %m", e->fd, w[i]->path, w[i]->wd);
				goto fail;
			}
			if (wd >= w[i]->wd)
				break;
			inotify_rm_watch(fd, wd);	/* that number is skipped */
		}
		if (wd != w[i]->wd) {
			snprintf(err, len, "fd %u: %s got watch descriptor %d, want %d", e->fd, w[i]->path, wd, w[i]->wd);
			goto fail;
		}
	}
	free(w);
	w = NULL;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	if (fcntl(fd, F_SETFL, 0)) {
		snprintf(err, len, "fd %u: cannot clear O_NONBLOCK: %m", e->fd);
		goto fail;
	}
	return fd;
fail:
	free(w);
	close(fd);
	return -1;
}

int make_anon_fd(const FdEntry *e, char *err, size_t len)
{
	int fd;

	switch (e->type) {
	case FD_TIMERFD:
		return make_timerfd(e, err, len);
	case FD_SIGNALFD:
		/* the kernel's sigset is 8 bytes on x86-64 (signalfd(2), NOTES) */
		fd = syscall(SYS_signalfd4, -1, &e->signalfd_mask, 8, 0);
		if (fd < 0)
			snprintf(err, len, "fd %u: cannot create a signalfd: %m", e->fd);
		return fd;
	case FD_INOTIFY:
		return make_inotify(e, err, len);
	}
	return -2;
}
