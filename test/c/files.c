/*
 * files.c - open files, file locks and files deleted while open, checked
 * value by value after a restore (protocol: tprog.h).
 *
 *   files READY_FILE PART...
 *
 * Files are made next to READY_FILE. PARTs (any number; "all" is the first
 * three):
 *   fds      regular files opened O_RDONLY, O_WRONLY|O_APPEND, O_RDWR with
 *            O_CLOEXEC|O_NONBLOCK, each at its own offset; fds dup'ed from
 *            one open file description (dup, F_DUPFD_CLOEXEC) next to a
 *            second description of the same file; /dev/null (and a dup),
 *            /dev/zero, /dev/urandom O_NONBLOCK
 *   deleted  files deleted while open: 100000 bytes opened twice (O_RDWR at
 *            4321 with a dup, O_RDONLY|O_CLOEXEC at 99), an O_WRONLY|O_APPEND
 *            one of 10 bytes, an empty O_RDONLY one, and one made with
 *            O_TMPFILE (its flags are compared without O_TMPFILE, which a
 *            restore by name cannot keep)
 *   locks    what etcd holds (POSIX write locks on two whole "WAL" files, an
 *            exclusive flock on its "DB", here with a dup), a shared flock,
 *            POSIX write 5-14 and read 100-EOF through one description with
 *            a second description holding nothing, OFD write 0-2 and OFD
 *            read 10-19 on two descriptions of one file; with "deleted" too
 *            (as in "all"), an exclusive flock on the deleted g-twice
 *   big N    one deleted file of N bytes (for --ghost-limit)
 *   hold KIND PATH   take KIND (flock, posix, ofd) on PATH: a write lock on
 *            the whole file, and hold it until SIGUSR2 (checks nothing)
 *
 * Checks, for every fd: F_GETFL, F_GETFD, the offset, the file (the same
 * inode as another fd when it should be, a device's st_rdev); descriptions
 * shared after restore (kcmp KCMP_FILE, and an lseek on one fd moves its
 * dups but not the other description); a deleted file's bytes, size, mode,
 * st_nlink == 0 and /proc/self/fd name; each lock held with its type and
 * range, seen from a new open file description (F_OFD_GETLK, or flock
 * LOCK_NB failing with EWOULDBLOCK) and in the fdinfo "lock:" lines of the
 * fds that hold it (and of no other fd).
 *
 * CS_TEST_CORRUPT: offset flags cloexec share dev content nlink size flock
 * flock-sh posix ofd.
 */
#define _GNU_SOURCE
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <linux/kcmp.h>

#include "tprog.h"

static const char *const corrupt_modes[] = { "offset", "flags", "cloexec", "share", "dev", "content", "nlink",
					     "size", "flock", "flock-sh", "posix", "ofd", NULL };

static char dir[4096];
static unsigned checked;

/* ---- what was set up --------------------------------------------------- */

struct xfd {
	int fd;
	char name[64];		/* for messages */
	int flags;		/* F_GETFL at set-up */
	int fdflags;		/* F_GETFD */
	off_t pos;
	int same_as;		/* fd of the same open file description, or -1 */
	int file_of;		/* fd on the same file (another description), or -1 */
	int flagmask;		/* F_GETFL bits compared (O_TMPFILE is not kept) */
	dev_t rdev;		/* character devices */
	int ghost;		/* index into ghosts + 1, or 0 */
};

static struct xfd xfds[64];
static int nxfds;

struct ghost {
	char path[4200];
	char link[4300];	/* readlink of /proc/self/fd/N at set-up */
	unsigned char *data;
	size_t size;
	mode_t mode;
	int fd;			/* first fd */
};

static struct ghost ghosts[8];
static int nghosts;

struct xlock {
	char path[4200];
	int kind;		/* 1 flock, 2 POSIX, 3 OFD */
	int type;		/* F_RDLCK / F_WRLCK */
	off_t start, len;
	int fd;			/* the fd that holds it (first of its description) */
	int dups[4];		/* other fds of that description, -1 terminated */
	int none_fd;		/* an fd of another description of the file, holding nothing; -1 */
	char probe[4200];	/* what a new description opens: the path, or /proc/PID/fd/N */
};

static struct xlock xlocks[16];
static int nxlocks;

static void path_of(char *out, size_t len, const char *name)
{
	if ((size_t)snprintf(out, len, "%s/%s", dir, name) >= len)
		tp_die("path too long");
}

static int make_file(const char *name, size_t size, int flags)
{
	char path[4200];
	int fd;

	path_of(path, sizeof(path), name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		tp_die("cannot create %s", path);
	for (size_t i = 0; i < size; i++) {
		unsigned char b = (unsigned char)(i * 7 + 3);

		if (write(fd, &b, 1) != 1)
			tp_die("cannot fill %s", path);
	}
	close(fd);
	fd = open(path, flags);
	if (fd < 0)
		tp_die("cannot open %s", path);
	return fd;
}

static struct xfd *record(int fd, const char *name, int same_as, int file_of)
{
	struct xfd *x = &xfds[nxfds++];
	struct stat st;

	if (nxfds > (int)(sizeof(xfds) / sizeof(xfds[0])))
		tp_die("too many fds");
	x->fd = fd;
	snprintf(x->name, sizeof(x->name), "fd %d (%s)", fd, name);
	x->flagmask = ~0;
	x->flags = fcntl(fd, F_GETFL);
	x->fdflags = fcntl(fd, F_GETFD);
	x->pos = lseek(fd, 0, SEEK_CUR);
	x->same_as = same_as;
	x->file_of = file_of;
	if (fstat(fd, &st))
		tp_die("fstat %d", fd);
	x->rdev = S_ISCHR(st.st_mode) ? st.st_rdev : 0;
	return x;
}

/* ---- set-up ------------------------------------------------------------ */

static void setup_fds(void)
{
	int ro, ap, rw, rw2, rw3, rwb, wo, dn, dn2, dz, du;

	ro = make_file("f-rdonly", 4096, O_RDONLY);
	lseek(ro, 123, SEEK_SET);
	record(ro, "O_RDONLY", -1, -1);

	ap = make_file("f-append", 10, O_WRONLY | O_APPEND);
	if (write(ap, "appended..", 10) != 10)
		tp_die("write f-append");
	record(ap, "O_WRONLY|O_APPEND", -1, -1);

	rw = make_file("f-rdwr", 1000, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	lseek(rw, 77, SEEK_SET);
	record(rw, "O_RDWR|O_CLOEXEC|O_NONBLOCK", -1, -1);
	rw2 = dup(rw);			/* same description, no close-on-exec */
	record(rw2, "dup", rw, -1);
	rw3 = fcntl(rw, F_DUPFD_CLOEXEC, 40);
	record(rw3, "F_DUPFD_CLOEXEC", rw, -1);
	{
		char path[4200];

		path_of(path, sizeof(path), "f-rdwr");
		rwb = open(path, O_RDWR);	/* the same file, a description of its own */
		if (rwb < 0)
			tp_die("open f-rdwr again");
		lseek(rwb, 5, SEEK_SET);
		record(rwb, "second description", -1, rw);
	}
	wo = make_file("f-wronly", 50, O_WRONLY);
	lseek(wo, 9, SEEK_SET);
	record(wo, "O_WRONLY", -1, -1);

	dn = open("/dev/null", O_WRONLY);
	dn2 = dup(dn);
	dz = open("/dev/zero", O_RDONLY);
	du = open("/dev/urandom", O_RDONLY | O_NONBLOCK);
	if (dn < 0 || dn2 < 0 || dz < 0 || du < 0)
		tp_die("open devices");
	record(dn, "/dev/null", -1, -1);
	record(dn2, "/dev/null dup", dn, -1);
	record(dz, "/dev/zero", -1, -1);
	record(du, "/dev/urandom", -1, -1);
}

static void add_ghost(const char *name, size_t size, mode_t mode, int *fds, const int *flags, const off_t *pos,
		      int n, int dup_of_first)
{
	struct ghost *g = &ghosts[nghosts++];
	char lnk[64];
	ssize_t l;
	int first;

	path_of(g->path, sizeof(g->path), name);
	g->size = size;
	g->mode = mode;
	g->data = malloc(size ? size : 1);
	if (!g->data)
		tp_die("malloc");
	for (size_t i = 0; i < size; i++)
		g->data[i] = (unsigned char)(i * 13 + i / 251);
	first = open(g->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (first < 0 || write(first, g->data, size) != (ssize_t)size || fchmod(first, mode))
		tp_die("create %s", g->path);
	for (int i = 0; i < n; i++) {
		fds[i] = open(g->path, flags[i]);
		if (fds[i] < 0)
			tp_die("open %s", g->path);
		lseek(fds[i], pos[i], SEEK_SET);
	}
	close(first);
	if (unlink(g->path))
		tp_die("unlink %s", g->path);
	g->fd = fds[0];
	snprintf(lnk, sizeof(lnk), "/proc/self/fd/%d", fds[0]);
	l = readlink(lnk, g->link, sizeof(g->link) - 1);
	if (l < 0)
		tp_die("readlink %s", lnk);
	g->link[l] = 0;
	for (int i = 0; i < n; i++)
		record(fds[i], name, -1, i ? fds[0] : -1)->ghost = nghosts;
	if (dup_of_first) {
		int d = dup(fds[0]);

		record(d, name, fds[0], -1)->ghost = nghosts;
	}
}

/* A file made with O_TMPFILE: never had a name ("DIR/#INO (deleted)"). */
static void setup_tmpfile(void)
{
	struct ghost *g = &ghosts[nghosts++];
	char lnk[64];
	ssize_t l;
	int fd = open(dir, O_TMPFILE | O_RDWR, 0600);

	if (fd < 0)
		tp_die("O_TMPFILE in %s", dir);
	g->size = 5000;
	g->mode = 0600;
	g->data = malloc(g->size);
	if (!g->data)
		tp_die("malloc");
	for (size_t i = 0; i < g->size; i++)
		g->data[i] = (unsigned char)(i * 31 + 5);
	if (write(fd, g->data, g->size) != (ssize_t)g->size)
		tp_die("write tmpfile");
	lseek(fd, 17, SEEK_SET);
	g->fd = fd;
	snprintf(lnk, sizeof(lnk), "/proc/self/fd/%d", fd);
	l = readlink(lnk, g->link, sizeof(g->link) - 1);
	if (l < 0)
		tp_die("readlink %s", lnk);
	g->link[l] = 0;
	l -= strlen(" (deleted)");
	if (l <= 0 || (size_t)l >= sizeof(g->path))
		tp_die("unexpected name %s", g->link);
	memcpy(g->path, g->link, l);
	g->path[l] = 0;
	/* it comes back reopened by that name: __O_TMPFILE|O_DIRECTORY go */
	record(fd, "O_TMPFILE", -1, -1)->flagmask = ~O_TMPFILE;
	xfds[nxfds - 1].ghost = nghosts;
}

static void setup_deleted(void)
{
	int fds[2];
	int f1[2] = { O_RDWR, O_RDONLY | O_CLOEXEC }, f2[1] = { O_WRONLY | O_APPEND }, f3[1] = { O_RDONLY };
	off_t p1[2] = { 4321, 99 }, p2[1] = { 10 }, p3[1] = { 0 };

	add_ghost("g-twice", 100000, 0640, fds, f1, p1, 2, 1);
	add_ghost("g-append", 10, 0600, fds, f2, p2, 1, 0);
	add_ghost("g-empty", 0, 0444, fds, f3, p3, 1, 0);
	setup_tmpfile();
}

static void setup_big(const char *size)
{
	int fd[1], fl[1] = { O_RDONLY };
	off_t p[1] = { 0 };

	add_ghost("g-big", strtoull(size, NULL, 0), 0600, fd, fl, p, 1, 0);
}

static void posix_lock(int fd, int cmd, int type, off_t start, off_t len)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };

	if (fcntl(fd, cmd, &fl))
		tp_die("lock fd %d", fd);
}

static struct xlock *add_lock(const char *name, int kind, int type, off_t start, off_t len, int fd)
{
	struct xlock *l = &xlocks[nxlocks++];

	path_of(l->path, sizeof(l->path), name);
	memcpy(l->probe, l->path, sizeof(l->probe));
	l->kind = kind;
	l->type = type;
	l->start = start;
	l->len = len;
	l->fd = fd;
	l->dups[0] = -1;
	l->none_fd = -1;
	return l;
}

static void setup_locks(void)
{
	int w1, w2, db, dbd, sh, r1, r2, o1, o2;
	struct xlock *l;

	/* etcd: POSIX write locks on its WAL files, flock on its bbolt DB */
	w1 = make_file("wal-0", 64, O_RDWR);
	posix_lock(w1, F_SETLK, F_WRLCK, 0, 0);
	record(w1, "wal-0", -1, -1);
	add_lock("wal-0", 2, F_WRLCK, 0, 0, w1);
	w2 = make_file("wal-1", 64, O_WRONLY);
	posix_lock(w2, F_SETLK, F_WRLCK, 0, 0);
	record(w2, "wal-1", -1, -1);
	add_lock("wal-1", 2, F_WRLCK, 0, 0, w2);
	db = make_file("db", 128, O_RDWR);
	if (flock(db, LOCK_EX | LOCK_NB))
		tp_die("flock db");
	dbd = dup(db);
	record(db, "db", -1, -1);
	record(dbd, "db dup", db, -1);
	l = add_lock("db", 1, F_WRLCK, 0, 0, db);
	l->dups[0] = dbd;
	l->dups[1] = -1;

	sh = make_file("shared", 16, O_RDONLY);
	if (flock(sh, LOCK_SH | LOCK_NB))
		tp_die("flock shared");
	record(sh, "shared", -1, -1);
	add_lock("shared", 1, F_RDLCK, 0, 0, sh);

	r1 = make_file("ranges", 200, O_RDWR);
	posix_lock(r1, F_SETLK, F_WRLCK, 5, 10);
	posix_lock(r1, F_SETLK, F_RDLCK, 100, 0);
	{
		char path[4200];

		path_of(path, sizeof(path), "ranges");
		r2 = open(path, O_RDWR);
		if (r2 < 0)
			tp_die("open ranges");
	}
	record(r1, "ranges", -1, -1);
	record(r2, "ranges, no lock", -1, r1);
	add_lock("ranges", 2, F_WRLCK, 5, 10, r1)->none_fd = r2;
	add_lock("ranges", 2, F_RDLCK, 100, 0, r1)->none_fd = r2;

	o1 = make_file("ofd", 64, O_RDWR);
	{
		char path[4200];

		path_of(path, sizeof(path), "ofd");
		o2 = open(path, O_RDONLY);
		if (o2 < 0)
			tp_die("open ofd");
	}
	posix_lock(o1, F_OFD_SETLK, F_WRLCK, 0, 3);
	posix_lock(o2, F_OFD_SETLK, F_RDLCK, 10, 10);
	record(o1, "ofd", -1, -1);
	record(o2, "ofd, second description", -1, o1);
	add_lock("ofd", 3, F_WRLCK, 0, 3, o1)->none_fd = o2;
	add_lock("ofd", 3, F_RDLCK, 10, 10, o2)->none_fd = o1;
}

static void hold(const char *kind, const char *path)
{
	int fd = open(path, O_RDWR);

	if (fd < 0)
		tp_die("open %s", path);
	if (!strcmp(kind, "flock")) {
		if (flock(fd, LOCK_EX | LOCK_NB))
			tp_die("flock %s", path);
	} else
		posix_lock(fd, !strcmp(kind, "ofd") ? F_OFD_SETLK : F_SETLK, F_WRLCK, 0, 0);
}

/* ---- CS_TEST_CORRUPT ----------------------------------------------------- */

static struct xfd *find(const char *prefix)
{
	for (int i = 0; i < nxfds; i++)
		if (strstr(xfds[i].name, prefix))
			return &xfds[i];
	return NULL;
}

static void corrupt(void)
{
	struct xfd *x;

	if (tp_corrupting("offset") && (x = find("(O_RDONLY)")))
		lseek(x->fd, 1, SEEK_CUR);
	if (tp_corrupting("flags") && (x = find("(O_WRONLY|O_APPEND)")))
		fcntl(x->fd, F_SETFL, 0);
	if (tp_corrupting("cloexec") && (x = find("(F_DUPFD_CLOEXEC)")))
		fcntl(x->fd, F_SETFD, 0);
	if (tp_corrupting("share") && (x = find("(dup)"))) {
		/* a description of its own, at the same offset, with the same flags */
		char path[4200];
		int fd;

		path_of(path, sizeof(path), "f-rdwr");
		fd = open(path, O_RDWR | O_NONBLOCK);
		lseek(fd, x->pos, SEEK_SET);
		dup2(fd, x->fd);
		close(fd);
	}
	if (tp_corrupting("dev") && (x = find("(/dev/null)"))) {
		int fd = open("/dev/full", O_WRONLY);

		dup2(fd, x->fd);
		close(fd);
	}
	if (tp_corrupting("content") && nghosts) {
		unsigned char b = ghosts[0].data[5000] ^ 0xff;

		if (pwrite(ghosts[0].fd, &b, 1, 5000) != 1)
			tp_die("pwrite");
	}
	if (tp_corrupting("size") && nghosts)
		if (ftruncate(ghosts[0].fd, ghosts[0].size + 1))
			tp_die("ftruncate");
	if (tp_corrupting("nlink") && nghosts > 1) {
		/* g-append comes back as a file that still has its name */
		struct ghost *g = &ghosts[1];
		int fd = open(g->path, O_WRONLY | O_APPEND | O_CREAT, g->mode);

		if (fd < 0 || write(fd, g->data, g->size) != (ssize_t)g->size)
			tp_die("nlink");
		dup2(fd, g->fd);
		close(fd);
	}
	for (int i = 0; i < nxlocks; i++) {
		struct xlock *l = &xlocks[i];

		if (tp_corrupting("flock") && l->kind == 1 && l->type == F_WRLCK)
			flock(l->fd, LOCK_UN);
		if (tp_corrupting("flock-sh") && l->kind == 1 && l->type == F_RDLCK)
			flock(l->fd, LOCK_UN);
		if (tp_corrupting("posix") && l->kind == 2 && l->start == 5)
			posix_lock(l->fd, F_SETLK, F_UNLCK, 5, 10);
		if (tp_corrupting("ofd") && l->kind == 3 && l->type == F_WRLCK)
			posix_lock(l->fd, F_OFD_SETLK, F_RDLCK, l->start, l->len);
	}
}

/* ---- checks -------------------------------------------------------------- */

static int kcmp_file(int a, int b)
{
	pid_t p = getpid();

	return syscall(SYS_kcmp, p, p, KCMP_FILE, a, b);
}

static void check_fd(struct xfd *x)
{
	char what[128];
	struct stat st;

	snprintf(what, sizeof(what), "%s flags", x->name);
	tp_check_u64(what, fcntl(x->fd, F_GETFL) & x->flagmask, x->flags & x->flagmask);
	snprintf(what, sizeof(what), "%s FD_CLOEXEC", x->name);
	tp_check_u64(what, fcntl(x->fd, F_GETFD), x->fdflags);
	snprintf(what, sizeof(what), "%s offset", x->name);
	tp_check_u64(what, lseek(x->fd, 0, SEEK_CUR), x->pos);
	checked += 3;
	if (fstat(x->fd, &st)) {
		tp_differs(x->name, "fstat failed: %s", strerror(errno));
		return;
	}
	if (x->rdev) {
		snprintf(what, sizeof(what), "%s st_rdev", x->name);
		tp_check_u64(what, st.st_rdev, x->rdev);
		checked++;
	}
	if (x->same_as >= 0) {
		/* the same open file description: kcmp says so, and an lseek on
		 * one fd moves the other (then both go back) */
		off_t was = lseek(x->same_as, 0, SEEK_CUR), moved;

		snprintf(what, sizeof(what), "%s shares fd %d's open file (kcmp)", x->name, x->same_as);
		tp_check_u64(what, kcmp_file(x->fd, x->same_as), 0);
		if (S_ISREG(st.st_mode)) {
			lseek(x->same_as, was + 17, SEEK_SET);
			moved = lseek(x->fd, 0, SEEK_CUR);
			lseek(x->same_as, was, SEEK_SET);
			snprintf(what, sizeof(what), "%s offset after an lseek on fd %d", x->name, x->same_as);
			tp_check_u64(what, moved, was + 17);
			checked++;
		}
		checked++;
	}
	if (x->file_of >= 0) {
		/* another description of the same file: same inode, own offset */
		struct stat o;
		off_t mine = lseek(x->fd, 0, SEEK_CUR), was = lseek(x->file_of, 0, SEEK_CUR);

		fstat(x->file_of, &o);
		snprintf(what, sizeof(what), "%s is fd %d's file (st_ino)", x->name, x->file_of);
		tp_check_u64(what, st.st_ino, o.st_ino);
		snprintf(what, sizeof(what), "%s has its own open file, not fd %d's (kcmp)", x->name, x->file_of);
		tp_check_u64(what, kcmp_file(x->fd, x->file_of) != 0, 1);
		lseek(x->file_of, was + 3, SEEK_SET);
		snprintf(what, sizeof(what), "%s offset after an lseek on fd %d", x->name, x->file_of);
		tp_check_u64(what, lseek(x->fd, 0, SEEK_CUR), mine);
		lseek(x->file_of, was, SEEK_SET);
		checked += 3;
	}
}

static void check_ghost(struct ghost *g)
{
	unsigned char *now = malloc(g->size + 1);
	char what[4400], lnk[64], name[4300];
	struct stat st;
	ssize_t n, l;

	if (!now)
		tp_die("malloc");
	if (fstat(g->fd, &st)) {
		tp_differs(g->path, "fstat failed: %s", strerror(errno));
		free(now);
		return;
	}
	snprintf(what, sizeof(what), "deleted %s st_nlink", g->path);
	tp_check_u64(what, st.st_nlink, 0);
	snprintf(what, sizeof(what), "deleted %s size", g->path);
	tp_check_u64(what, st.st_size, g->size);
	snprintf(what, sizeof(what), "deleted %s mode", g->path);
	tp_check_u64(what, st.st_mode, S_IFREG | g->mode);
	snprintf(lnk, sizeof(lnk), "/proc/self/fd/%d", g->fd);
	l = readlink(lnk, name, sizeof(name) - 1);
	name[l < 0 ? 0 : l] = 0;
	snprintf(what, sizeof(what), "deleted %s name in /proc/self/fd", g->path);
	tp_check_str(what, name, g->link);
	checked += 4;
	/* contents, byte for byte, read through a new description (a pread
	 * on a write-only fd fails) */
	{
		int fd = open(lnk, O_RDONLY);

		n = fd < 0 ? -1 : pread(fd, now, g->size + 1, 0);
		if (fd >= 0)
			close(fd);
	}
	snprintf(what, sizeof(what), "deleted %s bytes read", g->path);
	if (tp_check_u64(what, n, g->size) == 0)
		for (size_t i = 0; i < g->size; i++)
			if (now[i] != g->data[i]) {
				snprintf(what, sizeof(what), "deleted %s byte %zu", g->path, i);
				tp_check_u64(what, now[i], g->data[i]);
				break;
			}
	checked += 2;
	free(now);
}

/* The "lock:" lines of /proc/self/fdinfo/FD that match l (kind, type, range). */
static int fdinfo_has(int fd, const struct xlock *l)
{
	static const char *kinds[] = { "", "FLOCK", "POSIX", "OFDLCK" };
	char path[64], line[512], kind[16], mode[16], type[16], end[32], want_end[32];
	long long start;
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (l->len)
		snprintf(want_end, sizeof(want_end), "%lld", (long long)(l->start + l->len - 1));
	else
		snprintf(want_end, sizeof(want_end), "EOF");
	while (fgets(line, sizeof(line), f)) {
		const char *p = strchr(line, ':');

		if (strncmp(line, "lock:", 5) || !(p = strchr(p + 1, ':')))
			continue;
		if (sscanf(p + 1, "%15s %15s %15s %*d %*s %lld %31s", kind, mode, type, &start, end) != 5)
			continue;
		n += !strcmp(kind, kinds[l->kind]) && !strcmp(type, l->type == F_WRLCK ? "WRITE" : "READ") &&
		     (l->kind == 1 || (start == l->start && !strcmp(end, want_end)));
	}
	fclose(f);
	return n;
}

static pid_t mypid;

/* In a child (see probe_locks): a lock seen from a new open file description. */
static void probe_lock(struct xlock *l)
{
	char what[4400];
	int fd = open(l->probe, O_RDONLY);

	if (fd < 0) {
		tp_differs(l->path, "cannot open %s: %s", l->probe, strerror(errno));
		return;
	}
	if (l->kind == 1) {
		/* held: a new description cannot take it; shared: it can share it */
		int ex = flock(fd, LOCK_EX | LOCK_NB) ? errno : 0, sh;

		snprintf(what, sizeof(what), "flock on %s: LOCK_EX from a new open file (errno)", l->path);
		tp_check_u64(what, ex, EWOULDBLOCK);
		sh = flock(fd, LOCK_SH | LOCK_NB) ? errno : 0;
		flock(fd, LOCK_UN);
		snprintf(what, sizeof(what), "flock on %s: LOCK_SH from a new open file (errno)", l->path);
		tp_check_u64(what, sh, l->type == F_WRLCK ? EWOULDBLOCK : 0);
		checked += 2;
	} else {
		/* an OFD lock of a new description conflicts with any lock of the
		 * process: F_OFD_GETLK describes it, range and all */
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = l->start, .l_len = l->len };

		if (fcntl(fd, F_OFD_GETLK, &fl))
			tp_differs(l->path, "F_OFD_GETLK: %s", strerror(errno));
		snprintf(what, sizeof(what), "%s lock on %s at %lld: type", l->kind == 2 ? "POSIX" : "OFD", l->path,
			 (long long)l->start);
		tp_check_u64(what, fl.l_type, l->type);
		snprintf(what, sizeof(what), "%s lock on %s at %lld: start", l->kind == 2 ? "POSIX" : "OFD", l->path,
			 (long long)l->start);
		tp_check_u64(what, fl.l_start, l->start);
		snprintf(what, sizeof(what), "%s lock on %s at %lld: len", l->kind == 2 ? "POSIX" : "OFD", l->path,
			 (long long)l->start);
		tp_check_u64(what, fl.l_len, l->len);
		snprintf(what, sizeof(what), "%s lock on %s at %lld: holder pid", l->kind == 2 ? "POSIX" : "OFD",
			 l->path, (long long)l->start);
		tp_check_u64(what, fl.l_pid, l->kind == 2 ? mypid : -1);
		checked += 4;
	}
	close(fd);
}

/* The holders of a lock, from the fdinfo lines of this process's fds. */
static void check_lock(struct xlock *l)
{
	char what[4400];

	/* per open file description: the fds that hold it list it, others not */
	snprintf(what, sizeof(what), "fdinfo of fd %d: lock on %s", l->fd, l->path);
	tp_check_u64(what, fdinfo_has(l->fd, l), 1);
	checked++;
	for (int i = 0; l->dups[i] >= 0; i++) {
		snprintf(what, sizeof(what), "fdinfo of fd %d (dup of %d): lock on %s", l->dups[i], l->fd, l->path);
		tp_check_u64(what, fdinfo_has(l->dups[i], l), 1);
		checked++;
	}
	if (l->none_fd >= 0) {
		snprintf(what, sizeof(what), "fdinfo of fd %d (other open file): lock on %s", l->none_fd, l->path);
		tp_check_u64(what, fdinfo_has(l->none_fd, l), 0);
		checked++;
	}
}

/* In a child (see probe_locks): nothing is locked around the ranges. */
static void check_gaps(void)
{
	/* between and around the saved ranges, nothing is locked */
	static const struct { const char *name; off_t start, len; } gaps[] = {
		{ "ranges", 0, 5 }, { "ranges", 15, 85 }, { "ofd", 3, 7 }, { "ofd", 20, 0 },
	};
	int have = 0;

	for (int i = 0; i < nxlocks; i++)
		have |= !strcmp(strrchr(xlocks[i].path, '/') + 1, "ranges");
	if (!have)
		return;
	for (size_t i = 0; i < sizeof(gaps) / sizeof(gaps[0]); i++) {
		char path[4200], what[4400];
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = gaps[i].start,
				    .l_len = gaps[i].len };
		int fd;

		path_of(path, sizeof(path), gaps[i].name);
		fd = open(path, O_RDONLY);
		if (fd < 0 || fcntl(fd, F_OFD_GETLK, &fl))
			tp_differs(path, "F_OFD_GETLK: %s", strerror(errno));
		snprintf(what, sizeof(what), "%s bytes %lld+%lld unlocked", path, (long long)gaps[i].start,
			 (long long)gaps[i].len);
		tp_check_u64(what, fl.l_type, F_UNLCK);
		checked++;
		if (fd >= 0)
			close(fd);
	}
}

/*
 * Closing any fd of a file drops every POSIX lock the process holds on it
 * (fcntl(2)), so the new open file descriptions that probe the locks live
 * in a child; its differences are counted here.
 */
static void probe_locks(void)
{
	unsigned res[2] = { 0, 0 };
	int p[2], st;
	pid_t pid;

	mypid = getpid();
	if (pipe(p))
		tp_die("pipe");
	pid = fork();
	if (pid < 0)
		tp_die("fork");
	if (pid == 0) {
		checked = 0;	/* the child counts its own */
		__atomic_store_n(&tp_ndiff, 0, __ATOMIC_SEQ_CST);
		for (int i = 0; i < nxlocks; i++)
			probe_lock(&xlocks[i]);
		check_gaps();
		res[0] = __atomic_load_n(&tp_ndiff, __ATOMIC_SEQ_CST);
		res[1] = checked;
		_exit(write(p[1], res, sizeof(res)) == sizeof(res) ? 0 : 2);
	}
	close(p[1]);
	if (read(p[0], res, sizeof(res)) != sizeof(res) || waitpid(pid, &st, 0) != pid || st != 0)
		tp_differs("lock probe", "the child that probes the locks failed (status %#x)", st);
	close(p[0]);
	__atomic_add_fetch(&tp_ndiff, res[0], __ATOMIC_SEQ_CST);
	checked += res[1];
}

static void check_devices(void)
{
	struct xfd *z = find("(/dev/zero)"), *n = find("(/dev/null)"), *u = find("(/dev/urandom)");
	unsigned char buf[16], zero[16] = { 0 };

	if (z) {
		memset(buf, 0xaa, sizeof(buf));
		tp_check_u64("/dev/zero read", read(z->fd, buf, sizeof(buf)), sizeof(buf));
		tp_check_bytes("/dev/zero bytes", buf, zero, sizeof(buf));
		checked += 2;
	}
	if (n) {
		tp_check_u64("/dev/null write", write(n->fd, buf, sizeof(buf)), sizeof(buf));
		checked++;
	}
	if (u) {
		tp_check_u64("/dev/urandom read", read(u->fd, buf, sizeof(buf)), sizeof(buf));
		checked++;
	}
}

int main(int argc, char **argv)
{
	int did = 0;

	tp_init("files", argc, argv);
	tp_block_usr2();
	tp_dirname(argv[1], dir, sizeof(dir));
	if (argc >= 5 && !strcmp(argv[2], "hold")) {
		hold(argv[3], argv[4]);
		tp_write_ready(argv[1]);
		tp_wait_usr2();
		tp_finish(0);
	}
	tp_corrupt_check_mode(corrupt_modes);
	for (int i = 2; i < argc; i++) {
		int all = !strcmp(argv[i], "all");

		if (all || !strcmp(argv[i], "fds"))
			setup_fds();
		if (all || !strcmp(argv[i], "deleted"))
			setup_deleted();
		if (all || !strcmp(argv[i], "locks"))
			setup_locks();
		if (!strcmp(argv[i], "big") && i + 1 < argc)
			setup_big(argv[++i]);
		else if (!all && strcmp(argv[i], "fds") && strcmp(argv[i], "deleted") && strcmp(argv[i], "locks")) {
			errno = EINVAL;
			tp_die("unknown part \"%s\"", argv[i]);
		}
		did = 1;
	}
	if (!did) {
		errno = EINVAL;
		tp_die("usage: files READY_FILE all|fds|deleted|locks|big N|hold KIND PATH...");
	}
	if (nghosts && nxlocks) {
		/* a lock on a deleted file: g-twice's first description, exclusive flock */
		struct xlock *l = add_lock("g-twice", 1, F_WRLCK, 0, 0, ghosts[0].fd);

		if (flock(ghosts[0].fd, LOCK_EX | LOCK_NB))
			tp_die("flock g-twice");
		for (int i = 0; i < nxfds; i++)
			if (xfds[i].same_as == ghosts[0].fd) {
				l->dups[0] = xfds[i].fd;
				l->dups[1] = -1;
			} else if (xfds[i].file_of == ghosts[0].fd)
				l->none_fd = xfds[i].fd;
		snprintf(l->probe, sizeof(l->probe), "/proc/%d/fd/%d", (int)getpid(), ghosts[0].fd);
	}
	corrupt();
	tp_write_ready(argv[1]);
	tp_wait_usr2();

	for (int i = 0; i < nxfds; i++)
		check_fd(&xfds[i]);
	for (int i = 0; i < nghosts; i++)
		check_ghost(&ghosts[i]);
	for (int i = 0; i < nxlocks; i++)
		check_lock(&xlocks[i]);
	probe_locks();
	check_devices();
	tp_finish(checked);
}
