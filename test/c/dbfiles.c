/*
 * dbfiles.c - the files of a database, as etcd and its bbolt store keep
 * them, checked after a restore (protocol: tprog.h).
 *
 *   dbfiles READY_FILE
 *
 * Files are made in the directory dbfiles next to READY_FILE (dbfiles-PID
 * when that exists):
 *   wal/        a directory of 60 files, opened twice: O_RDONLY|O_DIRECTORY
 *               (as etcd opens its WAL directory to fsync it) and
 *               O_RDONLY|O_DIRECTORY|O_CLOEXEC with the first entries read
 *               by getdents64, so its offset is inside the directory
 *   wal/0.wal   preallocated to 64 KiB (fallocate), opened O_WRONLY, 1000
 *               bytes written and fdatasync'ed
 *   db          64 KiB opened O_RDWR, mapped MAP_SHARED PROT_READ over 1 MiB,
 *               past its end as bbolt maps its file, then written with
 *               pwrite (the mapping sees it through the page cache)
 *   shm         16 KiB mapped MAP_SHARED PROT_READ|PROT_WRITE and written
 *               through the mapping (dirty pages of the page cache)
 *
 * Checks: F_GETFL, F_GETFD, the offset, st_dev/st_ino of every fd; that the
 * directory read goes on with the entries that were left, and that fsync
 * works on both directory fds; the /proc/self/maps line of both mappings
 * (address, permissions with 's', offset, inode); that each mapping holds
 * the file's bytes, that a pwrite after the restore shows in the mappings
 * (the same file shared, not a copy), also past the old end of the db file
 * after the file grows, and that a store into shm reaches the file; that a
 * write to 0.wal lands at the saved offset and fdatasync works.
 *
 * CS_TEST_CORRUPT: dirpos (the directory offset back to 0), private (the db
 * mapping replaced by a private mapping of the same file), shm-copy (shm
 * replaced by anonymous memory holding the same bytes), walpos.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "tprog.h"

static const char *const corrupt_modes[] = { "dirpos", "private", "shm-copy", "walpos", NULL };

#define NWAL 60
#define NREAD 12		/* entries read before the dump, at least */
#define DB_SIZE (64 << 10)
#define DB_MAP (1 << 20)
#define SHM_SIZE (16 << 10)
#define PG 4096

static char dir[4096];
static unsigned checked;

struct xfd {
	int fd;
	const char *name;
	int flags, fdflags;
	off_t pos;
	dev_t dev;
	ino_t ino;
};

static struct xfd xfds[8];
static int nxfds;

static char left[NWAL + 4][256];	/* directory entries after dir_rd's offset */
static int nleft;

static int dir_fsync, dir_rd, wal, db;
static unsigned char *dbmap, *shm;
static char dbmaps_line[700], shmmaps_line[700];

static void path_of(char *out, size_t len, const char *name)
{
	if ((size_t)snprintf(out, len, "%s/%s", dir, name) >= len)
		tp_die("path too long");
}

static void record(int fd, const char *name)
{
	struct xfd *x = &xfds[nxfds++];
	struct stat st;

	if (fstat(fd, &st))
		tp_die("fstat %s", name);
	x->fd = fd;
	x->name = name;
	x->flags = fcntl(fd, F_GETFL);
	x->fdflags = fcntl(fd, F_GETFD);
	x->pos = lseek(fd, 0, SEEK_CUR);
	x->dev = st.st_dev;
	x->ino = st.st_ino;
}

/* Names of the entries from fd's offset on ("." and ".." too), the first
 * max of them into names; once: a single getdents64 of bufsize bytes.
 * Returns how many, or -1. */
static int read_dir(int fd, char names[][256], int max, size_t bufsize, int once)
{
	char buf[8192];
	int n = 0;

	if (bufsize > sizeof(buf))
		bufsize = sizeof(buf);
	for (;;) {
		long got = syscall(SYS_getdents64, fd, buf, bufsize);

		if (got < 0)
			return -1;
		if (got == 0)
			return n;
		for (long off = 0; off < got;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);

			if (n < max)
				snprintf(names[n], 256, "%s", d->d_name);
			n++;
			off += d->d_reclen;
		}
		if (once)
			return n;
	}
}

/* The /proc/self/maps line of the mapping at addr. */
static void maps_line(void *addr, char *out, size_t len)
{
	char line[600], want[32];
	FILE *f = fopen("/proc/self/maps", "re");

	out[0] = 0;
	if (!f)
		return;
	snprintf(want, sizeof(want), "%lx-", (unsigned long)addr);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, want, strlen(want))) {
			line[strcspn(line, "\n")] = 0;
			snprintf(out, len, "%s", line);
			break;
		}
	fclose(f);
}

static unsigned char pattern(size_t i, int gen)
{
	return (unsigned char)(i * 131 + gen * 17 + 5);
}

static void setup(void)
{
	char path[4200], names[1][256];	/* names: not kept */
	int fd;

	path_of(path, sizeof(path), "wal");
	if (mkdir(path, 0755))
		tp_die("mkdir %s", path);
	for (int i = 1; i < NWAL; i++) {
		char name[256];

		snprintf(name, sizeof(name), "wal/%016x-%016x.wal", i, i * 977);
		path_of(path, sizeof(path), name);
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			tp_die("create %s", path);
		close(fd);
	}
	path_of(path, sizeof(path), "wal/0.wal");
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		tp_die("create %s", path);
	close(fd);

	/* the directories first: fd 3 and 4 (t530 names fd 3) */
	path_of(path, sizeof(path), "wal");
	dir_fsync = open(path, O_RDONLY | O_DIRECTORY);
	dir_rd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fsync < 0 || dir_rd < 0)
		tp_die("open %s", path);
	/* a few entries with small reads: the offset is now inside the directory */
	for (int n = 0; n < NREAD;) {
		int got = read_dir(dir_rd, names, 0, 200, 1);

		if (got <= 0)
			tp_die("getdents64 %s", path);
		n += got;
	}
	{
		/* what is left, read through a duplicate description at the same offset */
		int d2 = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (d2 < 0 || lseek(d2, lseek(dir_rd, 0, SEEK_CUR), SEEK_SET) < 0)
			tp_die("second open of %s", path);
		nleft = read_dir(d2, left, NWAL + 4, 8192, 0);
		close(d2);
		if (nleft <= 0 || nleft > NWAL)
			tp_die("%d entries left in %s", nleft, path);
	}

	path_of(path, sizeof(path), "wal/0.wal");
	wal = open(path, O_WRONLY);
	if (wal < 0 || fallocate(wal, 0, 0, 64 << 10))
		tp_die("preallocate %s", path);
	{
		char rec[1000];

		for (size_t i = 0; i < sizeof(rec); i++)
			rec[i] = pattern(i, 1);
		if (write(wal, rec, sizeof(rec)) != sizeof(rec) || fdatasync(wal))
			tp_die("write %s", path);
	}

	path_of(path, sizeof(path), "db");
	db = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (db < 0 || ftruncate(db, DB_SIZE))
		tp_die("create %s", path);
	dbmap = mmap(NULL, DB_MAP, PROT_READ, MAP_SHARED, db, 0);
	if (dbmap == MAP_FAILED)
		tp_die("mmap %s", path);
	{
		static unsigned char b[DB_SIZE];

		for (size_t i = 0; i < DB_SIZE; i++)
			b[i] = pattern(i, 2);
		if (pwrite(db, b, DB_SIZE, 0) != DB_SIZE || fdatasync(db))
			tp_die("write %s", path);
		if (dbmap[100] != b[100] || dbmap[DB_SIZE - 1] != b[DB_SIZE - 1])
			tp_die("the mapping of %s does not show its bytes", path);
	}

	path_of(path, sizeof(path), "shm");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, SHM_SIZE))
		tp_die("create %s", path);
	shm = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (shm == MAP_FAILED)
		tp_die("mmap %s", path);
	for (size_t i = 0; i < SHM_SIZE; i++)
		shm[i] = pattern(i, 3);
	close(fd);		/* the mapping alone keeps it */

	record(dir_fsync, "wal dir O_RDONLY|O_DIRECTORY");
	record(dir_rd, "wal dir O_CLOEXEC, read");
	record(wal, "0.wal O_WRONLY");
	record(db, "db O_RDWR|O_CLOEXEC");
	maps_line(dbmap, dbmaps_line, sizeof(dbmaps_line));
	maps_line(shm, shmmaps_line, sizeof(shmmaps_line));
	if (!dbmaps_line[0] || !shmmaps_line[0])
		tp_die("mappings not found in /proc/self/maps");
}

static void corrupt(void)
{
	if (tp_corrupting("dirpos"))
		lseek(dir_rd, 0, SEEK_SET);
	if (tp_corrupting("walpos"))
		lseek(wal, 0, SEEK_SET);
	if (tp_corrupting("private") &&
	    mmap(dbmap, DB_MAP, PROT_READ, MAP_PRIVATE | MAP_FIXED, db, 0) != dbmap)
		tp_die("remap db");
	if (tp_corrupting("shm-copy")) {
		static unsigned char copy[SHM_SIZE];

		memcpy(copy, shm, SHM_SIZE);
		if (mmap(shm, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != shm)
			tp_die("remap shm");
		memcpy(shm, copy, SHM_SIZE);
	}
}

static void check_fds(void)
{
	char what[128];

	for (int i = 0; i < nxfds; i++) {
		struct xfd *x = &xfds[i];
		struct stat st;

		snprintf(what, sizeof(what), "fd %d (%s) F_GETFL", x->fd, x->name);
		tp_check_u64(what, fcntl(x->fd, F_GETFL), x->flags);
		snprintf(what, sizeof(what), "fd %d (%s) F_GETFD", x->fd, x->name);
		tp_check_u64(what, fcntl(x->fd, F_GETFD), x->fdflags);
		snprintf(what, sizeof(what), "fd %d (%s) offset", x->fd, x->name);
		tp_check_u64(what, lseek(x->fd, 0, SEEK_CUR), x->pos);
		snprintf(what, sizeof(what), "fd %d (%s) file", x->fd, x->name);
		if (fstat(x->fd, &st) || st.st_dev != x->dev || st.st_ino != x->ino)
			tp_differs(what, "not the same inode");
		checked += 4;
	}
}

static void check_dirs(void)
{
	char got[NWAL + 4][256];
	int n = read_dir(dir_rd, got, NWAL + 4, 8192, 0);

	if (n != nleft)
		tp_differs("wal dir entries after the offset", "got %d want %d", n, nleft);
	for (int i = 0; i < n && i < nleft; i++)
		if (tp_check_str("wal dir entry", got[i], left[i]))
			break;
	checked += 1 + nleft;
	if (fsync(dir_fsync))
		tp_differs("fsync of the wal dir", "%s", strerror(errno));
	if (fsync(dir_rd))
		tp_differs("fsync of the read wal dir", "%s", strerror(errno));
	checked += 2;
}

static void check_maps(void)
{
	char line[700];
	unsigned char b[PG];

	maps_line(dbmap, line, sizeof(line));
	tp_check_str("db mapping", line, dbmaps_line);
	maps_line(shm, line, sizeof(line));
	tp_check_str("shm mapping", line, shmmaps_line);
	checked += 2;

	/* the bytes, as the file holds them */
	for (size_t off = 0; off < DB_SIZE; off += PG) {
		if (pread(db, b, PG, off) != PG || memcmp(b, dbmap + off, PG)) {
			tp_differs("db mapping contents", "page at %zu differs from the file", off);
			break;
		}
		checked++;
	}
	for (size_t i = 0; i < SHM_SIZE; i++)
		if (shm[i] != pattern(i, 3)) {
			tp_differs("shm contents", "byte %zu: got %u want %u", i, shm[i], pattern(i, 3));
			break;
		}
	checked++;

	/* shared with the file: a write to one shows in the other */
	memset(b, 0xa5, PG);
	if (pwrite(db, b, PG, 3 * PG) != PG)
		tp_die("pwrite db");
	if (memcmp(dbmap + 3 * PG, b, PG))
		tp_differs("db mapping", "a pwrite to the file does not show in it (not shared)");
	/* bbolt grows its file, then reads the new pages through the mapping */
	memset(b, 0x5a, PG);
	if (pwrite(db, b, PG, DB_SIZE) != PG)
		tp_die("pwrite db past its end");
	if (memcmp(dbmap + DB_SIZE, b, PG))
		tp_differs("db mapping", "the page written past the old end does not show in it");
	memset(shm + PG, 0x3c, 100);
	{
		char path[4200];
		int fd;

		path_of(path, sizeof(path), "shm");
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || pread(fd, b, 100, PG) != 100)
			tp_die("read %s", path);
		close(fd);
		for (int i = 0; i < 100; i++)
			if (b[i] != 0x3c) {
				tp_differs("shm mapping", "a store into it does not reach the file (not shared)");
				break;
			}
	}
	checked += 3;
}

static void check_wal(void)
{
	char path[4200], rec[100], got[100];
	int fd;

	memset(rec, 'w', sizeof(rec));
	if (write(wal, rec, sizeof(rec)) != sizeof(rec) || fdatasync(wal)) {
		tp_differs("0.wal write", "%s", strerror(errno));
		return;
	}
	path_of(path, sizeof(path), "wal/0.wal");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || pread(fd, got, sizeof(got), 1000) != sizeof(got))
		tp_die("read %s", path);
	close(fd);
	if (memcmp(got, rec, sizeof(rec)))
		tp_differs("0.wal", "the write did not land at offset 1000");
	checked += 2;
}

int main(int argc, char **argv)
{
	char sub[4200];

	tp_init("dbfiles", argc, argv);
	tp_block_usr2();
	tp_corrupt_check_mode(corrupt_modes);
	tp_dirname(argv[1], sub, sizeof(sub));
	if ((size_t)snprintf(dir, sizeof(dir), "%s/dbfiles", sub) >= sizeof(dir))
		tp_die("path too long");
	/* a second run next to the same ready file (the negative controls) */
	if (mkdir(dir, 0755) && (errno != EEXIST ||
				 (size_t)snprintf(dir, sizeof(dir), "%s/dbfiles-%d", sub, (int)getpid()) >= sizeof(dir) ||
				 mkdir(dir, 0755)))
		tp_die("mkdir %s", dir);
	setup();
	corrupt();
	tp_write_ready(argv[1]);
	tp_wait_usr2();

	check_fds();
	check_dirs();
	check_maps();
	check_wal();
	tp_finish(checked);
}
