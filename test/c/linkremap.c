/*
 * linkremap - a file with two names, opened (and mapped) by one name,
 * which is then unlinked while the other stays: what cs-dump --link-remap
 * saves by linking the open inode again. Checked by t550-linkremap.bats
 * (protocol: tprog.h).
 *
 *   linkremap READY fd|map|tree|exe|subdir|ro [DIR]
 *
 * In DIR (default: READY's directory + "/lr", made here) it creates "a"
 * (3 pages + 123 bytes of a pattern) and links "b" to it, then:
 *   fd   opens "a" O_RDWR (fd RW), writes 5 bytes at 100 and leaves its
 *        offset at 1234; dups it (fd DUP, same description); opens "a"
 *        O_WRONLY|O_APPEND (fd AP) and appends 7 bytes;
 *   map  "fd", and maps "a" MAP_SHARED read-write (pages 0-1, a byte
 *        written at 4100) and MAP_PRIVATE read-write (pages 1-2, a byte
 *        written at page 2: copied on write), then closes nothing;
 *   tree "map", and a child process that inherits the fds and mappings
 *        (and dies with its parent);
 *   exe  copies its own executable to DIR/x, links DIR/y to it, runs DIR/x
 *        (same PID) in mode "fd" and unlinks DIR/x: the executable is
 *        deleted under its name, its other name y left;
 *   subdir  "fd" with "a" in DIR/sub, which is removed once "a" is
 *        unlinked: the link cannot go next to it (the /proc/self/fd
 *        names are then not checked: the test checks them);
 *   ro   opens "a" O_RDONLY only (for the refusal on a read-only mount);
 * then unlinks "a". "b" is the file's only name from then on.
 *
 * On SIGUSR2 it checks: every fd is the inode "b" names (st_dev, st_ino),
 * with st_nlink 1 (the link cs-dump made is gone) and its /proc/self/fd
 * link "DIR/a (deleted)"; the offsets (RW and DUP at 1234, one
 * description: an lseek on DUP moves RW), the flags (F_GETFL, O_APPEND on
 * AP); the contents, read through "b"; a write through RW and an append
 * through AP are seen through "b"; "map": both mappings' bytes, a write
 * into the shared mapping is seen through "b" (and one through RW in the
 * mapping), the private page is not changed by it; DIR holds only "b";
 * "tree": the child, woken by SIGUSR1, writes a byte through its fd RW
 * and one into its shared mapping and exits 0; both are seen through "b";
 * "exe": /proc/self/exe reads "DIR/x (deleted)" and is the inode "y"
 * names, with st_nlink 1, and DIR holds "y" too.
 *
 * CS_TEST_CORRUPT: copy (RW and DUP replaced by a copy of the file at the
 * same offset, as a restore saving it as a ghost would give), offset
 * (RW's offset moved by one), flags (O_APPEND taken off AP), leftover (a
 * second name for the file in DIR), shared ("map": the shared mapping
 * replaced by a private one of the same file), child ("tree": the child
 * writes nothing and exits 1), exelink ("exe": a second name for the
 * executable, x again).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/stat.h>

#include "tprog.h"

#define PG 4096
#define SIZE (3 * PG + 123)
#define RW_FD 10
#define DUP_FD 11
#define AP_FD 12
#define RO_FD 13

static const char *const corrupt_modes[] = { "copy", "offset", "flags", "leftover", "shared", "child", "exelink", NULL };

static char dir[4096], pa[4200], pb[4200];
static unsigned checked;
static int mode_map, mode_ro, mode_tree, mode_exe, mode_subdir;
static pid_t child;
static unsigned char *shm, *priv;	/* "map": MAP_SHARED pages 0-1, MAP_PRIVATE pages 1-2 */
static int rw_flags, ap_flags;
static unsigned char want[SIZE + 7];	/* the file's bytes at set-up */

static unsigned char pat(size_t i)
{
	return (unsigned char)(i * 13 + i / PG + 5);
}

static int move_fd(int fd, int to)
{
	if (fd == to)
		return fd;
	if (dup2(fd, to) < 0)
		tp_die("dup2 %d -> %d", fd, to);
	close(fd);
	return to;
}

static void pwrite_all(int fd, const void *b, size_t n, off_t off)
{
	if (pwrite(fd, b, n, off) != (ssize_t)n)
		tp_die("pwrite");
}

static void setup(void)
{
	int fd;
	static unsigned char buf[SIZE];

	for (size_t i = 0; i < SIZE; i++)
		buf[i] = pat(i);
	fd = open(pa, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0)
		tp_die("cannot create %s", pa);
	pwrite_all(fd, buf, SIZE, 0);
	close(fd);
	if (link(pa, pb))
		tp_die("cannot link %s to %s", pb, pa);
	memcpy(want, buf, SIZE);
	if (mode_ro) {
		fd = open(pa, O_RDONLY);
		if (fd < 0)
			tp_die("cannot open %s", pa);
		move_fd(fd, RO_FD);
	} else {
		fd = open(pa, O_RDWR);
		if (fd < 0)
			tp_die("cannot open %s", pa);
		move_fd(fd, RW_FD);
		pwrite_all(RW_FD, "hello", 5, 100);
		memcpy(want + 100, "hello", 5);
		if (lseek(RW_FD, 1234, SEEK_SET) != 1234)
			tp_die("lseek");
		if (dup2(RW_FD, DUP_FD) < 0)
			tp_die("dup2");
		fd = open(pa, O_WRONLY | O_APPEND);
		if (fd < 0)
			tp_die("cannot open %s to append", pa);
		move_fd(fd, AP_FD);
		if (write(AP_FD, "appendd", 7) != 7)
			tp_die("append");
		memcpy(want + SIZE, "appendd", 7);
		rw_flags = fcntl(RW_FD, F_GETFL);
		ap_flags = fcntl(AP_FD, F_GETFL);
	}
	if (mode_map) {
		shm = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, RW_FD, 0);
		priv = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, RW_FD, PG);
		if (shm == MAP_FAILED || priv == MAP_FAILED)
			tp_die("mmap");
		shm[4100] = 0xa5;		/* the file changes: page 1 */
		want[4100] = 0xa5;
		priv[PG + 7] = 0x5a;		/* page 2 of the file, copied on write */
	}
	if (unlink(pa))
		tp_die("cannot unlink %s", pa);
	if (mode_subdir) {
		char sub[4300];

		snprintf(sub, sizeof(sub), "%s/sub", dir);
		if (rmdir(sub))
			tp_die("cannot remove %s", sub);
	}
	if (mode_tree) {
		sigset_t s;

		sigemptyset(&s);
		sigaddset(&s, SIGUSR1);
		sigprocmask(SIG_BLOCK, &s, NULL);
		child = fork();
		if (child < 0)
			tp_die("fork");
		if (!child) {
			int sig;

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() == 1)
				_exit(1);
			do
				sig = sigwaitinfo(&s, NULL);
			while (sig < 0 && errno == EINTR);
			if (tp_corrupting("child"))
				_exit(1);
			shm[30] = 0x77;
			_exit(pwrite(RW_FD, "K", 1, 40) == 1 ? 0 : 3);
		}
	}
}

/* "exe": run a copy of ourselves, DIR/x with a second name DIR/y, in mode "exe2". */
static void run_copy(const char *ready)
{
	char px[4300], py[4300];
	static char buf[1 << 16];
	int in = open("/proc/self/exe", O_RDONLY), out;
	ssize_t n;

	snprintf(px, sizeof(px), "%s/x", dir);
	snprintf(py, sizeof(py), "%s/y", dir);
	out = open(px, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	if (in < 0 || out < 0)
		tp_die("cannot copy the executable to %s", px);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n)
			tp_die("cannot write %s", px);
	close(in);
	if (n < 0 || close(out) || link(px, py))
		tp_die("cannot make %s and %s", px, py);
	execl(px, px, ready, "exe2", dir, (char *)NULL);
	tp_die("cannot run %s", px);
}

/* The file as a copy (CS_TEST_CORRUPT=copy): a ghost instead of the inode. */
static void corrupt(void)
{
	if (tp_corrupting("copy")) {
		char pc[4300];
		static unsigned char buf[SIZE + 7];
		int fd;

		snprintf(pc, sizeof(pc), "%s/copy", dir);
		if (pread(RW_FD, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
			tp_die("pread");
		fd = open(pc, O_RDWR | O_CREAT | O_EXCL, 0640);
		if (fd < 0)
			tp_die("cannot create %s", pc);
		pwrite_all(fd, buf, sizeof(buf), 0);
		lseek(fd, 1234, SEEK_SET);
		unlink(pc);
		dup2(fd, RW_FD);
		dup2(fd, DUP_FD);
		close(fd);
	}
	if (tp_corrupting("offset"))
		lseek(RW_FD, 1235, SEEK_SET);
	if (tp_corrupting("flags"))
		fcntl(AP_FD, F_SETFL, ap_flags & ~O_APPEND);
	if (tp_corrupting("leftover")) {
		char pl[4300];

		snprintf(pl, sizeof(pl), "%s/.cs-link-remap.left", dir);
		if (link(pb, pl))
			tp_die("cannot link %s", pl);
	}
	if (tp_corrupting("exelink") && mode_exe) {
		char px[4300], py[4300];

		snprintf(px, sizeof(px), "%s/x", dir);
		snprintf(py, sizeof(py), "%s/y", dir);
		if (link(py, px))
			tp_die("cannot link %s", px);
	}
	if (tp_corrupting("shared") && mode_map &&
	    mmap(shm, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, RW_FD, 0) == MAP_FAILED)
		tp_die("mmap");
}

/* fd is the inode "b" names, with no other name left, and shows "DIR/a (deleted)". */
static void check_inode(const char *what, int fd)
{
	struct stat a, b;
	char link[64], got[4300], wantp[4300];
	ssize_t n;

	if (fstat(fd, &a) || stat(pb, &b)) {
		tp_differs(what, "cannot stat it or %s: %s", pb, strerror(errno));
		return;
	}
	checked += 2;
	if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		tp_differs(what, "inode %llu:%llu, but %s is %llu:%llu", (unsigned long long)a.st_dev,
			   (unsigned long long)a.st_ino, pb, (unsigned long long)b.st_dev,
			   (unsigned long long)b.st_ino);
	tp_check_u64(what, a.st_nlink, 1);
	if (mode_subdir)
		return;
	checked++;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, got, sizeof(got) - 1);
	got[n > 0 ? n : 0] = 0;
	snprintf(wantp, sizeof(wantp), "%s (deleted)", pa);
	tp_check_str(what, got, wantp);
}

static void check_bytes(const char *what, const unsigned char *got, const unsigned char *exp, size_t n)
{
	checked++;
	for (size_t i = 0; i < n; i++)
		if (got[i] != exp[i]) {
			tp_differs(what, "byte %zu is 0x%02x, want 0x%02x", i, got[i], exp[i]);
			return;
		}
}

/* The names in DIR: only "b". */
static void check_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d) {
		tp_differs("directory", "cannot open %s", dir);
		return;
	}
	checked++;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "b") &&
		    (!mode_exe || strcmp(e->d_name, "y")))
			tp_differs("directory", "%s holds %s, want only b", dir, e->d_name);
	closedir(d);
}

static void verify(void)
{
	static unsigned char got[SIZE + 64];
	int fb = open(pb, O_RDONLY);
	ssize_t n;

	if (fb < 0) {
		tp_differs("b", "cannot open %s: %s", pb, strerror(errno));
		return;
	}
	check_dir();
	if (mode_ro) {
		check_inode("fd RO", RO_FD);
		tp_check_u64("fd RO flags", fcntl(RO_FD, F_GETFL) & O_ACCMODE, O_RDONLY);
		close(fb);
		return;
	}
	if (mode_exe) {
		char px[4300], py[4300], got_exe[4300];
		struct stat a, b;
		ssize_t n = readlink("/proc/self/exe", got_exe, sizeof(got_exe) - 1);

		got_exe[n > 0 ? n : 0] = 0;
		snprintf(px, sizeof(px), "%s/x (deleted)", dir);
		snprintf(py, sizeof(py), "%s/y", dir);
		checked += 3;
		tp_check_str("executable", got_exe, px);
		if (stat("/proc/self/exe", &a) || stat(py, &b))
			tp_differs("executable", "cannot stat it or %s: %s", py, strerror(errno));
		else if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
			tp_differs("executable", "inode %llu, but %s is %llu", (unsigned long long)a.st_ino, py,
				   (unsigned long long)b.st_ino);
		else
			tp_check_u64("executable st_nlink", a.st_nlink, 1);
	}
	check_inode("fd RW", RW_FD);
	check_inode("fd DUP", DUP_FD);
	check_inode("fd AP", AP_FD);
	checked += 4;
	tp_check_u64("fd RW flags", fcntl(RW_FD, F_GETFL), rw_flags);
	tp_check_u64("fd AP flags", fcntl(AP_FD, F_GETFL), ap_flags);
	tp_check_u64("fd RW offset", lseek(RW_FD, 0, SEEK_CUR), 1234);
	tp_check_u64("fd DUP offset", lseek(DUP_FD, 0, SEEK_CUR), 1234);
	checked++;
	lseek(DUP_FD, 77, SEEK_SET);
	tp_check_u64("fd RW offset after an lseek on DUP (one description)", lseek(RW_FD, 0, SEEK_CUR), 77);
	/* the contents, through the other name */
	n = pread(fb, got, sizeof(got), 0);
	checked++;
	tp_check_u64("size of b", n, SIZE + 7);
	check_bytes("contents of b", got, want, SIZE + 7);
	/* writes through the restored fds reach the other name */
	pwrite_all(RW_FD, "WXYZ", 4, 2000);
	if (write(AP_FD, "tail", 4) != 4)
		tp_differs("fd AP", "append: %s", strerror(errno));
	memcpy(want + 2000, "WXYZ", 4);
	n = pread(fb, got, sizeof(got), 0);
	checked++;
	tp_check_u64("size of b after an append through fd AP", n, SIZE + 11);
	check_bytes("b after a write through fd RW", got + 2000, (const unsigned char *)"WXYZ", 4);
	check_bytes("b after an append through fd AP", got + SIZE + 7, (const unsigned char *)"tail", 4);
	if (mode_map) {
		unsigned char p1[PG];

		check_bytes("shared mapping", shm, want, 2 * PG);
		/* private: page 1 of the file as it was mapped (its byte 4100 written
		 * through the shared mapping after it was mapped, before any copy),
		 * page 2 copied on write with its byte */
		memcpy(p1, want + PG, PG);
		check_bytes("private mapping, page 1", priv, p1, PG);
		memcpy(p1, want + 2 * PG, PG);
		p1[7] = 0x5a;
		check_bytes("private mapping, page 2", priv + PG, p1, PG);
		shm[10] = 0x3c;
		checked++;
		if (pread(fb, got, 16, 0) != 16 || got[10] != 0x3c)
			tp_differs("shared mapping", "a write into it at 10 is not seen through %s (0x%02x)", pb, got[10]);
		checked++;
		if (shm[2000] != 'W')
			tp_differs("shared mapping", "a write through fd RW at 2000 is not seen in it (0x%02x)", shm[2000]);
		checked++;
		if (priv[PG + 8] != want[2 * PG + 8])
			tp_differs("private mapping", "page 2 changed");
	}
	if (mode_tree) {
		int st = -1;

		checked += 3;
		if (kill(child, SIGUSR1) || waitpid(child, &st, 0) != child)
			tp_differs("child", "process %d cannot be woken or waited for: %s", child, strerror(errno));
		else if (!WIFEXITED(st) || WEXITSTATUS(st))
			tp_differs("child", "process %d ended with status %#x, want exit 0", child, st);
		if (pread(fb, got, 64, 0) != 64 || got[30] != 0x77 || got[40] != 'K')
			tp_differs("child", "its writes (mapping at 30, fd RW at 40) are not seen through %s "
				   "(0x%02x, 0x%02x)", pb, got[30], got[40]);
	}
	close(fb);
}

int main(int argc, char **argv)
{
	const char *mode;

	tp_init("linkremap", argc, argv);
	if (argc < 3)
		tp_die("usage: linkremap READY fd|map|tree|exe|subdir|ro [DIR]");
	mode = argv[2];
	mode_tree = !strcmp(mode, "tree");
	mode_map = mode_tree || !strcmp(mode, "map");
	mode_ro = !strcmp(mode, "ro");
	mode_exe = !strcmp(mode, "exe") || !strcmp(mode, "exe2");
	mode_subdir = !strcmp(mode, "subdir");
	if (!mode_map && !mode_ro && !mode_exe && !mode_subdir && strcmp(mode, "fd"))
		tp_die("unknown mode %s", mode);
	tp_corrupt_check_mode(corrupt_modes);
	if (argc > 3)
		snprintf(dir, sizeof(dir), "%s", argv[3]);
	else {
		char d[4000];

		tp_dirname(argv[1], d, sizeof(d));
		snprintf(dir, sizeof(dir), "%s/lr", d);
		if (mkdir(dir, 0755) && errno != EEXIST)
			tp_die("cannot create %s", dir);
	}
	snprintf(pa, sizeof(pa), "%s/%sa", dir, mode_subdir ? "sub/" : "");
	snprintf(pb, sizeof(pb), "%s/b", dir);
	if (mode_subdir) {
		char sub[4300];

		snprintf(sub, sizeof(sub), "%s/sub", dir);
		if (mkdir(sub, 0755))
			tp_die("cannot create %s", sub);
	}
	if (!strcmp(mode, "exe"))
		run_copy(argv[1]);	/* does not return */
	if (mode_exe) {
		char px[4300];

		snprintf(px, sizeof(px), "%s/x", dir);
		if (unlink(px))
			tp_die("cannot unlink %s", px);
	}
	tp_block_usr2();
	setup();
	if (!mode_ro)
		corrupt();
	tp_write_ready(argv[1]);
	tp_wait_usr2();
	verify();
	tp_finish(checked);
}
