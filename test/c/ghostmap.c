/*
 * ghostmap - a process whose executable, a shared library and a mapped
 * data file were deleted (or the executable replaced) while it runs, as a
 * daemon is after a package upgrade. Checked by t510-ghostmap.bats.
 *
 *   ghostmap READY deleted|replaced|kept|tree|fork
 *
 * Stage 1 copies its own executable and ghostmap-lib.so (this file built
 * with -DGM_LIB -shared, next to it) into DIR/gm (DIR: READY's directory)
 * and re-executes the copy (same PID). Stage 2:
 *   - dlopen()s DIR/gm/gm-lib.so and keeps a function and a string of it;
 *   - creates DIR/gm/gm-data (5 pages + 100 bytes of a pattern) and maps it
 *     three times: A private read-only at offset 4096 (2 pages), B private
 *     read-write at 0 (2 pages, one byte written: a copied-on-write page),
 *     C shared read-write, whole (one byte written: the file changes); fd D
 *     stays open on it read-write;
 *   - deletes gm-exe, gm-lib.so and gm-data; "replaced": a new file is
 *     renamed over gm-exe (as dpkg does), so that the path names another
 *     inode;
 *   - records every mapping of DIR/gm (address, protections, offset, name,
 *     and a checksum of what is readable and not writable), the bytes of
 *     the executable, and the names in DIR/gm.
 * On SIGUSR2 it checks: the library's function and string, every mapping
 * as recorded, A, B and C byte by byte, that D and C share the inode (a
 * write through D is seen in C), /proc/self/exe reads "DIR/gm/gm-exe
 * (deleted)" ("replaced": or "DIR/gm/gm-exe.cs-ghost.PID.N (deleted)",
 * since the name is taken; the test checks which), has no link left and
 * holds the same bytes, the new file at the path is untouched (inode,
 * size, mtime, contents), and DIR/gm holds the same names as before:
 * nothing was left behind. "kept" deletes nothing (for the refusal of a
 * mapping whose path a mount now covers): the names and links stay.
 * "tree" is "deleted" with a child process that inherits the mappings,
 * C among them (MAP_SHARED), for the refusal of a deleted file shared
 * between processes; the child dies with its parent. "fork" is "tree"
 * whose child drops A, B, C and D: a tree whose processes both run the
 * deleted executable and library.
 *
 * CS_TEST_CORRUPT: code (a byte of the library's read-only data, through
 * mprotect), data (a byte of B), shared (a byte of C), exe (the recorded
 * executable name), leftover (a new file in DIR/gm), path ("replaced": the
 * new file at the path is appended to).
 */
#ifdef GM_LIB
/* ghostmap-lib.so: a function and read-only data to find again after a restore */
const char gm_lib_text[] = "ghostmap library, read-only data";

int gm_lib_value(int x);
int gm_lib_value(int x)
{
	return x * 31 + 7;
}
#else
#include <dirent.h>
#include <dlfcn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tprog.h"

#define PG 4096
#define DATA_SIZE (5 * PG + 100)
#define NEW_TEXT "a new executable, installed by the upgrade\n"
#define MAX_MAPS 32
#define MAX_NAMES 16

static char dir[4096];		/* DIR/gm */
static int replaced, kept, tree, forked;

static unsigned char pat(size_t i)
{
	return (unsigned char)(i * 7 + i / PG + 1);
}

static struct mapping {
	unsigned long start, end, off;
	char perms[8];
	char path[4200];
	uint64_t sum;		/* FNV-1a of the bytes, when readable and not writable */
} maps0[MAX_MAPS];
static int nmaps0;

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

/* "DIR/gm/gm-exe.cs-ghost.PID.N (deleted)" -> "DIR/gm/gm-exe (deleted)", when "replaced" */
static void normalize(char *path)
{
	char *g = strstr(path, ".cs-ghost.");
	char *d = strstr(path, " (deleted)");

	if (!replaced || !g || !d || d < g)
		return;
	memmove(g, d, strlen(d) + 1);
}

/* The mappings of DIR/gm, in address order. */
static int read_maps(struct mapping *m)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[4400];
	int n = 0;

	if (!f)
		tp_die("cannot open /proc/self/maps");
	while (fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/');
		unsigned long s, e, o;
		char perms[8];

		if (!p || strncmp(p, dir, strlen(dir)) || p[strlen(dir)] != '/')
			continue;
		if (sscanf(line, "%lx-%lx %7s %lx", &s, &e, perms, &o) != 4 || n == MAX_MAPS)
			tp_die("cannot parse /proc/self/maps: %s", line);
		p[strcspn(p, "\n")] = 0;
		m[n].start = s;
		m[n].end = e;
		m[n].off = o;
		snprintf(m[n].perms, sizeof(m[n].perms), "%s", perms);
		snprintf(m[n].path, sizeof(m[n].path), "%s", p);
		normalize(m[n].path);
		m[n].sum = perms[0] == 'r' && perms[1] != 'w' ? fnv((void *)s, e - s, 0xcbf29ce484222325ULL) : 0;
		n++;
	}
	fclose(f);
	return n;
}

/* The names in DIR/gm, sorted, joined by '/'. */
static void list_dir(char *out, size_t len)
{
	char names[MAX_NAMES][256];
	int n = 0;
	size_t o = 0;
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		tp_die("cannot open %s", dir);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && n < MAX_NAMES)
			snprintf(names[n++], sizeof(names[0]), "%s", e->d_name);
	closedir(d);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (strcmp(names[j], names[i]) < 0) {
				char t[256];

				memcpy(t, names[i], sizeof(t));
				memcpy(names[i], names[j], sizeof(t));
				memcpy(names[j], t, sizeof(t));
			}
	out[0] = 0;
	for (int i = 0; i < n && o < len; i++)
		o += snprintf(out + o, len - o, "%s/", names[i]);
}

static uint64_t file_sum(const char *path, off_t *size)
{
	unsigned char buf[65536];
	uint64_t h = 0xcbf29ce484222325ULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	*size = 0;
	if (fd < 0)
		return 0;
	while ((r = read(fd, buf, sizeof(buf))) > 0) {
		h = fnv(buf, r, h);
		*size += r;
	}
	close(fd);
	return h;
}

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t r;

	if (in < 0)
		tp_die("cannot open %s", from);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (out < 0)
		tp_die("cannot create %s", to);
	while ((r = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, r) != r)
			tp_die("cannot write %s", to);
	if (r < 0 || close(out))
		tp_die("cannot copy %s to %s", from, to);
	close(in);
}

/* Stage 1: copies of the executable and the library in DIR/gm, and exec the copy. */
static void stage1(char **argv)
{
	char self[4096], lib[4200], exe[4200];
	ssize_t l = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (l < 0)
		tp_die("cannot read /proc/self/exe");
	self[l] = 0;
	tp_dirname(self, lib, sizeof(lib));
	strncat(lib, "/ghostmap-lib.so", sizeof(lib) - strlen(lib) - 1);
	if (mkdir(dir, 0755) && errno != EEXIST)
		tp_die("cannot create %s", dir);
	snprintf(exe, sizeof(exe), "%s/gm-exe", dir);
	copy_file(self, exe);
	snprintf(self, sizeof(self), "%s/gm-lib.so", dir);
	copy_file(lib, self);
	execv(exe, (char *[]){ "gm-exe", argv[1], argv[2], "stage2", NULL });
	tp_die("cannot execute %s", exe);
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "code", "data", "shared", "exe", "leftover", "path", NULL };
	char exe[4200], lib[4200], data[4200], tmp[4300], names0[4096], names1[4096], want_exe[4300];
	char got_exe[4300], ghost_exe[4300];
	unsigned char *A, *B, *C;
	int (*fn)(int);
	const char *text;
	struct stat new0 = { 0 }, st;
	uint64_t exe_sum0, new_sum0 = 0, sum;
	off_t exe_size0, new_size0 = 0, size;
	unsigned checked = 0;
	void *h;
	pid_t child = 0;
	int D;
	ssize_t l;

	tp_init("ghostmap", argc, argv);
	if (argc < 3 || (strcmp(argv[2], "deleted") && strcmp(argv[2], "replaced") && strcmp(argv[2], "kept") &&
			 strcmp(argv[2], "tree") && strcmp(argv[2], "fork"))) {
		fprintf(stderr, "usage: ghostmap READY deleted|replaced|kept|tree|fork\n");
		return TP_EXIT_SETUP;
	}
	replaced = !strcmp(argv[2], "replaced");
	kept = !strcmp(argv[2], "kept");
	forked = !strcmp(argv[2], "fork");
	tree = forked || !strcmp(argv[2], "tree");
	tp_corrupt_check_mode(modes);
	tp_dirname(argv[1], dir, sizeof(dir) - 8);
	strcat(dir, "/gm");
	if (argc < 4 || strcmp(argv[3], "stage2"))
		stage1(argv);
	tp_block_usr2();
	snprintf(exe, sizeof(exe), "%s/gm-exe", dir);
	snprintf(lib, sizeof(lib), "%s/gm-lib.so", dir);
	snprintf(data, sizeof(data), "%s/gm-data", dir);

	h = dlopen(lib, RTLD_NOW);
	if (!h)
		tp_die("cannot dlopen %s: %s", lib, dlerror());
	fn = (int (*)(int))dlsym(h, "gm_lib_value");
	text = dlsym(h, "gm_lib_text");
	if (!fn || !text)
		tp_die("%s lacks gm_lib_value or gm_lib_text", lib);

	D = open(data, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (D < 0)
		tp_die("cannot create %s", data);
	for (size_t i = 0; i < DATA_SIZE; i++) {
		unsigned char b = pat(i);

		if (write(D, &b, 1) != 1)
			tp_die("cannot write %s", data);
	}
	A = mmap(NULL, 2 * PG, PROT_READ, MAP_PRIVATE, D, PG);
	B = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, D, 0);
	C = mmap(NULL, 6 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, D, 0);
	if (A == MAP_FAILED || B == MAP_FAILED || C == MAP_FAILED)
		tp_die("cannot map %s", data);
	B[10] = 0xab;		/* a private copy of page 0 */
	C[2 * PG + 5] = 0xcd;	/* the file's page 2: A sees it at PG + 5 */

	if (!kept && (unlink(exe) || unlink(lib) || unlink(data)))
		tp_die("cannot delete the files in %s", dir);
	if (replaced) {
		int fd;

		snprintf(tmp, sizeof(tmp), "%s/gm-exe.new", dir);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
		if (fd < 0 || write(fd, NEW_TEXT, strlen(NEW_TEXT)) != (ssize_t)strlen(NEW_TEXT) || close(fd))
			tp_die("cannot write %s", tmp);
		if (rename(tmp, exe))
			tp_die("cannot rename %s to %s", tmp, exe);
		if (stat(exe, &new0))
			tp_die("cannot stat %s", exe);
		new_sum0 = file_sum(exe, &new_size0);
	}
	snprintf(want_exe, sizeof(want_exe), kept ? "%s" : "%s (deleted)", exe);
	exe_sum0 = file_sum("/proc/self/exe", &exe_size0);
	nmaps0 = read_maps(maps0);
	list_dir(names0, sizeof(names0));
	if (nmaps0 < 8)
		tp_die("only %d mappings of %s", nmaps0, dir);

	if (tp_corrupting("code")) {
		/* a byte of the library's read-only data, as a wrong page would be */
		char *p = (char *)text;
		uintptr_t pg = (uintptr_t)p & ~(uintptr_t)(PG - 1);

		if (mprotect((void *)pg, PG, PROT_READ | PROT_WRITE))
			tp_die("mprotect");
		p[0] ^= 1;
		mprotect((void *)pg, PG, PROT_READ);
	}
	if (tp_corrupting("data"))
		B[PG + 1] ^= 1;
	if (tp_corrupting("shared"))
		C[4 * PG + 50] ^= 1;
	if (tp_corrupting("exe"))
		want_exe[strlen(dir) + 1] ^= 1;
	if (tp_corrupting("leftover")) {
		snprintf(tmp, sizeof(tmp), "%s/gm-leftover", dir);
		close(open(tmp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
	}
	if (tp_corrupting("path")) {
		int fd = open(exe, O_WRONLY | O_APPEND | O_CLOEXEC);

		if (fd < 0 || write(fd, "x", 1) != 1)
			tp_die("cannot append to %s", exe);
		close(fd);
	}

	if (tree) {
		child = fork();
		if (child < 0)
			tp_die("fork");
		if (!child) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() == 1)
				_exit(0);
			if (forked) {
				munmap(A, 2 * PG);
				munmap(B, 2 * PG);
				munmap(C, 6 * PG);
				close(D);
			}
			for (;;)
				pause();
		}
	}
	tp_write_ready(argv[1]);
	tp_wait_usr2();
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}

	/* the code of the executable runs (we are here), the library's too */
	checked++;
	if (fn(5) != 5 * 31 + 7)
		tp_differs("library function", "gm_lib_value(5) = %d, want %d", fn(5), 5 * 31 + 7);
	checked++;
	tp_check_str("library data", text, "ghostmap library, read-only data");

	{
		static struct mapping m[MAX_MAPS];
		int n = read_maps(m);

		checked++;
		if (n != nmaps0)
			tp_differs("mappings of the deleted files", "%d, want %d", n, nmaps0);
		for (int i = 0; i < n && i < nmaps0; i++) {
			char what[64];

			snprintf(what, sizeof(what), "mapping %d", i);
			checked++;
			if (m[i].start != maps0[i].start || m[i].end != maps0[i].end || m[i].off != maps0[i].off ||
			    strcmp(m[i].perms, maps0[i].perms) || strcmp(m[i].path, maps0[i].path))
				tp_differs(what, "got %lx-%lx %s %lx %s want %lx-%lx %s %lx %s", m[i].start, m[i].end,
					   m[i].perms, m[i].off, m[i].path, maps0[i].start, maps0[i].end, maps0[i].perms,
					   maps0[i].off, maps0[i].path);
			else if (m[i].sum != maps0[i].sum)
				tp_differs(what, "the bytes of %lx-%lx (%s, %s) changed", m[i].start, m[i].end,
					   m[i].perms, m[i].path);
		}
	}

	for (size_t i = 0; i < 2 * PG; i++) {
		unsigned char want = i == PG + 5 ? 0xcd : pat(PG + i);

		checked++;
		if (A[i] != want) {
			tp_differs("private read-only mapping", "byte %zu: got %#x want %#x", i, A[i], want);
			break;
		}
	}
	for (size_t i = 0; i < 2 * PG; i++) {
		unsigned char want = i == 10 ? 0xab : pat(i);

		checked++;
		if (B[i] != want) {
			tp_differs("private read-write mapping", "byte %zu: got %#x want %#x", i, B[i], want);
			break;
		}
	}
	for (size_t i = 0; i < 6 * PG; i++) {
		unsigned char want = i >= DATA_SIZE ? 0 : i == 2 * PG + 5 ? 0xcd : pat(i);

		checked++;
		if (C[i] != want) {
			tp_differs("shared mapping", "byte %zu: got %#x want %#x", i, C[i], want);
			break;
		}
	}
	/* the fd and the shared mapping: one inode, with no link */
	checked += 2;
	if (fstat(D, &st) || st.st_nlink != (nlink_t)kept || st.st_size != DATA_SIZE)
		tp_differs("fd on the deleted data file", "nlink %lu size %lld, want %d and %d",
			   (unsigned long)st.st_nlink, (long long)st.st_size, kept, DATA_SIZE);
	if (pwrite(D, "Z", 1, 4 * PG + 1) != 1 || C[4 * PG + 1] != 'Z')
		tp_differs("fd and shared mapping", "a write through the fd is not in the mapping (%#x)", C[4 * PG + 1]);

	/* the executable: the deleted file, not what its path names now */
	l = readlink("/proc/self/exe", got_exe, sizeof(got_exe) - 1);
	got_exe[l < 0 ? 0 : l] = 0;
	snprintf(ghost_exe, sizeof(ghost_exe), "%s/gm-exe.cs-ghost.%d.", dir, (int)getpid());
	checked++;
	if (strcmp(got_exe, want_exe) &&
	    !(replaced && !strncmp(got_exe, ghost_exe, strlen(ghost_exe)) && strstr(got_exe, " (deleted)") &&
	      !strcmp(strstr(got_exe, " (deleted)"), " (deleted)")))
		tp_differs("/proc/self/exe", "\"%s\", want \"%s\"%s", got_exe, want_exe,
			   replaced ? " or a name next to it" : "");
	checked += 2;
	if (stat("/proc/self/exe", &st) || st.st_nlink != (nlink_t)kept)
		tp_differs("executable", "has %lu link(s), want %d", (unsigned long)st.st_nlink, kept);
	sum = file_sum("/proc/self/exe", &size);
	if (sum != exe_sum0 || size != exe_size0)
		tp_differs("executable", "its %lld bytes are not the %lld it had", (long long)size, (long long)exe_size0);
	if (replaced) {
		struct stat now;

		checked += 2;
		if (stat(exe, &now) || now.st_ino != new0.st_ino || now.st_dev != new0.st_dev ||
		    now.st_size != new0.st_size || now.st_mtim.tv_sec != new0.st_mtim.tv_sec ||
		    now.st_mtim.tv_nsec != new0.st_mtim.tv_nsec)
			tp_differs("the new file at the executable's path", "inode, size or mtime changed");
		else if (file_sum(exe, &size) != new_sum0 || size != new_size0)
			tp_differs("the new file at the executable's path", "its contents changed");
		if (!stat("/proc/self/exe", &st) && st.st_ino == new0.st_ino && st.st_dev == new0.st_dev)
			tp_differs("executable", "is the new file at %s", exe);
	}
	list_dir(names1, sizeof(names1));
	checked++;
	if (strcmp(names1, names0))
		tp_differs("files in the directory", "\"%s\", want \"%s\"", names1, names0);
	tp_finish(checked);
}
#endif
