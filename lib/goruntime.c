/*
 * Go runtime reader: see goruntime.h and shared/GO-RUNTIME.md.
 *
 * Everything the rules need is read while the process is frozen, in large
 * process_vm_readv batches: mheap_ (sweepgen, allspans, allArenas), the
 * span array, every span, the allocation bitmap of every in-use span, and
 * every g. A page of a heap arena is then:
 *   - heap dead: covered by no in-use or manual span (Go 1.19 keeps free
 *     pages in the page allocator's bitmaps only), or in an in-use span and
 *     overlapping no allocated object (rule A: i < freeindex or allocBits[i]);
 *     a span being swept (sweepgen == mheap_.sweepgen - 1) is all live (rule S);
 *     after a completed mark phase (gcphase == _GCoff), a span not swept yet
 *     and without specials counts only its marked objects (rule M: gcmarkBits
 *     instead of allocBits and freeindex);
 *   - stack dead: wholly below the SP of a parked goroutine (rule K);
 *   - live otherwise (manual spans outside known stacks hold free stack
 *     chunks and GC work buffers).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/uio.h>

#define LOG_PREFIX "goruntime: "
#include "log.h"
#include "util.h"
#include "goruntime.h"

enum {
	F_MHEAP_SWEEPGEN, F_MHEAP_ALLSPANS, F_MHEAP_ALLARENAS,
	F_SPAN_START, F_SPAN_NPAGES, F_SPAN_FREEINDEX, F_SPAN_NELEMS, F_SPAN_ALLOCBITS,
	F_SPAN_SWEEPGEN, F_SPAN_STATE, F_SPAN_ELEMSIZE, F_SPAN_GCMARKBITS, F_SPAN_SPECIALS, F_STATEBOX_S,
	F_G_STACK, F_G_SCHED, F_G_STATUS, F_G_M, F_STACK_LO, F_STACK_HI, F_GOBUF_SP,
	NR_FIELDS
};

/* what we need from DWARF, and the sizes we accept (0: any) */
static const struct field_spec {
	const char *type, *member;
	unsigned size1, size2, size3;
} fields[NR_FIELDS] = {
	[F_MHEAP_SWEEPGEN] = { "runtime.mheap", "sweepgen", 4 },
	[F_MHEAP_ALLSPANS] = { "runtime.mheap", "allspans", 24 },
	[F_MHEAP_ALLARENAS] = { "runtime.mheap", "allArenas", 24 },
	[F_SPAN_START] = { "runtime.mspan", "startAddr", 8 },
	[F_SPAN_NPAGES] = { "runtime.mspan", "npages", 8 },
	[F_SPAN_FREEINDEX] = { "runtime.mspan", "freeindex", 8, 4, 2 },
	[F_SPAN_NELEMS] = { "runtime.mspan", "nelems", 8, 4, 2 },
	[F_SPAN_ALLOCBITS] = { "runtime.mspan", "allocBits", 8 },
	[F_SPAN_SWEEPGEN] = { "runtime.mspan", "sweepgen", 4 },
	[F_SPAN_STATE] = { "runtime.mspan", "state", 1 },
	[F_SPAN_ELEMSIZE] = { "runtime.mspan", "elemsize", 8 },
	[F_SPAN_GCMARKBITS] = { "runtime.mspan", "gcmarkBits", 8 },
	[F_SPAN_SPECIALS] = { "runtime.mspan", "specials", 8 },
	[F_STATEBOX_S] = { "runtime.mSpanStateBox", "s", 1 },
	[F_G_STACK] = { "runtime.g", "stack", 16 },
	[F_G_SCHED] = { "runtime.g", "sched", 0 },
	[F_G_STATUS] = { "runtime.g", "atomicstatus", 4 },
	[F_G_M] = { "runtime.g", "m", 8 },
	[F_STACK_LO] = { "runtime.stack", "lo", 8 },
	[F_STACK_HI] = { "runtime.stack", "hi", 8 },
	[F_GOBUF_SP] = { "runtime.gobuf", "sp", 8 },
};

enum {
	C_ARENA_BYTES, C_ARENA_BASE_OFF, C_PAGE_SIZE, C_SPAN_INUSE, C_SPAN_MANUAL,
	C_G_RUNNABLE, C_G_WAITING, C_G_PREEMPTED, C_G_SCAN, C_GC_OFF, NR_CONSTS
};

static const char *const consts[NR_CONSTS] = {
	[C_ARENA_BYTES] = "runtime.heapArenaBytes",
	[C_ARENA_BASE_OFF] = "runtime.arenaBaseOffsetUintptr",
	[C_PAGE_SIZE] = "runtime._PageSize",
	[C_SPAN_INUSE] = "runtime.mSpanInUse",
	[C_SPAN_MANUAL] = "runtime.mSpanManual",
	[C_G_RUNNABLE] = "runtime._Grunnable",
	[C_G_WAITING] = "runtime._Gwaiting",
	[C_G_PREEMPTED] = "runtime._Gpreempted",
	[C_G_SCAN] = "runtime._Gscan",
	[C_GC_OFF] = "runtime._GCoff",
};

enum { S_MHEAP, S_ALLGS, S_GCPHASE, S_BUILDVERSION, S_CGO_INIT, NR_SYMS };
static const char *const syms[NR_SYMS] = { "runtime.mheap_", "runtime.allgs", "runtime.gcphase",
					   "runtime.buildVersion", "x_cgo_init" };

struct arena {
	uint64_t base;
	uint8_t *cls;		/* one enum go_page_class per 4 KiB page */
};

/* an in-use span whose free slots may be zeroed (not being swept) */
struct go_span {
	uint64_t base, nelems, elemsize, freeindex;
	const uint8_t *bits;	/* into go_rt.bits: allocBits, or gcmarkBits (rule M, freeindex 0) */
};

struct go_rt {
	unsigned off[NR_FIELDS], size[NR_FIELDS];
	int have[NR_FIELDS];
	uint64_t cval[NR_CONSTS];
	int have_c[NR_CONSTS];
	uint64_t sym[NR_SYMS];
	uint64_t span_size, g_size;
	struct arena *arenas;
	size_t nr_arenas;
	struct go_span *spans;	/* after go_rt_classify */
	size_t nr_spans;
	uint8_t *bits;
};

static int type_size(Dwarf_Die *die, Dwarf_Word *size)
{
	Dwarf_Attribute a;
	Dwarf_Die t;

	if (!dwarf_attr_integrate(die, DW_AT_type, &a) || !dwarf_formref_die(&a, &t))
		return -1;
	return dwarf_aggregate_size(&t, size);
}

static void scan_struct(struct go_rt *rt, Dwarf_Die *die, const char *name)
{
	Dwarf_Die m;
	Dwarf_Word sz;

	if (!strcmp(name, "runtime.mspan") && dwarf_aggregate_size(die, &sz) == 0)
		rt->span_size = sz;
	if (!strcmp(name, "runtime.g") && dwarf_aggregate_size(die, &sz) == 0)
		rt->g_size = sz;
	if (dwarf_child(die, &m))
		return;
	do {
		const char *mn = dwarf_diename(&m);
		Dwarf_Attribute a;
		Dwarf_Word off;

		if (dwarf_tag(&m) != DW_TAG_member || !mn)
			continue;
		for (int f = 0; f < NR_FIELDS; f++) {
			if (strcmp(fields[f].type, name) || strcmp(fields[f].member, mn))
				continue;
			if (!dwarf_attr(&m, DW_AT_data_member_location, &a) || dwarf_formudata(&a, &off))
				continue;
			if (type_size(&m, &sz))
				continue;
			rt->off[f] = off;
			rt->size[f] = sz;
			rt->have[f] = 1;
		}
	} while (dwarf_siblingof(&m, &m) == 0);
}

static void scan_die(struct go_rt *rt, Dwarf_Die *die)
{
	const char *name = dwarf_diename(die);
	int tag = dwarf_tag(die);

	if (!name)
		return;
	if (tag == DW_TAG_structure_type && !strncmp(name, "runtime.", 8)) {
		scan_struct(rt, die, name);
		return;
	}
	if (tag == DW_TAG_constant && !strncmp(name, "runtime.", 8)) {
		for (int c = 0; c < NR_CONSTS; c++) {
			Dwarf_Attribute a;
			Dwarf_Word u;
			Dwarf_Sword s;

			if (strcmp(consts[c], name) || !dwarf_attr(die, DW_AT_const_value, &a))
				continue;
			if (dwarf_formudata(&a, &u) == 0)
				rt->cval[c] = u;
			else if (dwarf_formsdata(&a, &s) == 0)
				rt->cval[c] = s;
			else
				continue;
			rt->have_c[c] = 1;
		}
	}
}

static int read_symbols(struct go_rt *rt, Elf *e)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB)
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && sh.sh_entsize && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym s;
			const char *n;

			if (!gelf_getsym(d, i, &s) || !(n = elf_strptr(e, sh.sh_link, s.st_name)))
				continue;
			for (int k = 0; k < NR_SYMS; k++)
				if (!strcmp(n, syms[k]))
					rt->sym[k] = s.st_value;
		}
		return 0;
	}
	return -1;
}

/* Whether ELF e has a section of that name. */
static int has_section(Elf *e, const char *name)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (elf_getshdrstrndx(e, &shstrndx))
		return 0;
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		const char *n;

		if (gelf_getshdr(scn, &sh) && (n = elf_strptr(e, shstrndx, sh.sh_name)) && !strcmp(n, name))
			return 1;
	}
	return 0;
}

struct go_rt *go_rt_open(const char *path, char *why, size_t len)
{
	struct go_rt *rt = xzalloc(sizeof(*rt));
	Dwarf *dw = NULL;
	Elf *e = NULL;
	GElf_Ehdr eh;
	Dwarf_Off off = 0, next;
	size_t hsize;
	int fd = -1;

	if (!rt)
		return NULL;
	elf_version(EV_CURRENT);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, len, "cannot open %s: %s", path, strerror(errno));
		goto fail;
	}
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!e || !gelf_getehdr(e, &eh)) {
		snprintf(why, len, "not an ELF file");
		goto fail;
	}
	if (read_symbols(rt, e)) {
		/* a Go binary keeps .gopclntab (or .go.buildinfo) even stripped */
		if (has_section(e, ".gopclntab") || has_section(e, ".go.buildinfo"))
			snprintf(why, len, "no symbol table (a Go binary stripped, or built with -ldflags=-s?)");
		else
			snprintf(why, len, "not a Go binary (stripped, no symbol table)");
		goto fail;
	}
	if (!rt->sym[S_MHEAP]) {
		snprintf(why, len, "not a Go binary (no runtime.mheap_)");
		goto fail;
	}
	if (rt->sym[S_CGO_INIT]) {
		/* x_cgo_init comes with runtime/cgo's C code: C code shares the
		 * address space under rules the reader cannot check */
		snprintf(why, len, "a cgo program (C code linked in)");
		goto fail;
	}
	if (eh.e_type != ET_EXEC) {
		snprintf(why, len, "position-independent Go binaries are not supported yet");
		goto fail;
	}
	dw = dwarf_begin_elf(e, DWARF_C_READ, NULL);
	if (!dw) {
		snprintf(why, len, "no DWARF (built with -ldflags=-w?)");
		goto fail;
	}
	while (dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu, d;

		if (dwarf_offdie(dw, off + hsize, &cu) && dwarf_child(&cu, &d) == 0)
			do
				scan_die(rt, &d);
			while (dwarf_siblingof(&d, &d) == 0);
		off = next;
	}
	for (int k = 0; k < S_CGO_INIT; k++)
		if (!rt->sym[k]) {
			snprintf(why, len, "no symbol %s", syms[k]);
			goto fail;
		}
	for (int f = 0; f < NR_FIELDS; f++) {
		const struct field_spec *s = &fields[f];

		if (!rt->have[f]) {
			snprintf(why, len, "DWARF has no %s.%s", s->type, s->member);
			goto fail;
		}
		if (s->size1 && rt->size[f] != s->size1 && rt->size[f] != s->size2 && rt->size[f] != s->size3) {
			snprintf(why, len, "%s.%s has an unexpected size %u", s->type, s->member, rt->size[f]);
			goto fail;
		}
	}
	for (int c = 0; c < NR_CONSTS; c++)
		if (!rt->have_c[c]) {
			snprintf(why, len, "DWARF has no constant %s", consts[c]);
			goto fail;
		}
	if (!rt->span_size || !rt->g_size || rt->g_size > 4096 || rt->span_size > 1024 ||
	    rt->cval[C_ARENA_BYTES] % PAGE_SIZE || rt->cval[C_ARENA_BYTES] > (1ULL << 32) ||
	    rt->cval[C_PAGE_SIZE] % PAGE_SIZE || !rt->cval[C_PAGE_SIZE]) {
		snprintf(why, len, "unexpected runtime layout (mspan %llu, g %llu bytes, arena %llu)",
			 (unsigned long long)rt->span_size, (unsigned long long)rt->g_size,
			 (unsigned long long)rt->cval[C_ARENA_BYTES]);
		goto fail;
	}
	dwarf_end(dw);
	elf_end(e);
	close(fd);
	return rt;
fail:
	if (dw)
		dwarf_end(dw);
	if (e)
		elf_end(e);
	if (fd >= 0)
		close(fd);
	free(rt);
	return NULL;
}

static void free_arenas(struct go_rt *rt)
{
	free(rt->spans);
	free(rt->bits);
	rt->spans = NULL;
	rt->bits = NULL;
	rt->nr_spans = 0;
	for (size_t i = 0; i < rt->nr_arenas; i++)
		free(rt->arenas[i].cls);
	free(rt->arenas);
	rt->arenas = NULL;
	rt->nr_arenas = 0;
}

void go_rt_close(struct go_rt *rt)
{
	if (!rt)
		return;
	free_arenas(rt);
	free(rt);
}

/* Read n scattered blocks (remote[i] into local[i]), 1024 iovecs a call. */
static int rreadv(pid_t pid, struct iovec *local, struct iovec *remote, size_t n)
{
	for (size_t i = 0; i < n; i += 1024) {
		size_t k = n - i < 1024 ? n - i : 1024, want = 0;
		ssize_t r;

		for (size_t j = 0; j < k; j++)
			want += remote[i + j].iov_len;
		r = process_vm_readv(pid, local + i, k, remote + i, k, 0);
		if (r != (ssize_t)want)
			return -1;
	}
	return 0;
}

/* for gather(): remote blocks sorted by address */
struct gblk {
	uint64_t addr;
	size_t len;
	void *dst;
};

static int cmp_gblk(const void *a, const void *b)
{
	const struct gblk *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/*
 * Read n small blocks (remote[i] into local[i]) as a few large ranges:
 * spans come from 16 KiB fixalloc chunks and bitmaps from 64 KiB gcBits
 * arenas, so sorted by address they are mostly contiguous, and one iovec
 * per block (about 1 us each in process_vm_readv, which pins the page of
 * every remote iovec) costs tens of milliseconds for 16 000 spans. Two
 * blocks are merged when the gap between them stays within the page of the
 * first one's end and the next page: both pages hold a block, so they are
 * mapped. Any short read falls back to one iovec per block.
 */
static int gather(pid_t pid, struct iovec *local, struct iovec *remote, size_t n)
{
	struct gblk *b = xmalloc((n + 1) * sizeof(*b));
	struct iovec *rl = NULL, *rr = NULL;
	uint8_t *buf = NULL;
	size_t nr = 0, total = 0, i, k;
	int ret = -1;

	if (!b)
		return rreadv(pid, local, remote, n);
	for (i = 0; i < n; i++)
		b[i] = (struct gblk){ (uint64_t)remote[i].iov_base, remote[i].iov_len, local[i].iov_base };
	qsort(b, n, sizeof(*b), cmp_gblk);
	/* ranges: rr[k] covers blocks; total bytes */
	rr = xmalloc((n + 1) * sizeof(*rr));
	rl = xmalloc((n + 1) * sizeof(*rl));
	if (!rr || !rl)
		goto fallback;
	for (i = 0; i < n; i++) {
		uint64_t start = b[i].addr, end = start + b[i].len;

		if (nr) {
			uint64_t cur_end = (uint64_t)rr[nr - 1].iov_base + rr[nr - 1].iov_len;
			uint64_t limit = ((cur_end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)) + PAGE_SIZE;

			if (start < limit) {
				if (end > cur_end) {
					total += end - cur_end;
					rr[nr - 1].iov_len = end - (uint64_t)rr[nr - 1].iov_base;
				}
				continue;
			}
		}
		rr[nr].iov_base = (void *)start;
		rr[nr].iov_len = b[i].len;
		total += b[i].len;
		nr++;
	}
	buf = xmalloc(total + 1);
	if (!buf)
		goto fallback;
	for (i = 0, total = 0; i < nr; i++) {
		rl[i].iov_base = buf + total;
		rl[i].iov_len = rr[i].iov_len;
		total += rr[i].iov_len;
	}
	if (rreadv(pid, rl, rr, nr))
		goto fallback;
	for (i = 0, k = 0; i < n; i++) {
		while ((uint64_t)rr[k].iov_base + rr[k].iov_len < b[i].addr + b[i].len)
			k++;
		memcpy(b[i].dst, (uint8_t *)rl[k].iov_base + (b[i].addr - (uint64_t)rr[k].iov_base), b[i].len);
	}
	ret = 0;
	goto out;
fallback:
	ret = rreadv(pid, local, remote, n);
out:
	free(b);
	free(rr);
	free(rl);
	free(buf);
	return ret;
}

static int rread(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)addr, len };

	return rreadv(pid, &l, &r, 1);
}

static uint64_t get(const uint8_t *base, unsigned off, unsigned size)
{
	uint64_t v = 0;

	memcpy(&v, base + off, size);	/* little-endian */
	return v;
}

static int cmp_arena(const void *a, const void *b)
{
	const struct arena *x = a, *y = b;

	return x->base < y->base ? -1 : x->base > y->base;
}

static struct arena *arena_of(const struct go_rt *rt, uint64_t addr)
{
	size_t lo = 0, hi = rt->nr_arenas;
	uint64_t ab = rt->cval[C_ARENA_BYTES];

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		struct arena *a = &rt->arenas[mid];

		if (addr < a->base)
			hi = mid;
		else if (addr >= a->base + ab)
			lo = mid + 1;
		else
			return a;
	}
	return NULL;
}

enum go_page_class go_rt_page_class(const struct go_rt *rt, uint64_t addr)
{
	struct arena *a = arena_of(rt, addr);

	return a ? a->cls[(addr - a->base) / PAGE_SIZE] : GO_OUTSIDE;
}

/*
 * Set the class of every 4 KiB page of [start, end); -1 if one lies outside
 * the arenas. One lookup per arena crossed, not one per page.
 */
static int set_range(struct go_rt *rt, uint64_t start, uint64_t end, uint8_t cls)
{
	uint64_t ab = rt->cval[C_ARENA_BYTES];

	start &= ~(PAGE_SIZE - 1);
	while (start < end) {
		struct arena *a = arena_of(rt, start);
		uint64_t stop;

		if (!a)
			return -1;
		stop = a->base + ab < end ? a->base + ab : end;
		memset(a->cls + (start - a->base) / PAGE_SIZE, cls,
		       (stop - start + PAGE_SIZE - 1) / PAGE_SIZE);
		start = (stop + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	}
	return 0;
}

static int load_arenas(struct go_rt *rt, pid_t pid, const uint8_t *mh)
{
	uint64_t ptr = get(mh, rt->off[F_MHEAP_ALLARENAS], 8), n = get(mh, rt->off[F_MHEAP_ALLARENAS] + 8, 8);
	uint64_t ab = rt->cval[C_ARENA_BYTES];
	uint64_t *idx;

	if (!n || n > (1 << 20))
		return -1;
	idx = xmalloc(n * 8);
	rt->arenas = xzalloc(n * sizeof(*rt->arenas));
	if (!idx || !rt->arenas || rread(pid, ptr, idx, n * 8)) {
		free(idx);
		return -1;
	}
	for (uint64_t i = 0; i < n; i++) {
		struct arena *a = &rt->arenas[rt->nr_arenas++];

		a->base = idx[i] * ab + rt->cval[C_ARENA_BASE_OFF];	/* mod 2^64 */
		a->cls = xmalloc(ab / PAGE_SIZE);
		if (!a->cls) {
			free(idx);
			return -1;
		}
		memset(a->cls, GO_HEAP_DEAD, ab / PAGE_SIZE);	/* free unless a span covers it */
	}
	free(idx);
	qsort(rt->arenas, rt->nr_arenas, sizeof(*rt->arenas), cmp_arena);
	return 0;
}

/*
 * Rule M: whether the objects of the in-use span sp are to be judged by its
 * mark bits. Only when the last mark phase is complete (gcphase _GCoff) and
 * the span has not been swept since (mspan.sweepgen == mheap_.sweepgen - 2,
 * or + 1 for a span cached in an mcache before the sweep began): its
 * gcmarkBits are then exactly what the sweeper will keep (Go 1.19 mgcsweep.go
 * sweepLocked.sweep: allocBits = gcmarkBits), and nothing is allocated from
 * it before it is swept (mcache.prepareForSweep runs before a P's first
 * allocation of the new cycle; allocations during marking are marked black).
 * A span with specials is left to rule A: the sweeper resurrects an unmarked
 * object that has a finalizer.
 */
static int by_marks(const struct go_rt *rt, const uint8_t *sp, uint64_t sweepgen, int mark_done)
{
	uint32_t d = (uint32_t)get(sp, rt->off[F_SPAN_SWEEPGEN], 4) - (uint32_t)sweepgen;

	return mark_done && (d == (uint32_t)-2 || d == 1) && !get(sp, rt->off[F_SPAN_SPECIALS], 8) &&
	       get(sp, rt->off[F_SPAN_GCMARKBITS], 8);
}

/*
 * Rule A (or M when marks is set) over one in-use span: pages overlapping an
 * allocated (marked) object are live.
 */
static int classify_span(struct go_rt *rt, const uint8_t *sp, const uint8_t *bits, uint64_t sweepgen, int marks)
{
	uint64_t base = get(sp, rt->off[F_SPAN_START], 8);
	uint64_t end = base + get(sp, rt->off[F_SPAN_NPAGES], 8) * rt->cval[C_PAGE_SIZE];
	uint64_t nelems = get(sp, rt->off[F_SPAN_NELEMS], rt->size[F_SPAN_NELEMS]);
	uint64_t freeidx = marks ? 0 : get(sp, rt->off[F_SPAN_FREEINDEX], rt->size[F_SPAN_FREEINDEX]);
	uint64_t es = get(sp, rt->off[F_SPAN_ELEMSIZE], 8);
	uint32_t sg = get(sp, rt->off[F_SPAN_SWEEPGEN], 4);

	/* rule S: the sweeper is inside this span right now */
	if (sg == (uint32_t)(sweepgen - 1) || !bits)
		return set_range(rt, base, end, GO_HEAP_LIVE);
	if (set_range(rt, base, end, GO_HEAP_DEAD))
		return -1;
	for (uint64_t i = 0; i < nelems; i++) {
		uint64_t j = i;

		if (i >= freeidx && !(bits[i / 8] & (1 << (i % 8))))
			continue;
		/* neighbouring allocated objects make one range */
		while (j + 1 < nelems && (j + 1 < freeidx || (bits[(j + 1) / 8] & (1 << ((j + 1) % 8)))))
			j++;
		if (set_range(rt, base + i * es, base + (j + 1) * es, GO_HEAP_LIVE))
			return -1;
		i = j;
	}
	return 0;
}

static int classify_stacks(struct go_rt *rt, pid_t pid, const uint64_t *tsp, int nsp)
{
	uint64_t hdr[3], n, ptr;
	uint64_t *gp = NULL;
	uint8_t *gs = NULL;
	struct iovec *l = NULL, *r = NULL;
	int ret = -1;

	if (rread(pid, rt->sym[S_ALLGS], hdr, sizeof(hdr)))
		return -1;
	ptr = hdr[0];
	n = hdr[1];
	if (n > (1 << 22))
		return -1;
	gp = xmalloc(n * 8 + 8);
	gs = xmalloc(n * rt->g_size + 1);
	l = xmalloc((n + 1) * sizeof(*l));
	r = xmalloc((n + 1) * sizeof(*r));
	if (!gp || !gs || !l || !r || rread(pid, ptr, gp, n * 8))
		goto out;
	for (uint64_t i = 0; i < n; i++) {
		l[i].iov_base = gs + i * rt->g_size;
		l[i].iov_len = rt->g_size;
		r[i].iov_base = (void *)gp[i];
		r[i].iov_len = rt->g_size;
	}
	if (rreadv(pid, l, r, n))
		goto out;
	for (uint64_t i = 0; i < n; i++) {
		const uint8_t *g = gs + i * rt->g_size;
		uint64_t lo = get(g, rt->off[F_G_STACK] + rt->off[F_STACK_LO], 8);
		uint64_t hi = get(g, rt->off[F_G_STACK] + rt->off[F_STACK_HI], 8);
		uint64_t sp = get(g, rt->off[F_G_SCHED] + rt->off[F_GOBUF_SP], 8);
		uint32_t st = get(g, rt->off[F_G_STATUS], 4);
		uint64_t m = get(g, rt->off[F_G_M], 8);

		if (!lo || hi <= lo || !arena_of(rt, lo))
			continue;	/* no stack, or not in the heap (g0 stacks of threads) */
		if (set_range(rt, lo, hi, GO_STACK_LIVE))
			goto out;
		/* rule K: only a parked goroutine's stack below SP is dead */
		if (st & rt->cval[C_G_SCAN] || m)
			continue;
		if (st != rt->cval[C_G_RUNNABLE] && st != rt->cval[C_G_WAITING] && st != rt->cval[C_G_PREEMPTED])
			continue;
		if (sp <= lo || sp > hi)
			continue;
		for (int t = 0; t < nsp; t++)
			if (tsp[t] >= lo && tsp[t] < hi && tsp[t] < sp)
				sp = tsp[t];
		for (uint64_t p = lo; p + PAGE_SIZE <= (sp & ~(PAGE_SIZE - 1)); p += PAGE_SIZE)
			set_range(rt, p, p + PAGE_SIZE, GO_STACK_DEAD);
	}
	ret = 0;
out:
	free(gp);
	free(gs);
	free(l);
	free(r);
	return ret;
}

int go_rt_classify(struct go_rt *rt, pid_t pid, const uint64_t *tsp, int nsp,
		   int (*need)(uint64_t start, uint64_t end, void *arg), void *arg, struct go_stats *st,
		   char *why, size_t len)
{
	uint8_t *mh = NULL, *spans = NULL, *bits = NULL, *want = NULL;
	size_t mhlen = 0;
	uint64_t *sptr = NULL, nspans, sweepgen, vs[2], bits_len = 0;
	int mark_done;
	struct iovec *l = NULL, *r = NULL;
	size_t nb = 0;
	int ret = -1;

	free_arenas(rt);
	memset(st, 0, sizeof(*st));
	if (rread(pid, rt->sym[S_GCPHASE], &st->gc_phase, 4) || rread(pid, rt->sym[S_BUILDVERSION], vs, 16)) {
		snprintf(why, len, "cannot read runtime variables");
		return -1;
	}
	if (vs[1] < sizeof(st->version))
		rread(pid, vs[0], st->version, vs[1]);
	/* only the part of mheap_ up to the last field we use (it is ~100 KiB) */
	for (int f = F_MHEAP_SWEEPGEN; f <= F_MHEAP_ALLARENAS; f++)
		if (rt->off[f] + rt->size[f] > mhlen)
			mhlen = rt->off[f] + rt->size[f];
	mh = mhlen < (1 << 22) ? xmalloc(mhlen) : NULL;
	if (!mh || rread(pid, rt->sym[S_MHEAP], mh, mhlen)) {
		snprintf(why, len, "cannot read runtime.mheap_");
		free(mh);
		return -1;
	}
	sweepgen = get(mh, rt->off[F_MHEAP_SWEEPGEN], 4);
	mark_done = st->gc_phase == rt->cval[C_GC_OFF];
	if (load_arenas(rt, pid, mh)) {
		snprintf(why, len, "cannot read the heap arenas");
		goto out;
	}
	nspans = get(mh, rt->off[F_MHEAP_ALLSPANS] + 8, 8);
	if (nspans > (1 << 24)) {
		snprintf(why, len, "implausible span count %llu", (unsigned long long)nspans);
		goto out;
	}
	sptr = xmalloc(nspans * 8 + 8);
	spans = xmalloc(nspans * rt->span_size + 1);
	l = xmalloc((nspans + 1) * sizeof(*l));
	r = xmalloc((nspans + 1) * sizeof(*r));
	if (!sptr || !spans || !l || !r || rread(pid, get(mh, rt->off[F_MHEAP_ALLSPANS], 8), sptr, nspans * 8)) {
		snprintf(why, len, "cannot read mheap_.allspans");
		goto out;
	}
	for (uint64_t i = 0; i < nspans; i++) {
		l[i].iov_base = spans + i * rt->span_size;
		l[i].iov_len = rt->span_size;
		r[i].iov_base = (void *)sptr[i];
		r[i].iov_len = rt->span_size;
	}
	if (gather(pid, l, r, nspans)) {
		snprintf(why, len, "cannot read the spans");
		goto out;
	}
	/* allocation bitmaps of the in-use spans the caller needs, in one batch */
	want = xzalloc(nspans + 1);
	if (!want)
		goto out;
	for (uint64_t i = 0; i < nspans; i++) {
		const uint8_t *s = spans + i * rt->span_size;
		uint8_t state = get(s, rt->off[F_SPAN_STATE] + rt->off[F_STATEBOX_S], 1);
		uint64_t base = get(s, rt->off[F_SPAN_START], 8);
		uint64_t bytes = get(s, rt->off[F_SPAN_NPAGES], 8) * rt->cval[C_PAGE_SIZE];

		if (state != rt->cval[C_SPAN_INUSE])
			continue;
		want[i] = !need || need(base, base + bytes, arg);
		if (want[i])
			bits_len += (get(s, rt->off[F_SPAN_NELEMS], rt->size[F_SPAN_NELEMS]) + 7) / 8;
		else
			st->spans_skipped++;
	}
	bits = xmalloc(bits_len + 1);
	if (!bits)
		goto out;
	for (uint64_t i = 0, off = 0; i < nspans; i++) {
		const uint8_t *s = spans + i * rt->span_size;
		uint64_t n = (get(s, rt->off[F_SPAN_NELEMS], rt->size[F_SPAN_NELEMS]) + 7) / 8;

		if (!want[i] || !n)
			continue;
		l[nb].iov_base = bits + off;
		l[nb].iov_len = n;
		r[nb].iov_base = (void *)get(s, by_marks(rt, s, sweepgen, mark_done) ? rt->off[F_SPAN_GCMARKBITS]
										     : rt->off[F_SPAN_ALLOCBITS], 8);
		r[nb].iov_len = n;
		nb++;
		off += n;
	}
	if (gather(pid, l, r, nb)) {
		snprintf(why, len, "cannot read the allocation bitmaps");
		goto out;
	}
	rt->spans = xmalloc((nb + 1) * sizeof(*rt->spans));
	if (!rt->spans)
		goto out;
	for (uint64_t i = 0, off = 0; i < nspans; i++) {
		const uint8_t *s = spans + i * rt->span_size;
		uint8_t state = get(s, rt->off[F_SPAN_STATE] + rt->off[F_STATEBOX_S], 1);
		uint64_t base = get(s, rt->off[F_SPAN_START], 8);
		uint64_t bytes = get(s, rt->off[F_SPAN_NPAGES], 8) * rt->cval[C_PAGE_SIZE];
		uint64_t nelems = get(s, rt->off[F_SPAN_NELEMS], rt->size[F_SPAN_NELEMS]);
		uint64_t es = get(s, rt->off[F_SPAN_ELEMSIZE], 8);
		int marks;

		if (state != rt->cval[C_SPAN_INUSE] && state != rt->cval[C_SPAN_MANUAL])
			continue;
		st->spans++;
		if (!bytes || base % rt->cval[C_PAGE_SIZE] || !arena_of(rt, base) || !arena_of(rt, base + bytes - 1)) {
			snprintf(why, len, "span at %#llx lies outside the heap arenas", (unsigned long long)base);
			goto out;
		}
		if (state == rt->cval[C_SPAN_MANUAL]) {
			set_range(rt, base, base + bytes, GO_STACK_LIVE);
			continue;
		}
		if (!want[i]) {
			/* not needed: not dead, so its pages are whatever they hold */
			set_range(rt, base, base + bytes, GO_HEAP_LIVE);
			continue;
		}
		if (!es || nelems * es > bytes) {
			snprintf(why, len, "span at %#llx: %llu objects of %llu bytes do not fit", (unsigned long long)base,
				 (unsigned long long)nelems, (unsigned long long)es);
			goto out;
		}
		{
			/* mspan.sweepgen relative to mheap_.sweepgen (Go 1.19 mheap.go):
			 * -2 needs sweeping, -1 being swept, +1 cached and needs
			 * sweeping; 0 swept, +3 swept and cached */
			uint32_t d = (uint32_t)get(s, rt->off[F_SPAN_SWEEPGEN], 4) - (uint32_t)sweepgen;

			if (d == (uint32_t)-2 || d == (uint32_t)-1 || d == 1)
				st->unswept_spans++;
		}
		marks = by_marks(rt, s, sweepgen, mark_done);
		st->spans_marked += marks;
		if (classify_span(rt, s, nelems ? bits + off : NULL, sweepgen, marks)) {
			snprintf(why, len, "span at %#llx cannot be classified", (unsigned long long)base);
			goto out;
		}
		/* rule S: a span being swept keeps its slots as they are */
		if (nelems && (uint32_t)get(s, rt->off[F_SPAN_SWEEPGEN], 4) != (uint32_t)(sweepgen - 1)) {
			struct go_span *g = &rt->spans[rt->nr_spans++];

			g->base = base;
			g->nelems = nelems;
			g->elemsize = es;
			g->freeindex = marks ? 0 : get(s, rt->off[F_SPAN_FREEINDEX], rt->size[F_SPAN_FREEINDEX]);
			g->bits = bits + off;
		}
		off += (nelems + 7) / 8;
	}
	if (classify_stacks(rt, pid, tsp, nsp)) {
		snprintf(why, len, "cannot read the goroutines (runtime.allgs)");
		goto out;
	}
	ret = 0;
	rt->bits = bits;	/* the spans point into it */
	bits = NULL;
out:
	if (ret)
		free_arenas(rt);
	free(mh);
	free(sptr);
	free(spans);
	free(bits);
	free(want);
	free(l);
	free(r);
	return ret;
}

uint64_t go_rt_free_slots(const struct go_rt *rt, void (*fn)(uint64_t addr, uint64_t len, void *arg), void *arg)
{
	uint64_t bytes = 0;

	for (size_t k = 0; k < rt->nr_spans; k++) {
		const struct go_span *g = &rt->spans[k];

		for (uint64_t i = g->freeindex; i < g->nelems; i++) {
			uint64_t j = i;

			/* rule A: i >= freeindex and its allocBits bit clear is free;
			 * neighbouring free slots make one range */
			while (j < g->nelems && !(g->bits[j / 8] & (1 << (j % 8))))
				j++;
			if (j > i) {
				fn(g->base + i * g->elemsize, (j - i) * g->elemsize, arg);
				bytes += (j - i) * g->elemsize;
			}
			i = j;
		}
	}
	return bytes;
}

int go_rt_wait_gc(const struct go_rt *rt, pid_t pid, unsigned ms, uint64_t *waited_us)
{
	uint64_t t0 = now_us(), sg0 = 0, sg = 0;
	uint32_t phase = 0;
	int ret = 0;

	if (rread(pid, rt->sym[S_MHEAP] + rt->off[F_MHEAP_SWEEPGEN], &sg0, 4))
		return -1;
	for (;;) {
		if (rread(pid, rt->sym[S_MHEAP] + rt->off[F_MHEAP_SWEEPGEN], &sg, 4) ||
		    rread(pid, rt->sym[S_GCPHASE], &phase, 4)) {
			ret = -1;
			break;
		}
		/* mark termination turns gcphase to _GCoff, then adds 2 to sweepgen */
		if ((uint32_t)sg != (uint32_t)sg0 && phase == rt->cval[C_GC_OFF]) {
			ret = 1;
			break;
		}
		if (now_us() - t0 >= (uint64_t)ms * 1000)
			break;
		usleep(200);
	}
	*waited_us = now_us() - t0;
	return ret;
}
