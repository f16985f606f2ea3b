/*
 * memory.c - does a process's memory come back byte for byte, with the
 * same protections and VMA flags?
 *
 *   memory READY_FILE
 *
 * Regions (all private; every pattern differs per page and per region):
 *   big     64 MiB anonymous, every page written
 *   split   16 pages cut by mprotect: 0-3 rw, 4-7 r, 8-9 PROT_NONE (with
 *           data written before it was protected), 10-11 r-x (holding a
 *           tiny function), 12-15 rw
 *   sparse  4 MiB mostly never touched; pages 0, 17, 511, 1023 written,
 *           page 100 written with zeros, page 200 only read
 *   heap    brk moved with sbrk() by 1 MiB + 12345 bytes, pattern in it
 *   stack   a 2 MiB array in main's frame
 *   file    a 16-page file made next to READY_FILE, mapped MAP_PRIVATE rw:
 *           pages 1 and 5 and the first 100 bytes of page 9 written
 *           (copy-on-write), 2 and 3 only read, the rest untouched; and the
 *           same file's pages 4-7 mapped read-only at file offset 16 KiB
 *   dc/hg/nh  regions with MADV_DONTFORK, MADV_HUGEPAGE, MADV_NOHUGEPAGE
 *   wf      a region with MADV_WIPEONFORK
 *   lk/lf   regions locked with mlock(2), and with mlock2(MLOCK_ONFAULT)
 *
 * Verification: contents page by page (recomputed patterns, zeros, the
 * file's bytes where a private page was never written); the file on disk
 * unchanged; perms, file offset and path from /proc/self/maps; that writes
 * to read-only pages and reads of PROT_NONE pages still fault (SIGSEGV
 * handler + sigsetjmp) and the r-x page still runs; VmFlags from
 * /proc/self/smaps (hg/nh only where the kernel has THP); brk (from the
 * kernel, not glibc's cache), start_brk and the [heap] VMA, and that the
 * heap still grows from where it ended; that a child forked after the
 * restore sees the wf region zeroed and has no dc region (it faults there).
 *
 * Only one thread, so /proc/self/{maps,smaps} describe what it set up.
 *
 * CS_TEST_CORRUPT: page prot none zero heap brk stack cow file vmflags thp
 * wipe mlock.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "tprog.h"

#define PG		4096ul
#define BIG_SIZE	(64ul << 20)
#define SPLIT_PAGES	16
#define SPARSE_PAGES	1024
#define HEAP_SIZE	((1ul << 20) + 12345)
#define STACK_WORDS	(2ul << 20) / 8
#define FILE_PAGES	16
#define HG_SIZE		(4ul << 20)

enum { S_BIG = 1, S_SPLIT, S_SPARSE, S_HEAP, S_STACK, S_FILE, S_FWRITE, S_DC, S_HG, S_NH, S_WF, S_LK, S_LF };

static unsigned nchecked;
static int have_thp = 1;

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t word(int seed, uint64_t page, uint64_t w)
{
	return splitmix((uint64_t)seed << 56 ^ page << 16 ^ w);
}

static void fill(void *p, size_t len, int seed, uint64_t first_page)
{
	uint64_t *q = p;

	for (size_t i = 0; i < len / 8; i++)
		q[i] = word(seed, first_page + i / (PG / 8), i % (PG / 8));
	for (size_t i = len & ~7ul; i < len; i++)	/* a ragged end: heap */
		((uint8_t *)p)[i] = (uint8_t)word(seed, 0xffff, i);
}

/* Compare LEN bytes at P with the pattern, one report per bad page. */
static void check_fill(const char *name, const void *p, size_t len, int seed, uint64_t first_page)
{
	const uint64_t *q = p;
	char what[96];
	size_t bad_page = (size_t)-1;

	for (size_t i = 0; i < len / 8; i++) {
		uint64_t want = word(seed, first_page + i / (PG / 8), i % (PG / 8));
		if (q[i] != want && i / (PG / 8) != bad_page) {
			bad_page = i / (PG / 8);
			snprintf(what, sizeof(what), "%s page %zu word %zu (%p)", name,
				 bad_page, i % (PG / 8), (void *)&q[i]);
			tp_check_u64(what, q[i], want);
		}
	}
	for (size_t i = len & ~7ul; i < len; i++) {
		uint8_t want = (uint8_t)word(seed, 0xffff, i);
		if (((const uint8_t *)p)[i] != want) {
			snprintf(what, sizeof(what), "%s byte %zu", name, i);
			tp_check_u64(what, ((const uint8_t *)p)[i], want);
			break;
		}
	}
	nchecked += (unsigned)((len + PG - 1) / PG);
}

static void check_zero(const char *name, const uint8_t *p, size_t len)
{
	char what[96];

	for (size_t i = 0; i < len; i++)
		if (p[i]) {
			snprintf(what, sizeof(what), "%s byte %zu", name, i);
			tp_check_u64(what, p[i], 0);
			i = (i / PG + 1) * PG - 1;	/* next page */
		}
	nchecked += (unsigned)(len / PG);
}

static void *map_anon(size_t len, int prot)
{
	void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		tp_die("mmap %zu bytes", len);
	return p;
}

/* ---- /proc/self/maps and smaps ----------------------------------------- */

static char procbuf[4 << 20];

static const char *read_proc(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;

	if (fd < 0)
		return NULL;
	for (;;) {
		ssize_t r = read(fd, procbuf + n, sizeof(procbuf) - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += r;
	}
	close(fd);
	procbuf[n] = '\0';
	return procbuf;
}

#define NO_OFFSET (~0ull)

struct mapline {
	uintptr_t start, end;
	char perms[5];
	unsigned long long off;
	char path[PATH_MAX];
};

/* Parse one maps line at *pp, advance *pp past it. */
static int next_mapline(const char **pp, struct mapline *m)
{
	const char *p = *pp, *nl;
	int n = 0;

	if (!*p)
		return 0;
	nl = strchr(p, '\n');
	if (sscanf(p, "%lx-%lx %4s %llx %*s %*s %n", &m->start, &m->end, m->perms, &m->off, &n) < 4)
		return 0;
	size_t plen = (nl ? (size_t)(nl - p) : strlen(p)) - n;
	if (plen >= sizeof(m->path))
		plen = sizeof(m->path) - 1;
	memcpy(m->path, p + n, plen);
	m->path[plen] = '\0';
	*pp = nl ? nl + 1 : p + strlen(p);
	return 1;
}

/*
 * Every byte of [addr, addr+len) must be in maps lines with PERMS; when
 * PATH is given, with that path; unless OFF is NO_OFFSET, with a file offset
 * of OFF at addr.
 * Adjacent VMAs may have been merged or split differently: only coverage
 * and attributes count.
 */
static void check_maps(const char *name, const void *addr, size_t len, const char *perms,
		       const char *path, unsigned long long off)
{
	const char *p = read_proc("/proc/self/maps");
	uintptr_t a = (uintptr_t)addr, e = a + len, covered = 0;
	struct mapline m;
	char what[128];

	if (!p) {
		tp_differs("/proc/self/maps", "cannot read it: %s", strerror(errno));
		return;
	}
	while (next_mapline(&p, &m)) {
		if (m.end <= a || m.start >= e)
			continue;
		uintptr_t lo = m.start > a ? m.start : a, hi = m.end < e ? m.end : e;
		covered += hi - lo;
		snprintf(what, sizeof(what), "%s perms at %#lx", name, (unsigned long)lo);
		tp_check_str(what, m.perms, perms);
		if (path) {
			snprintf(what, sizeof(what), "%s mapped path at %#lx", name, (unsigned long)lo);
			tp_check_str(what, m.path, path);
		}
		if (off != NO_OFFSET) {
			snprintf(what, sizeof(what), "%s file offset at %#lx", name, (unsigned long)lo);
			tp_check_u64(what, m.off + (lo - m.start), off + (lo - a));
		}
	}
	snprintf(what, sizeof(what), "%s mapped bytes", name);
	tp_check_u64(what, covered, len);
	nchecked += 2;
}

/* The VmFlags line of the smaps entry holding ADDR, into OUT. */
static int vmflags_of(const void *addr, char *out, size_t outsz)
{
	const char *p = read_proc("/proc/self/smaps");
	uintptr_t a = (uintptr_t)addr;
	int inside = 0;

	if (!p)
		return -1;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t ll = nl ? (size_t)(nl - p) : strlen(p);
		uintptr_t s, e;
		char c;

		/* an entry header: "start-end perms ..." */
		if (sscanf(p, "%lx-%lx %c", &s, &e, &c) == 3 && memchr(p, '-', ll))
			inside = a >= s && a < e;
		else if (inside && !strncmp(p, "VmFlags:", 8)) {
			size_t n = ll - 8 < outsz - 1 ? ll - 8 : outsz - 1;
			memcpy(out, p + 8, n);
			out[n] = '\0';
			return 0;
		}
		p = nl ? nl + 1 : p + ll;
	}
	return -1;
}

static int has_flag(const char *flags, const char *f)
{
	size_t fl = strlen(f);

	for (const char *p = flags; (p = strstr(p, f)); p += fl)
		if ((p == flags || p[-1] == ' ') && (p[fl] == ' ' || p[fl] == '\0'))
			return 1;
	return 0;
}

/* Flags in WANT must be there, flags in NOT must not. */
static void check_vmflags(const char *name, const void *addr, const char *const *want,
			  const char *const *not)
{
	char flags[256], what[96];

	if (vmflags_of(addr, flags, sizeof(flags)) < 0) {
		snprintf(what, sizeof(what), "%s VmFlags", name);
		tp_differs(what, "got no smaps entry for %p want one", addr);
		return;
	}
	for (; want && *want; want++)
		if (!has_flag(flags, *want)) {
			snprintf(what, sizeof(what), "%s VmFlags", name);
			tp_differs(what, "got \"%s\" want it to contain %s", flags + 1, *want);
		}
	for (; not && *not; not++)
		if (has_flag(flags, *not)) {
			snprintf(what, sizeof(what), "%s VmFlags", name);
			tp_differs(what, "got \"%s\" want it without %s", flags + 1, *not);
		}
	nchecked++;
}

/* ---- faults ------------------------------------------------------------ */

static sigjmp_buf fault_jmp;
static volatile void *fault_addr;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	fault_addr = si->si_addr;
	siglongjmp(fault_jmp, 1);
}

/* Does touching P (write if WRITE, else read) fault?  1 yes, 0 no. */
static int faults(volatile uint8_t *p, int write)
{
	fault_addr = NULL;
	if (sigsetjmp(fault_jmp, 1))
		return 1;
	if (write)
		*p = *p;	/* same value: harmless when it does not fault */
	else
		(void)*p;
	return 0;
}

static void check_fault(const char *name, void *p, int write, int want)
{
	char what[96];
	int got = faults(p, write);

	snprintf(what, sizeof(what), "%s: %s at %p", name, write ? "write" : "read", p);
	if (got != want)
		tp_differs(what, "got %s want %s", got ? "SIGSEGV" : "no fault", want ? "SIGSEGV" : "no fault");
	nchecked++;
}

/* ---- main -------------------------------------------------------------- */

static const uint8_t ret42[] = { 0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3 };	/* mov $42,%eax; ret */

static __attribute__((noinline)) void fill_stack(uint64_t *a)
{
	fill(a, STACK_WORDS * 8, S_STACK, 0);
}

static long sys_brk(unsigned long to)
{
	return syscall(SYS_brk, to);
}

/* Field 47 of /proc/self/stat: start_brk. */
static unsigned long start_brk(void)
{
	const char *p = read_proc("/proc/self/stat");
	unsigned long v = 0;

	if (!p || !(p = strrchr(p, ')')))
		return 0;
	p += 2;
	for (int field = 3; field < 47 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (p)
		v = strtoul(p, NULL, 10);
	return v;
}

int main(int argc, char **argv)
{
	static const char *const modes[] = {
		"page", "prot", "none", "zero", "heap", "brk", "stack", "cow", "file",
		"vmflags", "thp", "wipe", "mlock", NULL,
	};
	char dir[PATH_MAX], fpath[PATH_MAX + 32], real_fpath[PATH_MAX];
	uint64_t stack_arr[STACK_WORDS];
	uint8_t *big, *split, *sparse, *heap, *fmap, *fro, *dc, *hg, *nh, *wf, *lk, *lf;
	unsigned long heap_end, heap_start_brk;
	int fd;

	tp_init("memory", argc, argv);
	tp_corrupt_check_mode(modes);
	tp_block_usr2();

	big = map_anon(BIG_SIZE, PROT_READ | PROT_WRITE);
	fill(big, BIG_SIZE, S_BIG, 0);

	split = map_anon(SPLIT_PAGES * PG, PROT_READ | PROT_WRITE);
	fill(split, SPLIT_PAGES * PG, S_SPLIT, 0);
	memcpy(split + 10 * PG, ret42, sizeof(ret42));
	if (mprotect(split + 4 * PG, 4 * PG, PROT_READ) ||
	    mprotect(split + 8 * PG, 2 * PG, PROT_NONE) ||
	    mprotect(split + 10 * PG, 2 * PG, PROT_READ | PROT_EXEC))
		tp_die("mprotect");

	sparse = map_anon(SPARSE_PAGES * PG, PROT_READ | PROT_WRITE);
	static const int sparse_set[] = { 0, 17, 511, 1023 };
	for (unsigned i = 0; i < sizeof(sparse_set) / sizeof(*sparse_set); i++)
		fill(sparse + sparse_set[i] * PG, PG, S_SPARSE, sparse_set[i]);
	memset(sparse + 100 * PG, 0, PG);
	if (*(volatile uint8_t *)(sparse + 200 * PG))
		tp_die("fresh anonymous page is not zero");

	heap = sbrk(HEAP_SIZE);
	if (heap == (void *)-1)
		tp_die("sbrk");
	fill(heap, HEAP_SIZE, S_HEAP, 0);
	heap_end = (unsigned long)sys_brk(0);
	heap_start_brk = start_brk();
	if (heap_end != (unsigned long)heap + HEAP_SIZE || !heap_start_brk) {
		errno = EINVAL;
		tp_die("brk is %#lx, want %p + %#lx (start_brk %#lx)", heap_end, heap, HEAP_SIZE, heap_start_brk);
	}

	fill_stack(stack_arr);

	/* the file: next to the ready file, so the test's temp dir cleans it up */
	tp_dirname(argv[1], dir, sizeof(dir));
	snprintf(fpath, sizeof(fpath), "%s/memory-file.bin", dir);
	fd = open(fpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		tp_die("create %s", fpath);
	{
		static uint8_t fbuf[FILE_PAGES * PG];
		fill(fbuf, sizeof(fbuf), S_FILE, 0);
		if (pwrite(fd, fbuf, sizeof(fbuf), 0) != (ssize_t)sizeof(fbuf))
			tp_die("write %s", fpath);
	}
	if (!realpath(fpath, real_fpath))
		tp_die("realpath %s", fpath);
	fmap = mmap(NULL, FILE_PAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	fro = mmap(NULL, 4 * PG, PROT_READ, MAP_PRIVATE, fd, 4 * PG);
	if (fmap == MAP_FAILED || fro == MAP_FAILED)
		tp_die("mmap %s", fpath);
	close(fd);		/* the mappings alone keep it */
	fill(fmap + 1 * PG, PG, S_FWRITE, 1);
	fill(fmap + 5 * PG, PG, S_FWRITE, 5);
	{
		uint8_t tmp[PG];
		fill(tmp, PG, S_FWRITE, 9);
		memcpy(fmap + 9 * PG, tmp, 100);
	}
	(void)*(volatile uint8_t *)(fmap + 2 * PG);	/* read, not written */
	(void)*(volatile uint8_t *)(fmap + 3 * PG + 7);

	dc = map_anon(8 * PG, PROT_READ | PROT_WRITE);
	nh = map_anon(8 * PG, PROT_READ | PROT_WRITE);
	/* 2 MiB aligned inside a bigger reservation, so THP could really back it */
	{
		uint8_t *r = map_anon(HG_SIZE + (2ul << 20), PROT_READ | PROT_WRITE);
		hg = (uint8_t *)(((uintptr_t)r + (2ul << 20) - 1) & ~((2ul << 20) - 1));
		if (hg > r)
			munmap(r, hg - r);
		munmap(hg + HG_SIZE, (r + HG_SIZE + (2ul << 20)) - (hg + HG_SIZE));
	}
	if (madvise(dc, 8 * PG, MADV_DONTFORK))
		tp_die("madvise MADV_DONTFORK");
	wf = map_anon(8 * PG, PROT_READ | PROT_WRITE);
	if (madvise(wf, 8 * PG, MADV_WIPEONFORK))
		tp_die("madvise MADV_WIPEONFORK");
	fill(wf, 8 * PG, S_WF, 0);
	lk = map_anon(8 * PG, PROT_READ | PROT_WRITE);
	lf = map_anon(8 * PG, PROT_READ | PROT_WRITE);
	fill(lk, 8 * PG, S_LK, 0);
	fill(lf, 2 * PG, S_LF, 0);
	if (mlock(lk, 8 * PG) || syscall(SYS_mlock2, lf, 8 * PG, 1 /* MLOCK_ONFAULT */))
		tp_die("mlock");
	/* EINVAL: a kernel without transparent huge pages */
	if (madvise(hg, HG_SIZE, MADV_HUGEPAGE) || madvise(nh, 8 * PG, MADV_NOHUGEPAGE)) {
		if (errno != EINVAL)
			tp_die("madvise MADV_(NO)HUGEPAGE");
		have_thp = 0;
		tp_log("note: no transparent huge pages here: hg/nh VmFlags not checked");
	}
	fill(dc, 8 * PG, S_DC, 0);
	fill(nh, 8 * PG, S_NH, 0);
	fill(hg, HG_SIZE, S_HG, 0);

	/* negative controls: break one thing after set-up */
	if (tp_corrupting("page"))
		big[12345 * PG + 77] ^= 1;
	if (tp_corrupting("prot"))
		mprotect(split + 4 * PG, 4 * PG, PROT_READ | PROT_WRITE);
	if (tp_corrupting("none")) {
		mprotect(split + 8 * PG, 2 * PG, PROT_READ | PROT_WRITE);
		split[9 * PG + 5] ^= 1;
		mprotect(split + 8 * PG, 2 * PG, PROT_NONE);
	}
	if (tp_corrupting("zero"))
		sparse[300 * PG + 1] = 1;
	if (tp_corrupting("heap"))
		heap[HEAP_SIZE - 1] ^= 1;
	if (tp_corrupting("brk"))
		sys_brk(heap_end + PG);
	if (tp_corrupting("stack"))
		stack_arr[STACK_WORDS - 3] ^= 1;
	if (tp_corrupting("cow"))
		fmap[7 * PG + 1] ^= 1;
	if (tp_corrupting("file")) {
		int wfd = open(fpath, O_WRONLY | O_CLOEXEC);
		if (wfd < 0 || pwrite(wfd, "X", 1, 12 * PG) != 1)
			tp_die("corrupt %s", fpath);
		close(wfd);
	}
	if (tp_corrupting("vmflags"))
		madvise(dc, 8 * PG, MADV_DOFORK);
	if (tp_corrupting("mlock"))
		munlock(lk, 8 * PG);
	if (tp_corrupting("wipe"))
		madvise(wf, 8 * PG, MADV_KEEPONFORK);
	if (tp_corrupting("thp")) {
		if (!have_thp)
			return TP_EXIT_SKIP;
		madvise(hg, HG_SIZE, MADV_NOHUGEPAGE);
	}

	tp_write_ready(argv[1]);
	tp_wait_usr2();

	/* the heap first: nothing below may move brk (no stdio, no malloc) */
	tp_check_u64("brk", (unsigned long)sys_brk(0), heap_end);
	tp_check_u64("start_brk", start_brk(), heap_start_brk);
	check_fill("heap", heap, HEAP_SIZE, S_HEAP, 0);
	check_maps("heap", heap, HEAP_SIZE, "rw-p", "[heap]", NO_OFFSET);

	check_fill("big", big, BIG_SIZE, S_BIG, 0);
	check_maps("big", big, BIG_SIZE, "rw-p", NULL, NO_OFFSET);

	check_fill("split rw", split, 4 * PG, S_SPLIT, 0);
	check_fill("split r", split + 4 * PG, 4 * PG, S_SPLIT, 4);
	check_fill("split rw (end)", split + 12 * PG, 4 * PG, S_SPLIT, 12);
	check_maps("split rw", split, 4 * PG, "rw-p", NULL, NO_OFFSET);
	check_maps("split r", split + 4 * PG, 4 * PG, "r--p", NULL, NO_OFFSET);
	check_maps("split none", split + 8 * PG, 2 * PG, "---p", NULL, NO_OFFSET);
	check_maps("split r-x", split + 10 * PG, 2 * PG, "r-xp", NULL, NO_OFFSET);
	check_maps("split rw (end)", split + 12 * PG, 4 * PG, "rw-p", NULL, NO_OFFSET);

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	check_fault("split rw", split + 2 * PG, 1, 0);
	check_fault("split r", split + 4 * PG, 0, 0);
	check_fault("split r", split + 6 * PG + 8, 1, 1);
	check_fault("split none", split + 8 * PG, 0, 1);
	check_fault("split none", split + 9 * PG + 100, 1, 1);
	check_fault("split r-x", split + 10 * PG + 8, 1, 1);
	check_fault("file r", fro + 2 * PG, 1, 1);
	{
		int (*fn)(void) = (int (*)(void))(void *)(split + 10 * PG);
		int got = -1;
		if (faults(split + 10 * PG, 0) == 0 && !sigsetjmp(fault_jmp, 1))
			got = fn();
		tp_check_u64("split r-x: calling the code in it", (uint64_t)got, 42);
	}
	/* the PROT_NONE pages kept their data too */
	if (mprotect(split + 8 * PG, 2 * PG, PROT_READ) == 0)
		check_fill("split none (data under PROT_NONE)", split + 8 * PG, 2 * PG, S_SPLIT, 8);
	else
		tp_differs("split none", "mprotect to read it failed: %s", strerror(errno));
	{
		uint8_t tmp[PG];
		fill(tmp, PG, S_SPLIT, 10);
		tp_check_bytes("split r-x code", split + 10 * PG, ret42, sizeof(ret42));
		if (memcmp(split + 10 * PG + 8, tmp + 8, PG - 8))
			tp_differs("split r-x page", "got other bytes after the code want the pattern");
	}

	for (size_t pg = 0; pg < SPARSE_PAGES; pg++) {
		int set = 0;
		char what[48];
		for (unsigned i = 0; i < sizeof(sparse_set) / sizeof(*sparse_set); i++)
			set |= sparse_set[i] == (int)pg;
		snprintf(what, sizeof(what), "sparse page %zu", pg);
		if (set)
			check_fill(what, sparse + pg * PG, PG, S_SPARSE, pg);
		else
			check_zero(what, sparse + pg * PG, PG);
	}
	check_maps("sparse", sparse, SPARSE_PAGES * PG, "rw-p", NULL, NO_OFFSET);

	check_fill("stack array", stack_arr, STACK_WORDS * 8, S_STACK, 0);

	/* file: written pages have what we wrote, the rest the file's bytes */
	{
		static uint8_t want[FILE_PAGES * PG], disk[FILE_PAGES * PG];
		char what[64];

		fill(want, sizeof(want), S_FILE, 0);
		fill(want + 1 * PG, PG, S_FWRITE, 1);
		fill(want + 5 * PG, PG, S_FWRITE, 5);
		{
			uint8_t tmp[PG];
			fill(tmp, PG, S_FWRITE, 9);
			memcpy(want + 9 * PG, tmp, 100);
		}
		for (int pg = 0; pg < FILE_PAGES; pg++)
			for (size_t i = 0; i < PG; i += 8)
				if (memcmp(fmap + pg * PG + i, want + pg * PG + i, 8)) {
					snprintf(what, sizeof(what), "file mapping page %d (%s) at +%zu", pg,
						 pg == 1 || pg == 5 || pg == 9 ? "written" : "not written", i);
					tp_check_bytes(what, fmap + pg * PG + i, want + pg * PG + i, 8);
					break;
				}
		nchecked += FILE_PAGES;
		fill(want, sizeof(want), S_FILE, 0);	/* the file's own bytes */
		for (int pg = 0; pg < 4; pg++)
			if (memcmp(fro + pg * PG, want + (4 + pg) * PG, PG)) {
				snprintf(what, sizeof(what), "read-only file mapping page %d", pg);
				tp_differs(what, "got other bytes want file page %d", 4 + pg);
			}
		nchecked += 4;
		fd = open(fpath, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || pread(fd, disk, sizeof(disk), 0) != (ssize_t)sizeof(disk))
			tp_differs("file on disk", "cannot read %s: %s", fpath, strerror(errno));
		else
			for (int pg = 0; pg < FILE_PAGES; pg++)
				if (memcmp(disk + pg * PG, want + pg * PG, PG)) {
					snprintf(what, sizeof(what), "file on disk page %d", pg);
					tp_differs(what, "got other bytes want what set-up wrote");
				}
		if (fd >= 0)
			close(fd);
		nchecked += FILE_PAGES;
		check_maps("file mapping", fmap, FILE_PAGES * PG, "rw-p", real_fpath, 0);
		check_maps("read-only file mapping", fro, 4 * PG, "r--p", real_fpath, 4 * PG);
	}

	check_fill("dontfork", dc, 8 * PG, S_DC, 0);
	check_fill("nohugepage", nh, 8 * PG, S_NH, 0);
	check_fill("wipeonfork", wf, 8 * PG, S_WF, 0);
	check_fill("hugepage", hg, HG_SIZE, S_HG, 0);
	check_fill("mlocked", lk, 8 * PG, S_LK, 0);
	check_fill("mlocked on fault", lf, 2 * PG, S_LF, 0);
	{
		static const char *const lk_f[] = { "lo", NULL }, *const not_lk[] = { "lf", NULL },
			*const lf_f[] = { "lo", "lf", NULL };

		check_vmflags("mlocked", lk, lk_f, not_lk);
		check_vmflags("mlocked on fault", lf, lf_f, NULL);
	}
	{
		static const char *const dc_f[] = { "dc", NULL }, *const hg_f[] = { "hg", NULL },
			*const nh_f[] = { "nh", NULL }, *const none[] = { "dc", "hg", "nh", NULL },
			*const not_hg[] = { "dc", "nh", NULL }, *const not_nh[] = { "dc", "hg", NULL },
			*const not_dc[] = { "hg", "nh", NULL };
		static const char *const wf_f[] = { "wf", NULL }, *const not_wf[] = { "dc", "hg", "nh", NULL };
		check_vmflags("dontfork", dc, dc_f, not_dc);
		check_vmflags("wipeonfork", wf, wf_f, not_wf);
		if (have_thp) {
			check_vmflags("hugepage", hg, hg_f, not_hg);
			check_vmflags("nohugepage", nh, nh_f, not_nh);
		}
		check_vmflags("big", big, NULL, none);
		{
			static const char *const nolock[] = { "lo", "lf", NULL };

			check_vmflags("big (not locked)", big, NULL, nolock);
		}
		check_vmflags("heap", heap, NULL, none);
	}

	/* what the flags do: a child sees wf zeroed and has no dc region */
	{
		pid_t child = fork();
		int st;

		if (child == 0) {
			int bad = 0;
			for (size_t i = 0; i < 8 * PG; i++)
				bad |= wf[i] != 0;
			_exit((bad ? 1 : 0) | (faults(dc, 0) ? 0 : 2));
		}
		if (child < 0 || waitpid(child, &st, 0) != child || !WIFEXITED(st))
			tp_differs("fork after restore", "the child did not exit normally");
		else {
			if (WEXITSTATUS(st) & 1)
				tp_differs("wipeonfork in a child", "got the parent's bytes want zeros");
			if (WEXITSTATUS(st) & 2)
				tp_differs("dontfork in a child", "got a mapping want none (no fault)");
		}
		nchecked += 2;
	}

	/* last: the heap grows on from where it ended */
	{
		long nb = sys_brk(heap_end + 16 * PG);
		if ((unsigned long)nb != heap_end + 16 * PG)
			tp_differs("brk growth", "got brk %#lx want %#lx", (unsigned long)nb, heap_end + 16 * PG);
		else if (faults((uint8_t *)heap_end + 8 * PG, 1) || *(uint8_t *)(heap_end + 15 * PG))
			tp_differs("brk growth", "got unusable memory want zeroed read-write memory");
	}
	tp_finish(nchecked + 8);
}
