/*
 * File descriptors on anonymous inodes that hold timers or wait for
 * events: timerfd, signalfd, inotify. Their state is in
 * /proc/PID/fdinfo/FD (proc(5)); a timerfd is also asked with
 * timerfd_gettime(2) through a pidfd_getfd copy, which brings its expiry
 * count up to date without consuming it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "util.h"
#include "dump.h"

static FILE *open_fdinfo(struct dump_ctx *c, int fd)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", c->pid, fd);
	f = fopen(path, "re");
	if (!f)
		pr_perror("cannot read %s", path);
	return f;
}

/*
 * fdinfo of a timerfd (fs/timerfd.c, timerfd_show):
 *   clockid: 1 / ticks: 3 / settime flags: 01 / it_value: (0, 5000) / it_interval: (1, 0)
 * An expired periodic timer shows it_value (0, 0) until it is read or asked
 * with timerfd_gettime, which forwards it and adds the missed periods to
 * ticks. So: gettime first, then fdinfo; if it expired again in between,
 * once more.
 */
static int dump_timerfd(struct dump_ctx *c, int fd, FdEntry *e)
{
	TimerfdEntry *t = xzalloc(sizeof(*t));
	int copy, ret = -1;

	if (!t)
		return -1;
	timerfd_entry__init(t);
	e->type = FD_TIMERFD;
	e->timerfd = t;
	copy = syscall(SYS_pidfd_getfd, c->pidfd, fd, 0);
	if (copy < 0)
		return pr_perror("cannot copy fd %d (timerfd) of %d", fd, c->pid);
	for (int tries = 0; tries < 5; tries++) {
		struct itimerspec its;
		unsigned long long vs, vn, is, in, ticks;
		unsigned flags;
		int clk, got = 0;
		char line[128];
		FILE *f;

		if (timerfd_gettime(copy, &its)) {
			pr_perror("cannot read fd %d (timerfd)", fd);
			goto out;
		}
		f = open_fdinfo(c, fd);
		if (!f)
			goto out;
		while (fgets(line, sizeof(line), f)) {
			got += sscanf(line, "clockid: %d", &clk) == 1;
			got += sscanf(line, "ticks: %llu", &ticks) == 1;
			got += sscanf(line, "settime flags: %o", &flags) == 1;
			got += sscanf(line, "it_value: (%llu, %llu)", &vs, &vn) == 2;
			got += sscanf(line, "it_interval: (%llu, %llu)", &is, &in) == 2;
		}
		fclose(f);
		if (got != 5) {
			pr_err("fd %d (timerfd): cannot parse its fdinfo", fd);
			goto out;
		}
		t->clockid = clk;
		t->settime_flags = flags;
		t->value_ns = vs * 1000000000 + vn;
		t->interval_ns = is * 1000000000 + in;
		t->ticks = ticks;
		if (t->value_ns || !t->interval_ns)
			break;
	}
	pr_info("fd %d: timerfd clock %d flags %#o: %llu ns, interval %llu ns, %llu ticks", fd, t->clockid,
		t->settime_flags, (unsigned long long)t->value_ns, (unsigned long long)t->interval_ns,
		(unsigned long long)t->ticks);
	ret = 0;
out:
	close(copy);
	return ret;
}

static int dump_signalfd(struct dump_ctx *c, int fd, FdEntry *e)
{
	char val[64];

	e->type = FD_SIGNALFD;
	if (proc_fdinfo_field(c->pid, fd, "sigmask", val, sizeof(val)))
		return pr_err("fd %d (signalfd): no sigmask in its fdinfo", fd);
	e->has_signalfd_mask = 1;
	e->signalfd_mask = strtoull(val, NULL, 16);
	return 0;
}

/*
 * The path of the inode behind a file handle: open_by_handle_at(2) through a
 * mount of its filesystem (found in mountinfo by the kernel's s_dev), then
 * the /proc/self/fd link of the result, accepted only if that path leads to
 * the same inode. Returns a malloc'ed path, or NULL (no error logged).
 */
static char *handle_path(unsigned kdev, uint64_t ino, const struct file_handle *fh, uint64_t *dev)
{
	unsigned maj = kdev >> 20, min = kdev & 0xfffff;
	char line[4096], *found = NULL;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return NULL;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned a, b;
		char mnt[4096], link[64], path[4096];
		struct stat st;
		int mfd, fd;
		ssize_t n;

		if (sscanf(line, "%*d %*d %u:%u %*s %4095s", &a, &b, mnt) != 3 || a != maj || b != min)
			continue;
		/* open_by_handle_at(2) wants a real fd here: EBADF for O_PATH; a
		 * mount point with octal escapes in mountinfo fails: next one */
		mfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (mfd < 0)
			continue;
		fd = open_by_handle_at(mfd, (struct file_handle *)fh, O_PATH | O_CLOEXEC);
		close(mfd);
		if (fd < 0)
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, path, sizeof(path) - 1);
		close(fd);
		if (n <= 0)
			continue;
		path[n] = 0;
		if (path[0] == '/' && lstat(path, &st) == 0 && st.st_ino == ino && major(st.st_dev) == maj &&
		    minor(st.st_dev) == min) {
			found = xstrdup(path);
			*dev = st.st_dev;
		}
	}
	fclose(f);
	return found;
}

/*
 * fdinfo of an inotify instance (fs/notify/fdinfo.c), one line per watch:
 *   inotify wd:3 ino:3c51a sdev:fe00000 mask:100 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:1ac5...
 * all numbers in hex; sdev is the kernel's dev_t (major << 20 | minor).
 */
static int dump_inotify(struct dump_ctx *c, int fd, FdEntry *e)
{
	char line[1024];
	int copy, queued = 0;
	FILE *f;

	e->type = FD_INOTIFY;
	copy = syscall(SYS_pidfd_getfd, c->pidfd, fd, 0);
	if (copy < 0)
		return pr_perror("cannot copy fd %d (inotify) of %d", fd, c->pid);
	if (ioctl(copy, FIONREAD, &queued))
		queued = -1;
	close(copy);
	if (queued)
		return pr_err("fd %d (inotify) has %d bytes of events not read yet: they cannot be saved; "
			      "not supported yet", fd, queued);
	f = open_fdinfo(c, fd);
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned wd, sdev, mask, ignored, hbytes;
		int htype, pos = 0;
		unsigned long long ino;
		union { struct file_handle h; unsigned char b[sizeof(struct file_handle) + MAX_HANDLE_SZ]; } fh;
		InotifyWdEntry *w, **arr;
		uint64_t dev = 0;
		char *hex, *path;

		if (sscanf(line, "inotify wd:%x ino:%llx sdev:%x mask:%x ignored_mask:%x fhandle-bytes:%x "
			   "fhandle-type:%x f_handle:%n", &wd, &ino, &sdev, &mask, &ignored, &hbytes, &htype, &pos) != 7 ||
		    !pos)
			continue;
		if (hbytes > MAX_HANDLE_SZ)
			return fclose(f), pr_err("fd %d (inotify): watch %u has a %u-byte file handle", fd, wd, hbytes);
		fh.h.handle_bytes = hbytes;
		fh.h.handle_type = htype;
		hex = line + pos;
		for (unsigned i = 0; i < hbytes; i++) {
			unsigned byte;

			if (sscanf(hex + 2 * i, "%2x", &byte) != 1)
				return fclose(f), pr_err("fd %d (inotify): cannot parse the file handle of watch %u", fd, wd);
			fh.b[sizeof(struct file_handle) + i] = byte;
		}
		path = handle_path(sdev, ino, &fh.h, &dev);
		if (!path)
			return fclose(f), pr_err("fd %d (inotify): watch %u is on inode %llu of device %u:%u, which no path "
						 "leads to (deleted?): cannot restore it", fd, wd, ino, sdev >> 20,
						 sdev & 0xfffff);
		w = xzalloc(sizeof(*w));
		arr = xrealloc(e->inotify_wds, (e->n_inotify_wds + 1) * sizeof(*arr));
		if (!w || !arr) {
			free(path);
			fclose(f);
			return -1;
		}
		e->inotify_wds = arr;
		inotify_wd_entry__init(w);
		w->wd = wd;
		w->mask = mask;
		w->path = path;
		w->ino = ino;
		w->dev = dev;
		arr[e->n_inotify_wds++] = w;
		pr_info("fd %d: inotify watch %u on %s, mask %#x", fd, wd, path, mask);
	}
	fclose(f);
	return 0;
}

int dump_anon_fd(struct dump_ctx *c, int fd, const char *link, FdEntry *e)
{
	if (!strcmp(link, "anon_inode:[timerfd]"))
		return dump_timerfd(c, fd, e);
	if (!strcmp(link, "anon_inode:[signalfd]"))
		return dump_signalfd(c, fd, e);
	if (!strcmp(link, "anon_inode:inotify"))
		return dump_inotify(c, fd, e);
	if (!strcmp(link, "anon_inode:[pidfd]"))
		return dump_pidfd(c, fd, e);	/* pidfd.c */
	return 1;
}
