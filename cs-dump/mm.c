/*
 * The address space: VMAs from smaps, mm fields, auxv, the executable, and the
 * pages. Pages that exist (pagemap bit 63 present, or 62 swapped) and are not
 * page-cache pages of a file (bit 61) are copied with process_vm_readv while
 * the target is frozen, and compressed after (write_mm).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#define LOG_PREFIX "mm: "
#include "log.h"
#include "util.h"
#include "pages.h"
#include "dump.h"
#include "pmscan.h"

#define PM_PRESENT (1ULL << 63)
#define PM_SWAPPED (1ULL << 62)
#define PM_FILE (1ULL << 61)
/*
 * A swap-like pagemap entry of type 31 (bits 0-4, shown to CAP_SYS_ADMIN)
 * is a PTE marker, not swap: SWP_PTE_MARKER is the last swap type,
 * (1 << MAX_SWAPFILES_SHIFT) - 1 (include/linux/swapops.h). Markers hold
 * no data: userfaultfd write-protection leaves them where a page was
 * released or never was (--track-mem), guard regions use them. Reading
 * one gives a zero page or the file's bytes; measured on 6.18: pagemap
 * 0x420000000000003f (swap, uffd-wp, type 31) after MADV_DONTNEED of a
 * write-protected private file page.
 */
#define PM_MARKER(e) (((e) & (PM_PRESENT | PM_SWAPPED)) == PM_SWAPPED && ((e) & 0x1f) == 31)

static int vma_kind(const struct vma *v)
{
	if (!strcmp(v->path, "[vdso]"))
		return VK_VDSO;
	if (!strcmp(v->path, "[vvar]"))
		return VK_VVAR;
	if (!strcmp(v->path, "[vvar_vclock]"))
		return VK_VVAR_VCLOCK;
	if (!strcmp(v->path, "[vsyscall]"))
		return VK_VSYSCALL;
	if (v->path[0] == '/' || (v->ino && strncmp(v->path, "[", 1)))
		return v->shared ? VK_FILE_SHARED : VK_FILE;
	return v->shared ? VK_ANON_SHARED : VK_ANON;
}

static int add_run(struct dump_ctx *c, uint64_t vaddr, uint64_t nr, int kind)
{
	struct page_run *last = c->nr_runs ? &c->runs[c->nr_runs - 1] : NULL;

	if (last && last->kind == kind && last->vaddr + last->nr * PAGE_SIZE == vaddr) {
		last->nr += nr;
		return 0;
	}
	if (!(c->nr_runs & 1023)) {
		struct page_run *r = xrealloc(c->runs, (c->nr_runs + 1024) * sizeof(*r));

		if (!r)
			return -1;
		c->runs = r;
	}
	c->runs[c->nr_runs].vaddr = vaddr;
	c->runs[c->nr_runs].nr = nr;
	c->runs[c->nr_runs].kind = kind;
	c->nr_runs++;
	return 0;
}

/* One page to save at a: its kind (dead, in the parent, to copy) appended to c->runs. */
static int add_page(struct dump_ctx *c, uint64_t a, int anon)
{
	int dead = 0, kind;

	if (c->go && anon) {
		enum go_page_class k = go_rt_page_class(c->go, a);

		c->cls_pages[k]++;
		dead = k == GO_HEAP_DEAD || k == GO_STACK_DEAD;
	}
	kind = dead ? RUN_DEAD : track_in_parent(c, a) ? RUN_PARENT : track_precopied(c, a) ? RUN_PRE : RUN_COPY;
	if (add_run(c, a, 1, kind))
		return -1;
	c->pages_present++;
	c->pages_dead += dead;
	c->pages_parent += kind == RUN_PARENT;
	c->pages_pre += kind == RUN_PRE;
	return 0;
}

static uint64_t pm_entries_read;

/* [start, end) from the pagemap entries, 8 bytes a page. */
static int read_pagemap(struct dump_ctx *c, int pmfd, uint64_t start, uint64_t end, int anon)
{
	static uint64_t pm[4096];
	uint64_t addr = start;

	while (addr < end) {
		uint64_t n = (end - addr) / PAGE_SIZE;
		ssize_t r;

		if (n > ARRAY_SIZE(pm))
			n = ARRAY_SIZE(pm);
		r = pread(pmfd, pm, n * 8, addr / PAGE_SIZE * 8);
		pm_entries_read += n;
		if (r != (ssize_t)(n * 8))
			return pr_perror("cannot read the pagemap of %d at %#llx", c->pid, (unsigned long long)addr);
		for (uint64_t i = 0; i < n; i++) {
			uint64_t e = pm[i];

			if (!(((e & PM_PRESENT) && !(e & PM_FILE)) || (e & PM_SWAPPED)) || PM_MARKER(e))
				continue;
			if (add_page(c, addr + i * PAGE_SIZE, anon))
				return -1;
		}
		addr += n * PAGE_SIZE;
	}
	return 0;
}

/*
 * Which pages of [v->start, v->end) must be saved: appended to c->runs.
 * With the Go runtime reader, a page of anonymous memory that the runtime
 * says holds no live object is a dead run: not copied, restored as zero,
 * even when it was written since the parent checkpoint. With --track-mem,
 * a live page not written since the parent is left there (track.c).
 *
 * PAGEMAP_SCAN gives the present and swapped pages as ranges, so the
 * mostly empty reservations of a Go heap (hundreds of MiB of PROT_NONE)
 * cost nothing: present pages that are not page-cache pages of a file are
 * saved; a swapped range is read entry by entry, since a uffd-wp marker
 * (no data) counts as swapped too. Without PAGEMAP_SCAN (before 6.7), every
 * entry is read.
 */
static int scan_pagemap(struct dump_ctx *c, int pmfd, const struct vma *v, int anon)
{
	static struct cs_page_region vec[512];
	static int no_scan;
	uint64_t addr = v->start;

	while (addr < v->end && !no_scan) {
		struct cs_pm_scan_arg a = {
			.size = sizeof(a), .start = addr, .end = v->end,
			.vec = (uint64_t)(uintptr_t)vec, .vec_len = ARRAY_SIZE(vec),
			.category_anyof_mask = CS_PAGE_IS_PRESENT | CS_PAGE_IS_SWAPPED,
			.return_mask = CS_PAGE_IS_PRESENT | CS_PAGE_IS_SWAPPED | CS_PAGE_IS_FILE,
		};
		long r = ioctl(pmfd, CS_PAGEMAP_SCAN, &a);

		if (r < 0 && (errno == ENOTTY || errno == EINVAL) && addr == v->start) {
			pr_debug("no PAGEMAP_SCAN (%m): reading every pagemap entry");
			no_scan = 1;
			break;
		}
		if (r < 0)
			return pr_perror("PAGEMAP_SCAN of %d at %#llx", c->pid, (unsigned long long)addr);
		for (long i = 0; i < r; i++) {
			uint64_t cat = vec[i].categories;

			if (cat & CS_PAGE_IS_SWAPPED) {
				if (read_pagemap(c, pmfd, vec[i].start, vec[i].end, anon))
					return -1;
			} else if (!(cat & CS_PAGE_IS_FILE)) {
				for (uint64_t p = vec[i].start; p < vec[i].end; p += PAGE_SIZE)
					if (add_page(c, p, anon))
						return -1;
			}
		}
		if (a.walk_end <= addr || a.walk_end > v->end)
			return pr_err("PAGEMAP_SCAN of %d: walk ended at %#llx", c->pid, (unsigned long long)a.walk_end);
		addr = a.walk_end;
	}
	if (addr < v->end)
		return read_pagemap(c, pmfd, addr, v->end, anon);
	return 0;
}

/*
 * process_vm_readv stops at pages the target cannot read (PROT_NONE, or
 * write-only): /proc/PID/mem reads them, as ptrace may (FOLL_FORCE, proc(5)).
 */
static int read_forced(struct dump_ctx *c, uint8_t *dst, const struct iovec *rv, size_t n)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", c->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pr_perror("cannot open %s", path);
	for (size_t i = 0; i < n; i++) {
		ssize_t r = pread(fd, dst, rv[i].iov_len, (off_t)rv[i].iov_base);

		if (r != (ssize_t)rv[i].iov_len) {
			close(fd);
			return pr_perror("cannot read %zu bytes at %p of %d", rv[i].iov_len, rv[i].iov_base, c->pid);
		}
		dst += rv[i].iov_len;
	}
	close(fd);
	return 0;
}

void mm_prefault(struct dump_ctx *c)
{
	int64_t written = c->track ? track_written_pages(c) : -1;
	uint64_t anon = 0, want;
	char buf[64];

	if (proc_status_line(c->pid, 0, "RssAnon", buf, sizeof(buf)) == 0)
		anon = strtoull(buf, NULL, 10) * 1024;	/* "N kB" */
	/* the pages written by the time of the freeze: some more, and new VMAs */
	want = written >= 0 ? written * PAGE_SIZE + written * PAGE_SIZE / 4 + (1 << 20) : anon + (1 << 20);
	if (anon && want > anon + (1 << 20))
		want = anon + (1 << 20);
	want = (want + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	c->prebuf = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (c->prebuf == MAP_FAILED) {
		c->prebuf = NULL;
		pr_debug("no memory faulted in ahead for the pages: %m");
		return;
	}
	c->prebuf_len = want;
	pr_debug("%zu bytes faulted in ahead for the pages", c->prebuf_len);
}

/*
 * Copy every run into c->pagebuf with process_vm_readv, 1024 iovecs a call.
 * A pre-copied run (RUN_PRE) gets its place in c->pagebuf and is filled
 * after the release (fill_precopied).
 */
static int copy_pages(struct dump_ctx *c)
{
	struct iovec local, remote[1024];
	uint64_t off = 0;
	size_t i = 0;

	if (c->pages_present == c->pages_dead + c->pages_parent)
		return 0;
	c->pagebuf_len = (c->pages_present - c->pages_dead - c->pages_parent) * PAGE_SIZE;
	if (c->prebuf && c->prebuf_len >= c->pagebuf_len) {
		/* faulted in before the freeze: no page fault while frozen */
		c->pagebuf = c->prebuf;
		c->pagebuf_len = c->prebuf_len;
		c->prebuf = NULL;
		goto copy;
	}
	pr_debug("%zu bytes faulted in ahead, %zu needed", c->prebuf_len, c->pagebuf_len);
	if (c->prebuf)
		munmap(c->prebuf, c->prebuf_len);
	c->prebuf = NULL;
	c->pagebuf = mmap(NULL, c->pagebuf_len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (c->pagebuf == MAP_FAILED) {
		c->pagebuf = NULL;
		return pr_perror("cannot allocate %llu pages to copy into", (unsigned long long)c->pages_present);
	}
copy:
	while (i < c->nr_runs) {
		size_t n = 0, bytes = 0;
		ssize_t r;

		for (; i < c->nr_runs && n < 1024; i++) {
			if (c->runs[i].kind == RUN_PRE) {
				if (n)
					break;	/* the batch is contiguous in pagebuf: read it first */
				off += c->runs[i].nr * PAGE_SIZE;
				continue;
			}
			if (c->runs[i].kind != RUN_COPY)
				continue;
			remote[n].iov_base = (void *)c->runs[i].vaddr;
			remote[n].iov_len = c->runs[i].nr * PAGE_SIZE;
			bytes += remote[n].iov_len;
			n++;
		}
		local.iov_base = c->pagebuf + off;
		local.iov_len = bytes;
		if (!n)
			continue;
		r = process_vm_readv(c->pid, &local, 1, remote, n, 0);
		if (r != (ssize_t)bytes && read_forced(c, c->pagebuf + off, remote, n))
			return -1;
		off += bytes;
	}
	return 0;
}

static int file_times(const char *path, uint64_t *size, int64_t *mtime_ns, uint64_t *ino, uint64_t *dev)
{
	struct stat st;

	if (stat(path, &st))
		return -1;
	*size = st.st_size;
	*mtime_ns = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
	if (ino)
		*ino = st.st_ino;
	if (dev)
		*dev = st.st_dev;
	return 0;
}

static int dump_vma(struct dump_ctx *c, const struct vma *v, VmaEntry *e)
{
	int kind = vma_kind(v);
	char *words, *w, *save = NULL;

	vma_entry__init(e);
	e->start = v->start;
	e->end = v->end;
	e->prot = v->prot;
	e->flags = (v->shared ? MAP_SHARED : MAP_PRIVATE) |
		   (kind == VK_ANON || kind == VK_ANON_SHARED ? MAP_ANONYMOUS : 0) |
		   (vma_has_flag(v, "gd") ? MAP_GROWSDOWN : 0) |
		   (vma_has_flag(v, "nr") ? MAP_NORESERVE : 0);	/* jemalloc reserves its arenas so */
	e->pgoff = v->pgoff;
	e->has_kind = 1;
	e->kind = kind;
	e->has_dev = e->has_ino = 1;
	e->dev = v->dev;
	e->ino = v->ino;
	if (v->path[0])
		e->path = xstrdup(v->path);
	words = xstrdup(v->vmflags);
	if (!words)
		return -1;
	e->vmflags = xzalloc(sizeof(char *) * 64);
	if (!e->vmflags) {
		free(words);
		return -1;
	}
	for (w = strtok_r(words, " ", &save); w && e->n_vmflags < 64; w = strtok_r(NULL, " ", &save))
		if (strcmp(w, "uw"))	/* registered by --track-mem, not the process's own */
			e->vmflags[e->n_vmflags++] = xstrdup(w);
	free(words);

	{
		int r = dump_shmem_vma(c, v, e);	/* shared anonymous memory, memfd */

		if (r <= 0)
			return r;
	}
	switch (kind) {
	case VK_ANON_SHARED:
		return pr_err("VMA %#llx-%#llx (%s) is shared anonymous memory: not supported yet",
			      (unsigned long long)v->start, (unsigned long long)v->end, v->path[0] ? v->path : "anon");
	case VK_FILE:
	case VK_FILE_SHARED:
		/* shmat(2) maps the segment as the shmem file "/SYSV<key>" (ipc/shm.c) */
		if (!strncmp(v->path, "/SYSV", 5))
			return pr_err("VMA %#llx-%#llx of process %d is SysV shared memory (%s, shmat): not supported",
				      (unsigned long long)v->start, (unsigned long long)v->end, c->pid, v->path);
		if (ends_deleted(v->path))
			return 0;	/* ghostmap.c: dump_ghost_maps saves it */
		if (v->path[0] != '/')
			return pr_err("VMA %#llx-%#llx maps %s: not supported yet",
				      (unsigned long long)v->start, (unsigned long long)v->end, v->path);
		e->has_file_size = e->has_file_mtime_ns = 1;
		if (file_times(v->path, &e->file_size, &e->file_mtime_ns, NULL, NULL))
			return pr_perror("cannot stat %s mapped at %#llx", v->path, (unsigned long long)v->start);
		break;
	}
	return 0;
}

static int need_span(uint64_t start, uint64_t end, void *arg)
{
	return track_may_copy(arg, start, end);
}

/*
 * Ask the Go runtime which pages are dead; on any doubt, a whole dump. An
 * incremental checkpoint judges only the spans it may copy pages of: a page
 * not written since the parent is left there whatever the runtime thinks
 * of it, and its contents are the same either way.
 */
static void classify(struct dump_ctx *c, DumpStatsEntry *st)
{
	struct go_stats gs;
	uint64_t t0 = now_us(), *sp;
	char why[256];

	sp = xzalloc(c->pt.nr * sizeof(*sp));
	if (!sp)
		return;
	for (int i = 0; i < c->pt.nr; i++)
		sp[i] = c->pt.t[i].regs.rsp;
	if (go_rt_classify(c->go, c->pid, sp, c->pt.nr, need_span, c, &gs, why, sizeof(why))) {
		pr_info("runtime: saving every page of %d: %s", c->pid, why);
		go_rt_close(c->go);
		c->go = NULL;
		st->runtime = xstrdup("none");
		st->runtime_why = xstrdup(why);
		free(sp);
		return;
	}
	free(sp);
	st->runtime = xstrdup("go");
	st->go_version = xstrdup(gs.version);
	st->has_gc_phase = st->has_unswept_spans = st->has_classify_us = 1;
	st->gc_phase = gs.gc_phase;
	st->unswept_spans = gs.unswept_spans;
	st->has_spans_marked = 1;
	st->spans_marked = gs.spans_marked;
	st->classify_us = now_us() - t0;
	pr_info("runtime: %s, %llu spans (%llu not needed), gc phase %u, %llu unswept (%llu by mark bits), "
		"classified in %llu us", gs.version, (unsigned long long)gs.spans, (unsigned long long)gs.spans_skipped,
		gs.gc_phase, (unsigned long long)gs.unswept_spans, (unsigned long long)gs.spans_marked,
		(unsigned long long)st->classify_us);
}

int dump_mm(struct dump_ctx *c, DumpStatsEntry *st)
{
	MmEntry *mm = xzalloc(sizeof(*mm));
	unsigned long long f[53];
	struct vma *vmas;
	char path[64];
	size_t alen;
	uint64_t *auxv;
	int n, pmfd, ret = -1;
	long brk;

	if (!mm)
		return -1;
	mm_entry__init(mm);
	c->mm = mm;
	if (proc_stat_fields(c->pid, f))
		return -1;
	mm->start_code = f[26];
	mm->end_code = f[27];
	mm->start_stack = f[28];
	mm->start_data = f[45];
	mm->end_data = f[46];
	mm->start_brk = f[47];
	mm->arg_start = f[48];
	mm->arg_end = f[49];
	mm->env_start = f[50];
	mm->env_end = f[51];
	if (pt_syscall(&c->pt, &c->pt.t[0], &brk, SYS_brk, 0, 0, 0, 0, 0, 0))
		return -1;
	mm->brk = brk;

	snprintf(path, sizeof(path), "/proc/%d/auxv", c->pid);
	auxv = read_file_at(AT_FDCWD, path, &alen, 1 << 16);
	if (!auxv)
		return pr_perror("cannot read %s", path);
	mm->n_auxv = alen / 8;
	mm->auxv = auxv;

	snprintf(path, sizeof(path), "/proc/%d/exe", c->pid);
	{
		char buf[4096];
		ssize_t l = readlink(path, buf, sizeof(buf) - 1);

		if (l < 0)
			return pr_perror("cannot read %s", path);
		buf[l] = 0;
		mm->exe = xstrdup(buf);	/* deleted: dump_ghost_maps (ghostmap.c) */
		mm->has_exe_size = mm->has_exe_mtime_ns = mm->has_exe_ino = mm->has_exe_dev = 1;
		if (file_times(path, &mm->exe_size, &mm->exe_mtime_ns, &mm->exe_ino, &mm->exe_dev))
			return pr_perror("cannot stat the executable %s", buf);
	}

	if (c->go)
		classify(c, st);
	vmas = proc_vmas(c->pid, &n);
	if (!vmas)
		return -1;
	pr_debug("%d VMAs read from smaps", n);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", c->pid);
	pmfd = open(path, O_RDONLY | O_CLOEXEC);
	if (pmfd < 0) {
		pr_perror("cannot open %s", path);
		goto out;
	}
	mm->vmas = xzalloc(n * sizeof(*mm->vmas));
	if (!mm->vmas)
		goto out;
	for (int i = 0; i < n; i++) {
		VmaEntry *e = xzalloc(sizeof(*e));

		if (!e)
			goto out;
		mm->vmas[mm->n_vmas++] = e;
		if (dump_vma(c, &vmas[i], e))
			goto out;
		if (e->kind == VK_ANON || e->kind == VK_FILE || (e->kind == VK_MEMFD && !(e->flags & MAP_SHARED)))
			if (scan_pagemap(c, pmfd, &vmas[i], e->kind == VK_ANON))
				goto out;
	}
	{
		int vdso = 0;

		for (size_t i = 0; i < mm->n_vmas; i++)
			vdso |= mm->vmas[i]->kind == VK_VDSO;
		if (!vdso) {
			pr_err("process %d has no [vdso] mapping: not supported yet", c->pid);
			goto out;
		}
	}
	pr_debug("pagemap read: %zu runs, %llu entries read one by one", c->nr_runs, (unsigned long long)pm_entries_read);
	{
		uint64_t t = now_us();

		if (cs_fault("memory") || copy_pages(c))
			goto out;
		st->has_memdump_us = 1;
		st->memdump_us = now_us() - t;
	}
	if (c->go) {
		st->has_pages_heap_live = st->has_pages_heap_dead = st->has_pages_stack_live = 1;
		st->has_pages_stack_dead = st->has_pages_runtime_other = st->has_bytes_slots_zeroed = 1;
		st->pages_heap_live = c->cls_pages[GO_HEAP_LIVE];
		st->pages_heap_dead = c->cls_pages[GO_HEAP_DEAD];
		st->pages_stack_live = c->cls_pages[GO_STACK_LIVE];
		st->pages_stack_dead = c->cls_pages[GO_STACK_DEAD];
		st->pages_runtime_other = c->cls_pages[GO_OUTSIDE];
	}
	pr_info("%d VMAs, %llu pages present, %llu dead, %llu left in the parent", n,
		(unsigned long long)c->pages_present, (unsigned long long)c->pages_dead,
		(unsigned long long)c->pages_parent);
	ret = 0;
out:
	if (pmfd >= 0)
		close(pmfd);
	free(vmas);
	return ret;
}

static int page_is_zero(const uint8_t *p)
{
	const uint64_t *q = (const uint64_t *)p;

	for (size_t i = 0; i < PAGE_SIZE / 8; i += 4)
		if (q[i] | q[i + 1] | q[i + 2] | q[i + 3])
			return 0;
	return 1;
}

/* Where each copied run lives in c->pagebuf, for zero_slot. */
struct slot_ctx {
	struct dump_ctx *c;
	uint64_t *off;		/* buffer offset (pages) of run i; dead runs: unused */
	uint64_t zeroed;
};

static void zero_slot(uint64_t addr, uint64_t len, void *arg)
{
	struct slot_ctx *z = arg;
	struct dump_ctx *c = z->c;
	uint64_t end = addr + len;

	while (addr < end) {
		size_t lo = 0, hi = c->nr_runs;

		/* the run holding addr, if its page was copied */
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			struct page_run *r = &c->runs[mid];

			if (addr < r->vaddr)
				hi = mid;
			else if (addr >= r->vaddr + r->nr * PAGE_SIZE)
				lo = mid + 1;
			else {
				lo = mid;
				break;
			}
		}
		if (lo < c->nr_runs && addr >= c->runs[lo].vaddr && c->runs[lo].kind == RUN_COPY) {
			struct page_run *r = &c->runs[lo];
			uint64_t stop = r->vaddr + r->nr * PAGE_SIZE < end ? r->vaddr + r->nr * PAGE_SIZE : end;

			memset(c->pagebuf + z->off[lo] * PAGE_SIZE + (addr - r->vaddr), 0, stop - addr);
			z->zeroed += stop - addr;
			addr = stop;
		} else {
			/* not copied (absent, dead or in the parent): on to the next page */
			addr = (addr & ~(PAGE_SIZE - 1)) + PAGE_SIZE;
		}
	}
}

/*
 * Free object slots inside live Go heap pages are written as zeros, so that
 * they cost almost nothing in the zstd frames. Returns the bytes zeroed.
 */
static uint64_t zero_free_slots(struct dump_ctx *c)
{
	struct slot_ctx z = { c, NULL, 0 };
	uint64_t off = 0;

	if (!c->go || !c->pagebuf)
		return 0;
	z.off = xmalloc((c->nr_runs + 1) * sizeof(uint64_t));
	if (!z.off)
		return 0;
	for (size_t i = 0; i < c->nr_runs; i++) {
		z.off[i] = off;
		if (c->runs[i].kind == RUN_COPY)
			off += c->runs[i].nr;
	}
	go_rt_free_slots(c->go, zero_slot, &z);
	free(z.off);
	return z.zeroed;
}

/* The pre-copied runs into their places in c->pagebuf: they become copied runs. */
static int fill_precopied(struct dump_ctx *c)
{
	uint64_t off = 0;

	for (size_t r = 0; r < c->nr_runs; r++) {
		struct page_run *run = &c->runs[r];

		for (uint64_t i = 0; run->kind == RUN_PRE && i < run->nr; i++) {
			/* the same answer as in add_page: nothing changed since */
			const uint8_t *p = track_precopied(c, run->vaddr + i * PAGE_SIZE);

			if (!p)
				return pr_err("page %#llx: its pre-copy is gone",
					      (unsigned long long)(run->vaddr + i * PAGE_SIZE));
			memcpy(c->pagebuf + (off + i) * PAGE_SIZE, p, PAGE_SIZE);
		}
		if (run->kind == RUN_PRE)
			run->kind = RUN_COPY;
		if (run->kind == RUN_COPY)
			off += run->nr;
	}
	return 0;
}

int write_mm(struct dump_ctx *c, uint64_t *pages_written, uint64_t *pages_zero, uint64_t *bytes)
{
	struct page_writer *pw;
	struct img *img;
	uint64_t off = 0;
	char name[64];

	img = img_create(c->dirfd, img_pname(name, sizeof(name), "mm", c->sfx), MAGIC_MM);
	if (!img)
		return -1;
	if (img_write_msg(img, &c->mm->base)) {
		img_free(img);
		return -1;
	}
	if (img_close(img, &c->sums))
		return -1;

	if (c->pages_pre && fill_precopied(c))
		return -1;
	c->slots_zeroed = zero_free_slots(c);
	pw = pw_open_as(c->dirfd, c->sfx);
	if (!pw)
		return -1;
	*pages_written = *pages_zero = 0;
	for (size_t r = 0; r < c->nr_runs; r++) {
		uint64_t i = 0;

		if (c->runs[r].kind != RUN_COPY) {
			if (pw_add(pw, c->runs[r].vaddr, c->runs[r].nr, c->runs[r].kind == RUN_DEAD ? PM_DEAD : PM_PARENT,
				   NULL)) {
				pw_abort(pw);
				return -1;
			}
			continue;
		}

		/* split each run into stretches of data and all-zero pages */
		while (i < c->runs[r].nr) {
			const uint8_t *p = c->pagebuf + (off + i) * PAGE_SIZE;
			int zero = page_is_zero(p);
			uint64_t j = i + 1;

			while (j < c->runs[r].nr && page_is_zero(c->pagebuf + (off + j) * PAGE_SIZE) == zero)
				j++;
			if (pw_add(pw, c->runs[r].vaddr + i * PAGE_SIZE, j - i, zero ? PM_ZERO : PM_DATA, p)) {
				pw_abort(pw);
				return -1;
			}
			if (zero)
				*pages_zero += j - i;
			else
				*pages_written += j - i;
			i = j;
		}
		off += c->runs[r].nr;
	}
	return pw_close(pw, &c->sums, bytes);
}
