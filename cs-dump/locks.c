/*
 * File locks held by the process: flock(2), POSIX (fcntl F_SETLK) and open
 * file description (F_OFD_SETLK) locks, as CRIU's --file-locks saves them.
 *
 * The "lock:" lines of /proc/PID/fdinfo/FD (proc(5)) list the locks that
 * belong to the open file description behind FD: a flock or an OFD lock
 * taken on that description, and a POSIX lock of this process taken through
 * it. fds dup'ed from one description show the same lines, so only the
 * first fd of each description (no peer_fd) is read. /proc/locks then
 * proves that no POSIX lock of the process was missed. Everything is read
 * while the process is frozen: no lock can come or go meanwhile.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>
#include <sys/file.h>

#define LOG_PREFIX "locks: "
#include "log.h"
#include "util.h"
#include "dump.h"

/* One line of /proc/locks or of an fdinfo "lock:" line, after the "N: ". */
struct lock_line {
	char kind[16];		/* FLOCK, POSIX, OFDLCK, LEASE, DELEG, ACCESS */
	char mode[16];		/* ADVISORY (MANDATORY before 5.15; ACTIVE/BREAKING for leases) */
	char type[16];		/* READ, WRITE, UNLCK */
	int pid;
	unsigned maj, min;
	unsigned long long ino;
	long long start, end;	/* bytes, end inclusive; -1: EOF */
};

/*
 * Parse "1: POSIX  ADVISORY  WRITE 2513 fe:00:10953110 5 14" (the format of
 * lock_get_status() in fs/locks.c: major:minor in hex, inode in decimal,
 * "EOF" for a lock to the end of the file). Returns 0, or -1 for a line
 * that is not a held lock (a blocked request shows "->" after the number).
 */
static int parse_lock_line(const char *s, struct lock_line *l)
{
	char end[32];

	s = strchr(s, ':');
	if (!s)
		return -1;
	s++;
	while (*s == ' ' || *s == '\t')
		s++;
	if (!strncmp(s, "->", 2))
		return -1;
	if (sscanf(s, "%15s %15s %15s %d %x:%x:%llu %lld %31s", l->kind, l->mode, l->type, &l->pid, &l->maj,
		   &l->min, &l->ino, &l->start, end) != 9)
		return -1;
	if (!strcmp(end, "EOF"))
		l->end = -1;
	else {
		char *e;

		l->end = strtoll(end, &e, 10);
		if (*e)
			return -1;
	}
	return 0;
}

static void range_str(const struct lock_line *l, char *buf, size_t len)
{
	if (l->end < 0)
		snprintf(buf, len, "%lld-EOF", l->start);
	else
		snprintf(buf, len, "%lld-%lld", l->start, l->end);
}

static const char *what(const FdEntry *e)
{
	switch (e->type) {
	case FD_PIPE: return "a pipe";
	case FD_FIFO: return "a FIFO";
	case FD_EPOLL: return "an epoll instance";
	case FD_EVENTFD: return "an eventfd";
	case FD_INET: return "a socket";
	}
	return "an object";
}

static int add_lock(struct dump_ctx *c, const FdEntry *e, const struct lock_line *l)
{
	FileLockEntry *fl = xzalloc(sizeof(*fl)), **arr;

	arr = fl ? xrealloc(c->locks, (c->nr_locks + 1) * sizeof(*arr)) : NULL;
	if (!arr) {
		free(fl);
		return -1;
	}
	c->locks = arr;
	file_lock_entry__init(fl);
	fl->fd = e->fd;
	fl->kind = !strcmp(l->kind, "FLOCK") ? 1 : !strcmp(l->kind, "POSIX") ? 2 : 3;
	fl->type = !strcmp(l->type, "WRITE") ? F_WRLCK : F_RDLCK;
	fl->start = l->start;
	fl->len = l->end < 0 ? 0 : l->end - l->start + 1;
	fl->has_pid = 1;
	fl->pid = l->pid;
	arr[c->nr_locks++] = fl;
	return 0;
}

/* The locks of one open file description, through its first fd e. */
static int fd_locks(struct dump_ctx *c, const FdEntry *e, int file_locks)
{
	char path[64], line[512], range[64];
	const char *name = e->path ? e->path : what(e);
	int ret = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%u", c->pid, e->fd);
	f = fopen(path, "re");
	if (!f)
		return pr_perror("cannot read %s", path);
	while (!ret && fgets(line, sizeof(line), f)) {
		struct lock_line l;

		if (strncmp(line, "lock:", 5))
			continue;
		line[strcspn(line, "\n")] = 0;
		if (parse_lock_line(line + 5, &l)) {
			ret = pr_err("fd %u (%s): cannot parse its lock line \"%s\"", e->fd, name, line);
			break;
		}
		range_str(&l, range, sizeof(range));
		if (strcmp(l.kind, "FLOCK") && strcmp(l.kind, "POSIX") && strcmp(l.kind, "OFDLCK"))
			ret = pr_err("fd %u (%s) holds a %s lock (%s): only flock, POSIX and OFD locks are supported",
				     e->fd, name, l.kind, l.type);
		else if (!file_locks)
			ret = pr_err("fd %u (%s) holds a file lock (%s %s, bytes %s): use --file-locks to dump it",
				     e->fd, name, l.kind, l.type, range);
		else if (strcmp(l.mode, "ADVISORY") || (strcmp(l.type, "READ") && strcmp(l.type, "WRITE")))
			ret = pr_err("fd %u (%s) holds a %s %s %s lock: not supported", e->fd, name, l.mode,
				     l.type, l.kind);
		else if (e->type != FD_REG && e->type != FD_CHR)
			ret = pr_err("fd %u is %s holding a file lock (%s %s): only locks on regular files and "
				     "devices are supported", e->fd, what(e), l.kind, l.type);
		else {
			ret = add_lock(c, e, &l);
			pr_info("fd %u (%s): %s %s lock, bytes %s", e->fd, name, l.kind, l.type, range);
		}
	}
	fclose(f);
	return ret;
}

/*
 * Reading /proc/locks takes the file lock rwsem for writing
 * (fs/locks.c, locks_start: percpu_down_write), which waits for an RCU
 * grace period: 10-20 ms here, whatever the number of locks. It is read
 * by a thread of its own from the freeze on, while the rest is dumped.
 * The process's locks cannot change once it is frozen, so that read is
 * as good as one made later.
 */
static struct {
	pthread_t th;
	int started, done;
	char *buf;		/* NULL: the read failed, errno in err */
	size_t len;
	int err;
} pl;

static void *read_proc_locks(void *arg)
{
	pl.buf = read_file_at(AT_FDCWD, "/proc/locks", &pl.len, 64 << 20);
	pl.err = errno;
	return arg;
}

/*
 * That wait comes from rcu_sync_enter (kernel/rcu/sync.c) when the
 * rwsem's rcu_sync is idle. After a writer leaves, it stays in GP_EXIT
 * for one more grace period, and a writer entering then does not wait.
 * So one read just before the freeze (its wait is not frozen time) makes
 * the read after the freeze quick, when the freeze is quick. Nothing
 * depends on it but the time.
 */
void proc_locks_warm(void)
{
	char b[1];
	int fd = open("/proc/locks", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (read(fd, b, sizeof(b)) < 0)
		pr_debug("cannot read /proc/locks ahead: %m");
	close(fd);
}

void proc_locks_prefetch(void)
{
	if (pl.started || pl.done)
		return;
	pl.started = !pthread_create(&pl.th, NULL, read_proc_locks, NULL);
}

/* /proc/locks, read by the prefetch thread or now; NULL with errno set. */
static const char *proc_locks(size_t *len)
{
	if (pl.started) {
		pthread_join(pl.th, NULL);
		pl.started = 0;
		pl.done = 1;
	} else if (!pl.done) {
		read_proc_locks(NULL);
		pl.done = 1;
	}
	errno = pl.err;
	*len = pl.len;
	return pl.buf;
}

void proc_locks_free(void)
{
	size_t len;

	if (pl.started)
		proc_locks(&len);
	free(pl.buf);
	memset(&pl, 0, sizeof(pl));
}

/* Every POSIX lock /proc/locks gives to the process must have been found. */
static int check_proc_locks(struct dump_ctx *c)
{
	char line[512];
	size_t len;
	const char *buf = proc_locks(&len);
	FILE *f = buf && len ? fmemopen((void *)buf, len, "r") : NULL;
	int ret = 0;

	if (!buf)
		return pr_perror("cannot read /proc/locks");
	if (!len)
		return 0;	/* no lock at all */
	if (!f)
		return pr_perror("cannot read /proc/locks (fmemopen)");
	while (!ret && fgets(line, sizeof(line), f)) {
		struct lock_line l;
		char range[64];
		int found = 0;

		if (parse_lock_line(line, &l) || strcmp(l.kind, "POSIX") || l.pid != c->pid)
			continue;
		for (size_t i = 0; i < c->nr_locks && !found; i++) {
			FileLockEntry *fl = c->locks[i];

			for (size_t j = 0; j < c->nr_fds && !found; j++)
				found = c->fds[j]->fd == fl->fd && c->fds[j]->ino == l.ino && fl->kind == 2 &&
					fl->start == l.start &&
					fl->len == (l.end < 0 ? 0 : l.end - l.start + 1);
		}
		if (!found) {
			line[strcspn(line, "\n")] = 0;
			range_str(&l, range, sizeof(range));
			ret = pr_err("process %d holds a POSIX %s lock on inode %x:%x:%llu (bytes %s) that none of "
				     "its fds shows: not supported", c->pid, l.type, l.maj, l.min, l.ino, range);
		}
	}
	fclose(f);
	return ret;
}

int dump_locks(struct dump_ctx *c, int file_locks)
{
	for (size_t i = 0; i < c->nr_fds; i++)
		if (!c->fds[i]->has_peer_fd && !c->fds[i]->has_from_pid && fd_locks(c, c->fds[i], file_locks))
			return -1;
	if (check_proc_locks(c))
		return -1;
	if (c->nr_locks)
		pr_info("%zu file locks collected", c->nr_locks);
	return 0;
}

int write_locks(struct dump_ctx *c)
{
	struct img *img;
	char n[64];

	if (!c->nr_locks)
		return 0;
	img = img_create(c->dirfd, img_pname(n, sizeof(n), "file-locks", c->sfx), MAGIC_FILE_LOCKS);
	if (!img)
		return -1;
	for (size_t i = 0; i < c->nr_locks; i++)
		if (img_write_msg(img, &c->locks[i]->base)) {
			img_free(img);
			return -1;
		}
	return img_close(img, &c->sums);
}
