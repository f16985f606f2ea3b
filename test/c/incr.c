/*
 * incr.c - memory that changes between the checkpoints of a --track-mem
 * series: does a restore from the last incremental checkpoint give every
 * page its newest contents, and a page that was released or unmapped
 * since a parent checkpoint zeros, never the parent's stale data?
 *
 *   incr READY_FILE [FILE_NAME] [live]
 *
 * Each SIGUSR1 moves to the next phase (1, 2, ...) and changes memory as
 * listed below, then writes the phase number to READY_FILE.phase. SIGUSR2
 * checks every page against the phase READY_FILE.phase names (the file is
 * outside the process, so a restore that brought back an old phase is
 * caught) and exits.
 *
 * Every value is a function of (region, page, version), version being the
 * phase that last wrote the page (0: set-up):
 *   big      2048 pages; in phase k the pages with (31 i + k) % 5 == 0 are
 *            rewritten, and page (13 k) % 2048 is filled by read(2) from a
 *            pipe (a write by the kernel); pages 100-199 are made read-only
 *            at the end of phase 3 and writable again at the start of 4
 *   dontneed 64 pages; phase 1: MADV_DONTNEED 8-39, then 8-15 rewritten
 *            (16-39 read back zero); phase 2: page 20 rewritten; phase 3:
 *            MADV_DONTNEED 0-3 (zero from then on)
 *   remap    64 pages; phase 1: 16-47 unmapped and mapped again, 16-23
 *            written (24-47 zero); phase 2: 0-7 unmapped and mapped again,
 *            page 1 only read; phase 3: 40-63 unmapped, mapped, written
 *   newvma   a mapping of 32 pages made in phase 2 and written; pages 0-3
 *            rewritten in phase 3
 *   zero     16 pages never written, read in phase 1 (zero pages)
 *   file     an 8-page file made next to READY_FILE (named FILE_NAME,
 *            default incr-file), mapped private rw:
 *            phase 1 writes page 2 (copy-on-write), phase 2 releases it
 *            with MADV_DONTNEED (the file's bytes again), phase 3 writes 5
 *   live     with "live": 256 pages a thread keeps changing, dumps or not
 *            (--pre-copy: pages written between a pre-copy round and the
 *            freeze). Step g = 1, 2, ... touches page g % 256: with
 *            (g % 256 + g / 256) % 7 == 0 it releases it (MADV_DONTNEED:
 *            zero), else writes version g, then records g as done, and
 *            sleeps 20 us. Before each step the thread checks that the page
 *            holds what the step before on it left (a restored thread goes
 *            on writing: a stale page would be overwritten before the final
 *            check); the check stops the thread at a step boundary and wants
 *            in each page exactly what the last step on it left there.
 * and no VMA may be registered with a userfaultfd ("uw" in smaps): the
 * checks run in a process that was never dumped, or in a restored one.
 *
 * CS_TEST_CORRUPT: page (a page of big is not rewritten in phase 1),
 * stale (dontneed page 30 gets its set-up data back after the release),
 * remap (remap page 30 gets its set-up data back after the remap),
 * newvma (a word of newvma differs), file (file page 2 is not released),
 * phase (the phase file runs one ahead of the process), live (live page 3
 * holds an older version than the last step left, at the check), livestale
 * (at each SIGUSR1 a live page the thread reaches later gets an older
 * version: the thread's own check before each step).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <sys/mman.h>

#include "tprog.h"

#define PG	4096ul
#define BIG	2048ul
#define SMALL	64ul
#define NEWV	32ul
#define ZEROP	16ul
#define FILEP	8ul
#define LIVE	256ul

enum { R_BIG = 1, R_DONTNEED, R_REMAP, R_NEWVMA, R_FILE_DISK, R_FILE, R_LIVE };

static uint8_t *big, *dontneed, *remap, *newvma, *zero, *filem, *live;
static uint64_t live_done;	/* the last step of the live thread that is complete */
static int live_stop, live_stopped;
static unsigned phase;
static unsigned nchecked;
static char phase_path[4200];

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t word(int region, uint64_t page, unsigned version, uint64_t w)
{
	return splitmix((uint64_t)region << 56 ^ (uint64_t)version << 40 ^ page << 16 ^ w);
}

static void fill_page(void *p, int region, uint64_t page, unsigned version)
{
	uint64_t *q = p;

	for (uint64_t w = 0; w < PG / 8; w++)
		q[w] = word(region, page, version, w);
}

/* -------- what each page should hold at phase p: version, or -1 for zero, -2 for the file's bytes */

static int big_written(uint64_t i, unsigned k)
{
	return (31 * i + k) % 5 == 0 || i == (13 * k) % BIG;
}

static long big_version(uint64_t i, unsigned p)
{
	for (unsigned k = p; k >= 1; k--)
		if (big_written(i, k))
			return k;
	return 0;
}

static long dontneed_version(uint64_t i, unsigned p)
{
	if (p >= 3 && i < 4)
		return -1;
	if (p >= 2 && i == 20)
		return 2;
	if (p >= 1 && i >= 8 && i < 16)
		return 1;
	if (p >= 1 && i >= 16 && i < 40)
		return -1;
	return 0;
}

static long remap_version(uint64_t i, unsigned p)
{
	if (p >= 3 && i >= 40)
		return 3;
	if (p >= 2 && i < 8)
		return -1;
	if (p >= 1 && i >= 16 && i < 24)
		return 1;
	if (p >= 1 && i >= 24 && i < 48)
		return -1;
	return 0;
}

static long newvma_version(uint64_t i, unsigned p)
{
	return p >= 3 && i < 4 ? 3 : 2;
}

static long file_version(uint64_t i, unsigned p)
{
	if (p >= 3 && i == 5)
		return 3;
	if (p == 1 && i == 2)
		return 1;
	return -2;
}

static int live_released(uint64_t g)
{
	return (g % LIVE + g / LIVE) % 7 == 0;
}

/* live page i after step `done`: the version of the last step on it, -1 released, 0 none yet */
static long live_version(uint64_t i, uint64_t done)
{
	uint64_t g;

	if (done < i || (i == 0 && done < LIVE))
		return 0;
	g = done - (done - i) % LIVE;
	return live_released(g) ? -1 : (long)g;
}

/*
 * Before each step the thread checks that the page holds what the last step
 * on it left: after a restore it goes on writing, so the final check alone
 * would see only pages the restored thread wrote itself.
 */
static uint64_t live_bad_step, live_bad_page, live_verified;

static void live_verify(uint64_t g)
{
	static uint8_t want[PG];
	uint64_t i = g % LIVE;
	long v = live_version(i, g - 1);

	if (v == -1)
		memset(want, 0, PG);
	else
		fill_page(want, R_LIVE, i, v);
	live_verified++;
	if (memcmp(live + i * PG, want, PG) && !live_bad_step) {
		live_bad_page = i;
		__atomic_store_n(&live_bad_step, g, __ATOMIC_RELEASE);
	}
}

static void *live_writer(void *arg)
{
	struct timespec ts = { 0, 20000 };
	uint64_t g = __atomic_load_n(&live_done, __ATOMIC_ACQUIRE) + 1;

	(void)arg;
	for (; !__atomic_load_n(&live_stop, __ATOMIC_ACQUIRE); g++) {
		uint8_t *p = live + g % LIVE * PG;

		live_verify(g);

		if (live_released(g)) {
			if (madvise(p, PG, MADV_DONTNEED))
				tp_die("madvise live page %llu", (unsigned long long)(g % LIVE));
		} else {
			fill_page(p, R_LIVE, g % LIVE, g);
		}
		__atomic_store_n(&live_done, g, __ATOMIC_RELEASE);
		nanosleep(&ts, NULL);	/* EINTR after a restore: fine */
	}
	__atomic_store_n(&live_stopped, 1, __ATOMIC_RELEASE);
	for (;;)
		pause();
	return NULL;
}

/* -------- the changes of each phase */

static void *map_fixed(void *at, size_t len)
{
	void *p = mmap(at, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | (at ? MAP_FIXED : 0), -1, 0);

	if (p == MAP_FAILED || (at && p != at))
		tp_die("cannot map %zu bytes at %p", len, at);
	return p;
}

static void remap_range(uint64_t first, uint64_t n)
{
	if (munmap(remap + first * PG, n * PG))
		tp_die("munmap");
	map_fixed(remap + first * PG, n * PG);
}

/* The kernel writes page i of big: read(2) from a pipe we fill. */
static void kernel_write(uint64_t i, unsigned version)
{
	static uint8_t buf[PG];
	int fds[2];

	fill_page(buf, R_BIG, i, version);
	if (pipe(fds) || write(fds[1], buf, PG) != (ssize_t)PG || read(fds[0], big + i * PG, PG) != (ssize_t)PG)
		tp_die("pipe write of page %llu", (unsigned long long)i);
	close(fds[0]);
	close(fds[1]);
}

static void next_phase(void)
{
	unsigned k = ++phase;
	volatile uint8_t sink = 0;

	if (k == 4 && mprotect(big + 100 * PG, 100 * PG, PROT_READ | PROT_WRITE))
		tp_die("mprotect");
	for (uint64_t i = 0; i < BIG; i++)
		if ((31 * i + k) % 5 == 0 && !(k == 1 && i == 4 && tp_corrupting("page")))
			fill_page(big + i * PG, R_BIG, i, k);
	kernel_write((13 * k) % BIG, k);
	if (k == 3 && mprotect(big + 100 * PG, 100 * PG, PROT_READ))
		tp_die("mprotect");

	switch (k) {
	case 1:
		if (madvise(dontneed + 8 * PG, 32 * PG, MADV_DONTNEED))
			tp_die("madvise");
		for (uint64_t i = 8; i < 16; i++)
			fill_page(dontneed + i * PG, R_DONTNEED, i, 1);
		if (tp_corrupting("stale"))
			fill_page(dontneed + 30 * PG, R_DONTNEED, 30, 0);
		remap_range(16, 32);
		for (uint64_t i = 16; i < 24; i++)
			fill_page(remap + i * PG, R_REMAP, i, 1);
		if (tp_corrupting("remap"))
			fill_page(remap + 30 * PG, R_REMAP, 30, 0);
		for (uint64_t i = 0; i < ZEROP; i++)
			sink += zero[i * PG];
		fill_page(filem + 2 * PG, R_FILE, 2, 1);
		break;
	case 2:
		fill_page(dontneed + 20 * PG, R_DONTNEED, 20, 2);
		remap_range(0, 8);
		sink += remap[1 * PG + 7];
		newvma = map_fixed(NULL, NEWV * PG);
		for (uint64_t i = 0; i < NEWV; i++)
			fill_page(newvma + i * PG, R_NEWVMA, i, 2);
		if (tp_corrupting("newvma"))
			newvma[5 * PG + 8] ^= 1;
		if (!tp_corrupting("file") && madvise(filem + 2 * PG, PG, MADV_DONTNEED))
			tp_die("madvise file");
		break;
	case 3:
		if (madvise(dontneed, 4 * PG, MADV_DONTNEED))
			tp_die("madvise");
		remap_range(40, 24);
		for (uint64_t i = 40; i < SMALL; i++)
			fill_page(remap + i * PG, R_REMAP, i, 3);
		for (uint64_t i = 0; i < 4; i++)
			fill_page(newvma + i * PG, R_NEWVMA, i, 3);
		fill_page(filem + 5 * PG, R_FILE, 5, 3);
		break;
	}
	(void)sink;
}

static void write_phase(unsigned p)
{
	char tmp[4300], buf[32];
	int n = snprintf(buf, sizeof(buf), "%u\n", p), fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", phase_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, buf, n) != n || close(fd) || rename(tmp, phase_path))
		tp_die("cannot write %s", phase_path);
}

static unsigned read_phase(void)
{
	char buf[32] = "";
	int fd = open(phase_path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0)
		tp_die("cannot read %s", phase_path);
	close(fd);
	return strtoul(buf, NULL, 10);
}

/* -------- checks */

static void check_page(const char *region, const uint8_t *p, int rid, uint64_t i, long version)
{
	static uint8_t want[PG];
	char what[64];

	nchecked++;
	if (version == -1)
		memset(want, 0, PG);
	else if (version == -2)
		fill_page(want, R_FILE_DISK, i, 0);
	else
		fill_page(want, rid, i, version);
	if (!memcmp(p, want, PG))
		return;
	for (size_t w = 0; w < PG / 8; w++) {
		uint64_t g, x;

		memcpy(&g, p + w * 8, 8);
		memcpy(&x, want + w * 8, 8);
		if (g != x) {
			snprintf(what, sizeof(what), "%s page %llu word %zu", region, (unsigned long long)i, w);
			tp_differs(what, "got 0x%llx want 0x%llx (%s)", (unsigned long long)g, (unsigned long long)x,
				   version == -1 ? "zero" : version == -2 ? "the file's bytes" : "written");
			return;
		}
	}
}

/* No mapping registered with a userfaultfd, and big's pages 100-199 read-only exactly in phase 3. */
static void check_maps(unsigned p)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512];
	uintptr_t s = 0, e = 0, ro = (uintptr_t)big + 100 * PG;
	char perms[8] = "";

	if (!f)
		tp_die("cannot open /proc/self/smaps");
	while (fgets(line, sizeof(line), f)) {
		uintptr_t a, b;
		char pr[8];

		if (sscanf(line, "%lx-%lx %7s", &a, &b, pr) == 3) {
			s = a;
			e = b;
			if (ro >= a && ro < b)
				snprintf(perms, sizeof(perms), "%s", pr);
			continue;
		}
		if (!strncmp(line, "VmFlags:", 8)) {
			nchecked++;
			if (strstr(line, " uw"))
				tp_differs("VmFlags", "%lx-%lx is registered with a userfaultfd (uw)", s, e);
		}
	}
	fclose(f);
	nchecked++;
	tp_check_str("perms of big pages 100-199", perms, p == 3 ? "r--p" : "rw-p");
}

static void check(void)
{
	unsigned p = read_phase();

	nchecked++;
	tp_check_u64("phase", phase, p);
	for (uint64_t i = 0; i < BIG; i++)
		check_page("big", big + i * PG, R_BIG, i, big_version(i, p));
	for (uint64_t i = 0; i < SMALL; i++)
		check_page("dontneed", dontneed + i * PG, R_DONTNEED, i, dontneed_version(i, p));
	for (uint64_t i = 0; i < SMALL; i++)
		check_page("remap", remap + i * PG, R_REMAP, i, remap_version(i, p));
	for (uint64_t i = 0; i < ZEROP; i++)
		check_page("zero", zero + i * PG, 0, i, -1);
	for (uint64_t i = 0; i < FILEP; i++)
		check_page("file", filem + i * PG, R_FILE, i, file_version(i, p));
	nchecked++;
	if ((p >= 2) != (newvma != NULL))
		tp_differs("newvma", "mapped %s in phase %u", newvma ? "yes" : "no", p);
	else
		for (uint64_t i = 0; newvma && i < NEWV; i++)
			check_page("newvma", newvma + i * PG, R_NEWVMA, i, newvma_version(i, p));
	if (live) {
		uint64_t done;

		/* not pthread_join: the check must not depend on how a restore brings back thread exit */
		__atomic_store_n(&live_stop, 1, __ATOMIC_RELEASE);
		for (int w = 0; !__atomic_load_n(&live_stopped, __ATOMIC_ACQUIRE); w++) {
			if (w == 10000)
				tp_die("the live thread did not stop in 10 s");
			usleep(1000);
		}
		done = __atomic_load_n(&live_done, __ATOMIC_ACQUIRE);
		nchecked += live_verified + 1;
		if (live_bad_step)
			tp_differs("live page before its step", "page %llu did not hold what step %llu left there "
				   "when step %llu came to it", (unsigned long long)live_bad_page,
				   (unsigned long long)(live_bad_step - LIVE), (unsigned long long)live_bad_step);
		nchecked++;
		if (done < 2 * LIVE)
			tp_differs("live steps", "only %llu steps done, want at least %lu", (unsigned long long)done,
				   2 * LIVE);
		if (tp_corrupting("live"))
			fill_page(live + 3 * PG, R_LIVE, 3, live_version(3, done) > (long)LIVE ?
				  live_version(3, done) - LIVE : 12345);
		for (uint64_t i = 0; i < LIVE; i++)
			check_page("live", live + i * PG, R_LIVE, i, live_version(i, done));
	}
	check_maps(p);
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "page", "stale", "remap", "newvma", "file", "phase", "live", "livestale", NULL };
	int with_live = argc > 2 && !strcmp(argv[argc - 1], "live");
	char dir[4096], path[4200];
	static uint8_t pagebuf[PG];
	sigset_t s;
	int fd;

	tp_init("incr", argc, argv);
	tp_corrupt_check_mode(modes);
	snprintf(phase_path, sizeof(phase_path), "%s.phase", argv[1]);

	big = map_fixed(NULL, BIG * PG);
	dontneed = map_fixed(NULL, SMALL * PG);
	remap = map_fixed(NULL, SMALL * PG);
	zero = map_fixed(NULL, ZEROP * PG);
	for (uint64_t i = 0; i < BIG; i++)
		fill_page(big + i * PG, R_BIG, i, 0);
	for (uint64_t i = 0; i < SMALL; i++) {
		fill_page(dontneed + i * PG, R_DONTNEED, i, 0);
		fill_page(remap + i * PG, R_REMAP, i, 0);
	}
	tp_dirname(argv[1], dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, argc > 2 + with_live ? argv[2] : "incr-file");
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		tp_die("cannot create %s", path);
	for (uint64_t i = 0; i < FILEP; i++) {
		fill_page(pagebuf, R_FILE_DISK, i, 0);
		if (write(fd, pagebuf, PG) != (ssize_t)PG)
			tp_die("cannot write %s", path);
	}
	filem = mmap(NULL, FILEP * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (filem == MAP_FAILED)
		tp_die("cannot map %s", path);
	close(fd);

	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	sigaddset(&s, SIGUSR2);
	if (sigprocmask(SIG_BLOCK, &s, NULL))
		tp_die("sigprocmask");
	write_phase(0);
	if (with_live) {
		pthread_t th;

		live = map_fixed(NULL, LIVE * PG);
		for (uint64_t i = 0; i < LIVE; i++)
			fill_page(live + i * PG, R_LIVE, i, 0);
		/* the thread inherits the blocked SIGUSR1 and SIGUSR2 */
		if (pthread_create(&th, NULL, live_writer, NULL))
			tp_die("cannot start the live thread");
	}
	tp_write_ready(argv[1]);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&s, &si);

		if (sig == SIGUSR1) {
			if (live && tp_corrupting("livestale")) {
				/* a page the thread reaches in about 128 steps gets an older version */
				uint64_t i = (__atomic_load_n(&live_done, __ATOMIC_ACQUIRE) + 128) % LIVE;

				fill_page(live + i * PG, R_LIVE, i, 7);
			}
			next_phase();
			write_phase(tp_corrupting("phase") ? phase + 1 : phase);
		} else if (sig == SIGUSR2) {
			break;
		} else if (sig < 0 && errno != EINTR) {
			tp_die("sigwaitinfo");
		}
	}
	check();
	tp_finish(nchecked);
}
