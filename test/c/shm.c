/*
 * shm.c - shared anonymous memory and memfds (tprog.h protocol).
 *
 *   shm READY           a parent P and its child C
 *   shm READY single    P alone (no child, no exchange)
 *   shm READY keepfds   C keeps its copies of the memfd fds (the open file
 *                       descriptions P has, and the same highest fd)
 *   shm READY sysv      P attached to a SysV shm segment as well (refused)
 *
 * Set up before READY:
 *   S1  16 pages MAP_SHARED|MAP_ANONYMOUS, made before the fork: P writes
 *       pages 0-6, C pages 8-14, page 7 is never touched (a hole), page 15
 *       is the mailbox;
 *   M1  memfd "cs-test-shared" (MFD_CLOEXEC, so sealing is not allowed:
 *       seals F_SEAL_SEAL), 8 pages + 100 bytes, mapped MAP_SHARED before
 *       the fork (in both), its fd held by P only, at offset 123; P maps it
 *       MAP_PRIVATE too and writes page 0 of that mapping (a private copy),
 *       then writes page 1 through the shared mapping (which the private
 *       mapping, never written there, sees);
 *   M2  memfd "cs-test-sealed" (MFD_ALLOW_SEALING), 3 pages + 10 bytes
 *       written with write(2), sealed F_SEAL_SHRINK|GROW|WRITE, then mapped
 *       read-only MAP_SHARED before the fork (C keeps the mapping, P the
 *       fd, left at the end);
 *   S2  4 pages MAP_SHARED|MAP_ANONYMOUS in P only, pages 0 and 2 written.
 *
 * On SIGUSR2 P checks every value, the names (/proc/self/fd and maps),
 * sizes, offsets, fd flags and seals, that a sealed memfd refuses a write
 * and that its read-only mapping cannot be made writable; then P writes a
 * token into the mailboxes of S1 and M1 and wakes C, which checks its own
 * values and P's token, writes its own and exits with its verdict; P then
 * checks C's verdict and C's token, through the mapping and the fd.
 *
 * CS_TEST_CORRUPT: share (C swaps S1 for a private copy: the tokens are
 * not seen), value (P changes a word of S1), seals (P adds F_SEAL_SEAL to
 * M2), name (P replaces M1's fd with a memfd of another name), private
 * (P writes page 1 of its private mapping of M1).
 */
#define _GNU_SOURCE
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tprog.h"

#define PG 4096UL
#define S1_PAGES 16
#define S1_HOLE 7
#define S1_MBOX 15
#define M1_SIZE (8 * PG + 100)
#define M1_MBOX (8 * PG + 8)		/* two words, in the partial last page */
#define M2_SIZE (3 * PG + 10)
#define M2_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
#define S2_PAGES 4
#define TOK_P 0x7061726e74746f6bULL
#define TOK_C 0x6368696c64746f6bULL

static uint8_t *s1, *m1, *m1p, *m2, *s2;
static int m1fd, m2fd;
static unsigned checked;

static uint64_t val(unsigned obj, uint64_t off)
{
	return ((uint64_t)obj << 56) ^ (off * 0x9E3779B97F4A7C15ULL) ^ 0x5a5a5a5aULL;
}

static void fill(uint8_t *p, unsigned obj, uint64_t from, uint64_t len)
{
	for (uint64_t o = from; o < from + len; o += 8)
		*(uint64_t *)(p + o) = val(obj, o);
}

/* len bytes at p + from hold val(obj) (obj 0: zeros); one line per bad page */
static void check_range(const char *who, const char *what, const uint8_t *p, unsigned obj, uint64_t from,
			uint64_t len)
{
	char name[96];

	for (uint64_t o = from; o < from + len; o += 8) {
		uint64_t want = obj ? val(obj, o) : 0, got = *(const uint64_t *)(p + o);

		checked++;
		if (got != want) {
			snprintf(name, sizeof(name), "%s %s at offset %llu", who, what, (unsigned long long)o);
			tp_check_u64(name, got, want);
			o = (o | (PG - 1)) + 1 - 8;	/* on to the next page */
		}
	}
}

static void check_s1(const char *who, int single)
{
	check_range(who, "S1", s1, 1, 0, S1_HOLE * PG);
	check_range(who, "S1 (hole)", s1, 0, S1_HOLE * PG, PG);
	check_range(who, single ? "S1 (P's)" : "S1 (C's)", s1, 2, (S1_HOLE + 1) * PG, (S1_MBOX - S1_HOLE - 1) * PG);
}

static void check_m1_map(const char *who)
{
	check_range(who, "M1 mapping", m1, 3, 0, 8 * PG);
}

/* Is the mapping at p described by a line of /proc/self/maps ending in name? */
static void check_maps(const char *what, const void *p, const char *name)
{
	char line[512], want[64];
	FILE *f = fopen("/proc/self/maps", "re");
	int found = 0;

	snprintf(want, sizeof(want), "%lx-", (unsigned long)p);
	checked++;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, want, strlen(want))) {
			line[strcspn(line, "\n")] = 0;
			found = 1;
			if (!strstr(line, name) || (strstr(line, " rw-s ") == NULL && strstr(line, " r--s ") == NULL &&
						    strstr(line, " rw-p ") == NULL))
				tp_differs(what, "maps line \"%s\", want one ending in %s", line, name);
		}
	if (f)
		fclose(f);
	if (!found)
		tp_differs(what, "no mapping at %p", p);
}

static void check_link(const char *what, int fd, const char *want)
{
	char path[64], buf[256];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, buf, sizeof(buf) - 1);
	buf[n < 0 ? 0 : n] = 0;
	checked++;
	tp_check_str(what, buf, want);
}

static void check_fd(const char *what, int fd, off_t size, off_t pos, int cloexec)
{
	struct stat st;
	char name[64];

	fstat(fd, &st);
	snprintf(name, sizeof(name), "%s size", what);
	tp_check_u64(name, st.st_size, size);
	snprintf(name, sizeof(name), "%s offset", what);
	tp_check_u64(name, lseek(fd, 0, SEEK_CUR), pos);
	snprintf(name, sizeof(name), "%s FD_CLOEXEC", what);
	tp_check_u64(name, !!(fcntl(fd, F_GETFD) & FD_CLOEXEC), cloexec);
	snprintf(name, sizeof(name), "%s access mode", what);
	tp_check_u64(name, fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
	checked += 4;
}

static void check_p(int single)
{
	uint8_t buf[PG];
	int seals;

	check_s1("P", single);
	check_m1_map("P");
	check_maps("S1", s1, "/dev/zero (deleted)");
	check_maps("S2", s2, "/dev/zero (deleted)");
	check_maps("M1 shared mapping", m1, "/memfd:cs-test-shared (deleted)");
	check_maps("M1 private mapping", m1p, "/memfd:cs-test-shared (deleted)");
	check_maps("M2 mapping", m2, "/memfd:cs-test-sealed (deleted)");

	/* M1: its fd, the same pages as the mapping */
	check_link("M1 name", m1fd, "/memfd:cs-test-shared (deleted)");
	check_fd("M1", m1fd, M1_SIZE, 123, 1);
	checked++;
	{
		static uint8_t whole[3 * PG];

		if (pread(m1fd, whole + 2 * PG, PG, 2 * PG) != (ssize_t)PG)
			tp_differs("M1 read", "pread: %s", strerror(errno));
		else
			check_range("P", "M1 through its fd", whole, 3, 2 * PG, PG);
	}
	seals = fcntl(m1fd, F_GET_SEALS);
	checked++;
	tp_check_u64("M1 seals", seals, F_SEAL_SEAL);

	/* the private mapping: its own page 0, the memfd's page 1 */
	check_range("P", "M1 private page 0", m1p, 4, 0, PG);
	check_range("P", "M1 private page 1 (the memfd's)", m1p, 3, PG, PG);

	/* M2: sealed */
	check_link("M2 name", m2fd, "/memfd:cs-test-sealed (deleted)");
	check_fd("M2", m2fd, M2_SIZE, M2_SIZE, 0);
	check_range("P", "M2 mapping", m2, 5, 0, 3 * PG);
	checked++;
	if (pread(m2fd, buf, 16, 3 * PG) != 10 || *(uint64_t *)buf != val(5, 3 * PG))
		tp_differs("M2 tail", "the 10 bytes after 3 pages are not as written");
	seals = fcntl(m2fd, F_GET_SEALS);
	checked++;
	tp_check_u64("M2 seals", seals, M2_SEALS);
	checked++;
	if (pwrite(m2fd, "x", 1, 0) != -1 || errno != EPERM)
		tp_differs("M2 write seal", "a write was not refused with EPERM (%s)", strerror(errno));
	checked++;
	if (mprotect(m2, 3 * PG, PROT_READ | PROT_WRITE) == 0) {
		tp_differs("M2 mapping", "a read-only shared mapping of a sealed memfd could be made writable");
		mprotect(m2, 3 * PG, PROT_READ);
	}

	/* S2: mapped once, with a hole */
	check_range("P", "S2 page 0", s2, 6, 0, PG);
	check_range("P", "S2 page 1 (hole)", s2, 0, PG, PG);
	check_range("P", "S2 page 2", s2, 6, 2 * PG, PG);
	check_range("P", "S2 page 3 (hole)", s2, 0, 3 * PG, PG);
}

static uint64_t *mbox_s1(void)
{
	return (uint64_t *)(s1 + S1_MBOX * PG);
}

static uint64_t *mbox_m1(void)
{
	return (uint64_t *)(m1 + M1_MBOX);
}

static void child_main(int ready, int keepfds)
{
	char c = 1;

	if (!keepfds) {
		close(m1fd);
		close(m2fd);
	}
	fill(s1, 2, (S1_HOLE + 1) * PG, (S1_MBOX - S1_HOLE - 1) * PG);
	if (tp_corrupting("share")) {
		/* a private copy of S1 in place of the shared one */
		uint8_t *copy = mmap(NULL, S1_PAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (copy == MAP_FAILED)
			tp_die("mmap");
		memcpy(copy, s1, S1_PAGES * PG);
		if (mremap(copy, S1_PAGES * PG, S1_PAGES * PG, MREMAP_MAYMOVE | MREMAP_FIXED, s1) != s1)
			tp_die("mremap");
	}
	if (write(ready, &c, 1) != 1)
		tp_die("cannot tell P");
	close(ready);
	tp_wait_usr2();

	check_s1("C", 0);
	check_m1_map("C");
	check_maps("C's S1", s1, "/dev/zero (deleted)");
	check_maps("C's M1 mapping", m1, "/memfd:cs-test-shared (deleted)");
	if (keepfds) {
		/* the open file descriptions of P: the same offsets */
		checked += 2;
		tp_check_u64("C's M1 fd offset", lseek(m1fd, 0, SEEK_CUR), 123);
		tp_check_u64("C's M2 fd offset", lseek(m2fd, 0, SEEK_CUR), M2_SIZE);
		check_link("C's M1 name", m1fd, "/memfd:cs-test-shared (deleted)");
	}
	checked += 2;
	tp_check_u64("C sees P's token in S1", mbox_s1()[0], TOK_P);
	tp_check_u64("C sees P's token in M1", mbox_m1()[0], TOK_P);
	mbox_s1()[1] = TOK_C;
	mbox_m1()[1] = TOK_C;
	tp_finish(checked);
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "share", "value", "seals", "name", "private", NULL };
	int single = 0, sysv = 0, keepfds = 0, pp[2];
	pid_t child = 0;

	tp_init("shm", argc, argv);
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "single"))
			single = 1;
		else if (!strcmp(argv[i], "sysv"))
			sysv = 1;
		else if (!strcmp(argv[i], "keepfds"))
			keepfds = 1;
		else {
			errno = EINVAL;
			tp_die("unknown argument %s", argv[i]);
		}
	}
	tp_corrupt_check_mode(modes);
	tp_block_usr2();

	s1 = mmap(NULL, S1_PAGES * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	m1fd = memfd_create("cs-test-shared", MFD_CLOEXEC);
	if (s1 == MAP_FAILED || m1fd < 0 || ftruncate(m1fd, M1_SIZE))
		tp_die("S1 or M1");
	m1 = mmap(NULL, M1_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, m1fd, 0);
	if (m1 == MAP_FAILED)
		tp_die("mmap M1");
	fill(s1, 1, 0, S1_HOLE * PG);
	fill(m1, 3, 0, 8 * PG);
	if (lseek(m1fd, 123, SEEK_SET) != 123)
		tp_die("lseek");

	m2fd = memfd_create("cs-test-sealed", MFD_ALLOW_SEALING);
	if (m2fd < 0)
		tp_die("memfd M2");
	{
		static uint8_t b[M2_SIZE + 8];

		fill(b, 5, 0, M2_SIZE + 6);
		if (write(m2fd, b, M2_SIZE) != (ssize_t)M2_SIZE || fcntl(m2fd, F_ADD_SEALS, M2_SEALS))
			tp_die("M2");
	}
	m2 = mmap(NULL, 3 * PG, PROT_READ, MAP_SHARED, m2fd, 0);
	if (m2 == MAP_FAILED)
		tp_die("mmap M2");

	if (single) {
		fill(s1, 2, (S1_HOLE + 1) * PG, (S1_MBOX - S1_HOLE - 1) * PG);
	} else {
		char c;

		if (pipe(pp))
			tp_die("pipe");
		child = fork();
		if (child < 0)
			tp_die("fork");
		if (child == 0) {
			close(pp[0]);
			child_main(pp[1], keepfds);
		}
		close(pp[1]);
		if (read(pp[0], &c, 1) != 1)
			tp_die("C did not get ready");
		close(pp[0]);
	}

	/* after the fork: P's own */
	m1p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, m1fd, 0);
	s2 = mmap(NULL, S2_PAGES * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m1p == MAP_FAILED || s2 == MAP_FAILED)
		tp_die("mmap");
	fill(m1p, 4, 0, PG);		/* a private copy of page 0 */
	fill(m1, 3, PG, PG);		/* page 1 again, through the shared mapping */
	fill(s2, 6, 0, PG);
	fill(s2, 6, 2 * PG, PG);

	if (sysv) {
		int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
		void *p = id < 0 ? (void *)-1 : shmat(id, NULL, 0);

		if (p == (void *)-1)
			tp_die("shmget/shmat");
		shmctl(id, IPC_RMID, NULL);	/* gone once detached */
	}

	/* CS_TEST_CORRUPT: what a faulty restore would do */
	if (tp_corrupting("value"))
		*(uint64_t *)(s1 + 3 * PG + 64) ^= 1;
	if (tp_corrupting("seals") && fcntl(m2fd, F_ADD_SEALS, F_SEAL_SEAL))
		tp_die("corrupt: seal");
	if (tp_corrupting("name")) {
		int fd = memfd_create("cs-test-renamed", MFD_CLOEXEC);

		if (fd < 0 || ftruncate(fd, M1_SIZE) || pwrite(fd, m1, M1_SIZE, 0) != (ssize_t)M1_SIZE ||
		    lseek(fd, 123, SEEK_SET) != 123 || dup3(fd, m1fd, O_CLOEXEC) != m1fd)
			tp_die("corrupt: name");
		close(fd);
	}
	if (tp_corrupting("private"))
		*(uint64_t *)(m1p + PG + 8) = 42;

	tp_write_ready(argv[1]);
	tp_wait_usr2();

	check_p(single);
	if (!single) {
		int st = -1;

		mbox_s1()[0] = TOK_P;
		mbox_m1()[0] = TOK_P;
		kill(child, SIGUSR2);
		if (waitpid(child, &st, 0) != child)
			tp_differs("C", "cannot wait for it: %s", strerror(errno));
		checked += 4;
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			tp_differs("C verdict", "status %#x, want exit 0", st);
		tp_check_u64("P sees C's token in S1", mbox_s1()[1], TOK_C);
		tp_check_u64("P sees C's token in M1", mbox_m1()[1], TOK_C);
		{
			uint64_t w = 0;

			if (pread(m1fd, &w, 8, M1_MBOX + 8) != 8)
				w = 0;
			tp_check_u64("P sees C's token in M1 through the fd", w, TOK_C);
		}
	}
	tp_finish(checked);
}
