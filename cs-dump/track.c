/*
 * --track-mem: which pages were written since the last checkpoint, without
 * soft-dirty bits (CONFIG_MEM_SOFT_DIRTY is off on our kernels).
 *
 * A userfaultfd is created inside the target by a remote syscall (its mm is
 * the one it tracks), copied out with pidfd_getfd and closed in the target,
 * so the target's fd table is left as it was. With UFFD_FEATURE_WP_ASYNC
 * the kernel resolves write-protect faults by itself: a write clears the
 * page's uffd-wp bit and the target goes on; nothing ever waits on the fd.
 * Every private VMA is registered in write-protect mode, and the
 * PAGEMAP_SCAN ioctl on /proc/PID/pagemap, with PM_SCAN_WP_MATCHING, lists
 * the pages whose bit is clear (PAGE_IS_WRITTEN) and sets it again; a
 * first pass without it lists the registered VMAs (PAGE_IS_WPALLOWED). Each
 * checkpoint of a series scans while the target is frozen, so a scan lists
 * exactly the pages written since the previous checkpoint.
 * Sources: userfaultfd(2), Documentation/admin-guide/mm/userfaultfd.rst
 * ("Write Protect Notifications", async mode), Documentation/admin-guide/
 * mm/pagemap.rst (PAGEMAP_SCAN), shared/KERNEL-FACTS.md ("Memory").
 *
 * Between checkpoints the uffd is held by a holder process (holder.c);
 * closing its last reference would unregister every VMA.
 *
 * What an incremental checkpoint leaves in the parent (track_in_parent) is
 * deliberately narrow: a page present now, in a VMA registered since the
 * parent's scan, not written since, that the parent holds with contents
 * (data, zero or in its own parent). Anything else is saved: pages of new
 * or moved VMAs (mmap and mremap give a VMA without registration), pages
 * the parent did not hold or held as dead. A page absent now (released
 * with MADV_DONTNEED, unmapped) is not listed at all, so the restore gives
 * a fresh zero page, never the parent's stale data.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#define LOG_PREFIX "track: "
#include "log.h"
#include "util.h"
#include "pages.h"
#include "pagechain.h"
#include "pmscan.h"
#include "imgfeatures.h"
#include "dump.h"
#include "inventory.pb-c.h"

/* Not in Debian 12's kernel headers (6.1): kernel 6.7 uapi values. */
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#define CS_UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#define CS_UFFD_FEATURE_WP_ASYNC (1 << 15)

struct range {
	uint64_t start, end;
};

#define PRE_NONE UINT64_MAX

/* One --pre-copy round: the written ranges its scan found, and their bytes. */
struct precopy {
	struct range *r;	/* written (present or not), sorted, merged */
	size_t n;
	struct range *cp;	/* of those, the present ones: copied */
	size_t ncp;
	uint64_t *off;		/* byte offset of cp[i] in buf, PRE_NONE: could not be read */
	uint8_t *buf;
	size_t len;		/* bytes mapped at buf */
};

struct track {
	int uffd;			/* our copy of the target's userfaultfd, -1: none yet */
	int hold;			/* connection to the holder, -1: none */
	int new_uffd;			/* uffd made by this dump: the holder must take it */
	uint64_t start_time;		/* the target's, /proc/PID/stat field 22 */
	const char *prev;		/* --prev-images-dir as given */
	int incremental;
	char series[SERIES_LEN];	/* of this checkpoint */
	uint32_t seq;
	char *full_why;			/* why it is full, NULL when incremental */
	struct pm_map parent;		/* the parent's pagemap, incremental only */

	struct range *tracked;		/* VMAs registered since the parent's scan */
	size_t ntracked;
	struct range *written;		/* pages written since then (the scan) */
	size_t nwritten;
	uint64_t track_us;
	uint64_t pages_untracked;

	struct precopy *pre;		/* --pre-copy rounds, oldest first */
	int npre;
	uint64_t precopy_us, pages_precopied;
	struct range *wfrozen;		/* with rounds: written since the last one (the freeze's scan) */
	size_t nwfrozen;
};

static int add_range(struct range **a, size_t *n, uint64_t start, uint64_t end)
{
	if (*n && (*a)[*n - 1].end == start) {
		(*a)[*n - 1].end = end;
		return 0;
	}
	if (!(*n & 255)) {
		struct range *r = xrealloc(*a, (*n + 256) * sizeof(*r));

		if (!r)
			return -1;
		*a = r;
	}
	(*a)[(*n)++] = (struct range){ start, end };
	return 0;
}

/* The index of the range of a (sorted, disjoint) holding addr, -1: none. */
static long find_range(const struct range *a, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < a[mid].start)
			hi = mid;
		else if (addr >= a[mid].end)
			lo = mid + 1;
		else
			return mid;
	}
	return -1;
}

static int in_ranges(const struct range *a, size_t n, uint64_t addr)
{
	return find_range(a, n, addr) >= 0;
}

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static void new_series(struct track *t)
{
	uint8_t r[16];

	if (getrandom(r, sizeof(r), 0) != sizeof(r)) {
		/* no entropy source: time and PID still tell series apart */
		uint64_t a = now_us(), b = getpid();

		memcpy(r, &a, 8);
		memcpy(r + 8, &b, 8);
	}
	for (int i = 0; i < 16; i++)
		snprintf(t->series + 2 * i, 3, "%02x", r[i]);
	t->seq = 0;
}

static void set_full(struct track *t, int warn, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_full(struct track *t, int warn, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	free(t->full_why);
	t->full_why = xstrdup(why);
	t->incremental = 0;
	pm_map_free(&t->parent);
	new_series(t);
	if (warn)
		pr_warn("full checkpoint: %s", why);
	else
		pr_info("full checkpoint: %s", why);
}

/* The parent named by --prev-images-dir: its series and pagemap. */
static int open_prev(struct dump_ctx *c, struct track *t, const struct hold_state *hs)
{
	InventoryEntry *inv = NULL;
	char why[512];
	int fd, ret = -1;

	/* relative to DIR, as with CRIU: the partial directory is DIR's sibling */
	fd = openat(c->dirfd, t->prev, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return pr_perror("--prev-images-dir %s cannot be opened (relative to the images directory)", t->prev);
	if (inventory_read(fd, &inv, why, sizeof(why)) || inventory_check_images(fd, inv, "pagemap.img", why, sizeof(why))) {
		pr_err("--prev-images-dir %s is not a complete checkpoint: %s", t->prev, why);
		goto out;
	}
	/* root_pid as the process sees it (--pidns: pidns.c), start_time ours */
	if (inv->root_pid != (uint32_t)dump_vpid(c->pid, 0) || inv->start_time != t->start_time) {
		pr_err("--prev-images-dir %s is a checkpoint of another process (PID %u)", t->prev, inv->root_pid);
		goto out;
	}
	ret = 0;
	if (!hs)
		set_full(t, 1, "no tracking holder for process %d (start time %llu): tracking was lost", c->pid,
			 (unsigned long long)t->start_time);
	else if (features_check(inv->features, inv->n_features, inv->tool_version, why, sizeof(why)))
		set_full(t, 1, "--prev-images-dir %s cannot be a parent: %s", t->prev, why);
	else if (!hs->valid)
		set_full(t, 1, "the checkpoint after series %s/%u did not complete: tracking was reset",
			 hs->series, hs->seq);
	else if (!inv->series || strcmp(inv->series, hs->series) || inv->seq != hs->seq)
		set_full(t, 1, "--prev-images-dir %s (series %s/%u) is not the last tracked checkpoint (%s/%u)",
			 t->prev, inv->series ? inv->series : "none", inv->seq, hs->series, hs->seq);
	else if (pm_map_load(fd, &t->parent))
		ret = -1;
	else {
		t->incremental = 1;
		snprintf(t->series, sizeof(t->series), "%s", hs->series);
		t->seq = hs->seq + 1;
		pr_info("incremental checkpoint %u of series %s on %s", t->seq, t->series, t->prev);
	}
out:
	if (inv)
		inventory_entry__free_unpacked(inv, NULL);
	close(fd);
	return ret;
}

int track_open(struct dump_ctx *c, const char *prev)
{
	struct track *t = xzalloc(sizeof(*t));
	struct hold_state hs;
	unsigned long long f[53];
	int r;

	if (!t)
		return -1;
	c->track = t;
	t->uffd = t->hold = -1;
	t->prev = prev;
	if (proc_stat_fields(c->pid, f))
		return -1;
	t->start_time = f[22];
	new_series(t);
	r = holder_begin(c->pid, t->start_time, &t->hold, &t->uffd, &hs);
	if (r < 0)
		return -1;
	if (prev)
		return open_prev(c, t, r ? &hs : NULL);
	set_full(t, 0, "first checkpoint of a series (no --prev-images-dir)");
	return 0;
}

/* Create the userfaultfd inside the target and take it out (target frozen). */
static int make_uffd(struct dump_ctx *c, struct track *t)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = CS_UFFD_FEATURE_WP_ASYNC | CS_UFFD_FEATURE_WP_UNPOPULATED };
	long fd, r;

	if (pt_syscall(&c->pt, &c->pt.t[0], &fd, SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY,
		       0, 0, 0, 0, 0))
		return -1;
	if (fd == -EINVAL &&	/* before 5.11: no UFFD_USER_MODE_ONLY */
	    pt_syscall(&c->pt, &c->pt.t[0], &fd, SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK, 0, 0, 0, 0, 0))
		return -1;
	if (fd < 0)
		return pr_err("cannot create a userfaultfd in %d: %s", c->pid, strerror(-fd));
	t->uffd = syscall(SYS_pidfd_getfd, c->pidfd, (int)fd, 0);
	if (t->uffd < 0)
		pr_perror("cannot copy the userfaultfd out of %d (pidfd_getfd)", c->pid);
	/* the target's fd table is left as it was */
	if (pt_syscall(&c->pt, &c->pt.t[0], &r, SYS_close, fd, 0, 0, 0, 0, 0) || r)
		return pr_err("cannot close the userfaultfd in %d (%ld)", c->pid, r);
	if (t->uffd < 0)
		return -1;
	if (ioctl(t->uffd, UFFDIO_API, &api))
		return pr_perror("userfaultfd: asynchronous write-protect (UFFD_FEATURE_WP_ASYNC, Linux 6.7) "
				 "is not available");
	return 0;
}

/* Private VMAs hold the pages a dump saves; the vDSO and friends are not ours. */
static int trackable(const struct vma *v)
{
	return !v->shared && strcmp(v->path, "[vdso]") && strcmp(v->path, "[vvar]") &&
	       strcmp(v->path, "[vvar_vclock]") && strcmp(v->path, "[vsyscall]");
}

/*
 * One PAGEMAP_SCAN pass over [start, end), regions appended to *out:
 * wp != 0: the written pages of registered VMAs, write-protected again
 * (unregistered VMAs are skipped: PM_SCAN_WP_MATCHING without
 * PM_SCAN_CHECK_WPASYNC), and with present != NULL the present ones among
 * them appended to *present too; wp == 0: the ranges of the VMAs registered for
 * asynchronous write-protection (PAGE_IS_WPALLOWED), nothing changed.
 */
static int scan(struct dump_ctx *c, int pmfd, uint64_t start, uint64_t end, int wp, struct range **out, size_t *n,
		struct range **present, size_t *npresent)
{
	static struct cs_page_region vec[1024];
	struct cs_pm_scan_arg a;

	while (start < end) {
		long r;

		memset(&a, 0, sizeof(a));
		a.size = sizeof(a);
		a.start = start;
		a.end = end;
		a.vec = (uint64_t)(uintptr_t)vec;
		a.vec_len = ARRAY_SIZE(vec);
		if (wp) {
			a.flags = CS_PM_SCAN_WP_MATCHING;
			a.category_mask = a.return_mask = CS_PAGE_IS_WRITTEN;
			if (present)
				a.return_mask |= CS_PAGE_IS_PRESENT;
		} else {
			a.category_anyof_mask = a.return_mask = CS_PAGE_IS_WPALLOWED;
		}
		r = ioctl(pmfd, CS_PAGEMAP_SCAN, &a);
		if (r < 0)
			return pr_perror("PAGEMAP_SCAN of %d at %#llx-%#llx", c->pid, (unsigned long long)start,
					 (unsigned long long)end);
		for (long i = 0; i < r; i++) {
			if (add_range(out, n, vec[i].start, vec[i].end))
				return -1;
			if (present && (vec[i].categories & CS_PAGE_IS_PRESENT) &&
			    add_range(present, npresent, vec[i].start, vec[i].end))
				return -1;
		}
		if (a.walk_end <= start || a.walk_end > end)
			return pr_err("PAGEMAP_SCAN of %d: walk ended at %#llx", c->pid, (unsigned long long)a.walk_end);
		start = a.walk_end;
	}
	return 0;
}

/*
 * After --pre-copy rounds, the freeze's scan found only what was written
 * since the last round: it becomes wfrozen, and written the union of all
 * the scans, every page written since the parent's.
 */
static int merge_written(struct track *t)
{
	size_t n = t->nwritten, m = 0;
	struct range *all;

	for (int k = 0; k < t->npre; k++)
		n += t->pre[k].n;
	all = xmalloc((n ? n : 1) * sizeof(*all));
	if (!all)
		return -1;
	memcpy(all, t->written, t->nwritten * sizeof(*all));
	n = t->nwritten;
	for (int k = 0; k < t->npre; k++) {
		memcpy(all + n, t->pre[k].r, t->pre[k].n * sizeof(*all));
		n += t->pre[k].n;
	}
	qsort(all, n, sizeof(*all), cmp_range);
	for (size_t i = 0; i < n; i++) {
		if (m && all[m - 1].end >= all[i].start) {
			if (all[i].end > all[m - 1].end)
				all[m - 1].end = all[i].end;
			continue;
		}
		all[m++] = all[i];
	}
	t->wfrozen = t->written;
	t->nwfrozen = t->nwritten;
	t->written = all;
	t->nwritten = m;
	return 0;
}

int track_frozen(struct dump_ctx *c)
{
	struct track *t = c->track;
	uint64_t t0 = now_us(), lo, hi;
	struct vma *v;
	char path[64];
	int n, r, pmfd, ret = -1;

	if (t->uffd < 0) {
		if (make_uffd(c, t))
			return -1;
		t->new_uffd = 1;
	}
	/* /proc/PID/maps, not smaps: smaps counts the pages of every VMA, too slow while frozen */
	v = proc_maps(c->pid, &n);
	if (!v)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", c->pid);
	pmfd = open(path, O_RDONLY | O_CLOEXEC);
	if (pmfd < 0) {
		pr_perror("cannot open %s", path);
		goto out;
	}
	/* the range of the trackable VMAs: [vsyscall] lies above the user address space */
	lo = UINT64_MAX;
	hi = 0;
	for (int i = 0; i < n; i++)
		if (trackable(&v[i])) {
			lo = v[i].start < lo ? v[i].start : lo;
			hi = v[i].end > hi ? v[i].end : hi;
		}
	if (lo >= hi) {
		pr_err("process %d has no private mappings", c->pid);
		goto out;
	}
	/*
	 * The VMAs registered now were registered by an earlier checkpoint of
	 * the series, so scanned at its freeze. The target has no userfaultfd
	 * of its own (files.c refuses one), so every registration is ours.
	 * (smaps shows "uw" too, but reading smaps costs milliseconds.)
	 */
	for (int i = 0; i < n; i++) {
		struct uffdio_register reg = { .range = { v[i].start, v[i].end - v[i].start },
					       .mode = UFFDIO_REGISTER_MODE_WP };
		struct range *one = NULL;
		size_t none = 0;

		if (!trackable(&v[i]))
			continue;
		/* the first page is enough: a VMA is registered as a whole */
		if (scan(c, pmfd, v[i].start, v[i].start + PAGE_SIZE, 0, &one, &none, NULL, NULL))
			goto out;
		free(one);
		if (none) {
			if (add_range(&t->tracked, &t->ntracked, v[i].start, v[i].end))
				goto out;
			continue;
		}
		/* new since the last checkpoint (or never registered): saved whole this time */
		r = ioctl(t->uffd, UFFDIO_REGISTER, &reg);
		if (r && (errno == ENOMEM || errno == ESRCH) && !t->new_uffd) {
			/*
			 * The holder's uffd belongs to an address space that is
			 * gone (ENOMEM on 6.18, mmget_not_zero failing): the
			 * process called execve(2). Start again with a new one.
			 */
			close(t->uffd);
			t->uffd = -1;
			if (make_uffd(c, t))
				goto out;
			t->new_uffd = 1;
			set_full(t, 1, "the tracked address space of %d is gone (execve?): tracking starts again",
				 c->pid);
			t->ntracked = 0;
			i = -1;
			continue;
		}
		if (r)
			pr_warn("VMA %#llx-%#llx (%s) cannot be tracked (%m): its pages are saved in every checkpoint",
				(unsigned long long)v[i].start, (unsigned long long)v[i].end,
				v[i].path[0] ? v[i].path : "anon");
		else
			pr_debug("registered VMA %#llx-%#llx", (unsigned long long)v[i].start,
				 (unsigned long long)v[i].end);
	}
	/* every registered VMA: the new ones get their baseline, written or not */
	if (scan(c, pmfd, lo, hi, 1, &t->written, &t->nwritten, NULL, NULL))
		goto out;
	if (t->npre && merge_written(t))
		goto out;
	t->track_us = now_us() - t0;
	pr_info("%zu tracked ranges, %zu written ranges, scanned in %llu us", t->ntracked, t->nwritten,
		(unsigned long long)t->track_us);
	ret = 0;
out:
	if (pmfd >= 0)
		close(pmfd);
	free(v);
	return ret;
}

/*
 * One --pre-copy round: scan first, then read. A page written after the
 * scan re-protected it shows up in the next scan, which supersedes this
 * copy; so a copy torn by a concurrent write is never used. A range that
 * cannot be read (unmapped since the scan, PROT_NONE) is marked so: the
 * page is then read while frozen, never taken from an older round.
 */
static int precopy_round(struct dump_ctx *c, struct track *t, int pmfd)
{
	struct precopy *p = xrealloc(t->pre, (t->npre + 1) * sizeof(*p));
	uint64_t bytes = 0, off = 0;

	if (!p)
		return -1;
	t->pre = p;
	p = &t->pre[t->npre++];
	memset(p, 0, sizeof(*p));
	/*
	 * x86-64 TASK_SIZE; VMAs not registered are skipped (no
	 * PM_SCAN_CHECK_WPASYNC). Holes count as written too (the scan puts
	 * a uffd-wp marker in them): only present pages are copied, so that
	 * reading never faults a page into the process.
	 */
	if (scan(c, pmfd, 0, 0x7ffffffff000ULL, 1, &p->r, &p->n, &p->cp, &p->ncp))
		return -1;
	if (!p->ncp)
		return 0;
	for (size_t i = 0; i < p->ncp; i++)
		bytes += p->cp[i].end - p->cp[i].start;
	p->off = xmalloc(p->ncp * sizeof(*p->off));
	if (!p->off)
		return -1;
	p->buf = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p->buf == MAP_FAILED) {
		p->buf = NULL;
		return pr_perror("--pre-copy: cannot allocate %llu bytes", (unsigned long long)bytes);
	}
	p->len = bytes;
	for (size_t i = 0; i < p->ncp;) {
		struct iovec local, remote[1024];
		size_t j, nv = 0;
		uint64_t b = 0;

		for (j = i; j < p->ncp && nv < ARRAY_SIZE(remote); j++, nv++) {
			remote[nv].iov_base = (void *)p->cp[j].start;
			remote[nv].iov_len = p->cp[j].end - p->cp[j].start;
			p->off[j] = off + b;
			b += remote[nv].iov_len;
		}
		local.iov_base = p->buf + off;
		local.iov_len = b;
		if (process_vm_readv(c->pid, &local, 1, remote, nv, 0) != (ssize_t)b) {
			/* short: one range at a time, to know which */
			for (size_t k = i; k < j; k++) {
				struct iovec l = { p->buf + p->off[k], remote[k - i].iov_len };

				if (process_vm_readv(c->pid, &l, 1, &remote[k - i], 1, 0) != (ssize_t)l.iov_len) {
					pr_debug("--pre-copy: %#llx-%#llx not readable (%m): read while frozen",
						 (unsigned long long)p->cp[k].start, (unsigned long long)p->cp[k].end);
					p->off[k] = PRE_NONE;
				}
			}
		}
		off += b;
		i = j;
	}
	t->pages_precopied += bytes / PAGE_SIZE;
	return 0;
}

int track_precopy(struct dump_ctx *c, int rounds)
{
	struct track *t = c->track;
	uint64_t t0 = now_us();
	char path[64];
	int pmfd, ret = 0;

	if (!t || rounds <= 0)
		return 0;
	if (!t->incremental || t->uffd < 0) {
		pr_info("--pre-copy: a full checkpoint copies everything while frozen");
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/%d/pagemap", c->pid);
	pmfd = open(path, O_RDONLY | O_CLOEXEC);
	if (pmfd < 0)
		return pr_perror("cannot open %s", path);
	for (int k = 0; k < rounds && !ret; k++) {
		uint64_t t1 = now_us(), before = t->pages_precopied;

		ret = precopy_round(c, t, pmfd);
		if (!ret)
			pr_info("pre-copy round %d: %llu pages in %zu ranges in %llu us", k + 1,
				(unsigned long long)(t->pages_precopied - before), t->pre[t->npre - 1].n,
				(unsigned long long)(now_us() - t1));
	}
	close(pmfd);
	t->precopy_us = now_us() - t0;
	return ret;
}

const uint8_t *track_precopied(struct dump_ctx *c, uint64_t addr)
{
	struct track *t = c->track;

	if (!t || !t->incremental || !t->npre)
		return NULL;
	/* registered at the freeze: so since before the rounds (only track_frozen registers) */
	if (!in_ranges(t->tracked, t->ntracked, addr) || in_ranges(t->wfrozen, t->nwfrozen, addr))
		return NULL;
	/* the last round that found it written has its newest contents */
	for (int k = t->npre - 1; k >= 0; k--) {
		struct precopy *p = &t->pre[k];
		long i = find_range(p->r, p->n, addr);

		if (i < 0)
			continue;
		/* written in this round: its copy, if it was present and could be read */
		i = find_range(p->cp, p->ncp, addr);
		if (i < 0 || p->off[i] == PRE_NONE)
			return NULL;
		return p->buf + p->off[i] + (addr - p->cp[i].start);
	}
	return NULL;
}

int64_t track_written_pages(struct dump_ctx *c)
{
	static struct cs_page_region vec[1024];
	struct track *t = c->track;
	uint64_t start = 0, end = 0x7ffffffff000ULL, pages = 0;	/* x86-64 TASK_SIZE: EFAULT beyond */
	char path[64];
	int fd;

	if (!t || !t->incremental)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", c->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (start < end) {
		struct cs_pm_scan_arg a = {
			.size = sizeof(a), .start = start, .end = end,
			.vec = (uint64_t)(uintptr_t)vec, .vec_len = ARRAY_SIZE(vec),
			.category_mask = CS_PAGE_IS_WRITTEN | CS_PAGE_IS_WPALLOWED,
			.return_mask = CS_PAGE_IS_WRITTEN,
		};
		long r = ioctl(fd, CS_PAGEMAP_SCAN, &a);

		if (r < 0 || a.walk_end <= start) {
			close(fd);
			return -1;
		}
		for (long i = 0; i < r; i++)
			pages += (vec[i].end - vec[i].start) / PAGE_SIZE;
		start = a.walk_end;
	}
	close(fd);
	/* the pre-copied pages are saved from our buffers, into pagebuf all the same */
	return pages + t->pages_precopied;
}

int track_in_parent(struct dump_ctx *c, uint64_t addr)
{
	struct track *t = c->track;
	long i;

	if (!t || !t->incremental)
		return 0;
	if (!in_ranges(t->tracked, t->ntracked, addr)) {
		t->pages_untracked++;
		return 0;
	}
	if (in_ranges(t->written, t->nwritten, addr))
		return 0;
	i = pm_map_find(&t->parent, addr);
	/* a page the parent left out as dead is saved: its contents are not there */
	return i >= 0 && t->parent.r[i].type != PM_DEAD;
}

int track_may_copy(struct dump_ctx *c, uint64_t start, uint64_t end)
{
	struct track *t = c->track;
	size_t lo = 0, hi;

	if (!t || !t->incremental)
		return 1;
	/* inside one tracked range? (ranges are sorted and merged) */
	hi = t->ntracked;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (start >= t->tracked[mid].end)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == t->ntracked || start < t->tracked[lo].start || end > t->tracked[lo].end)
		return 1;
	/* any written range overlapping [start, end)? the first ending after start */
	lo = 0;
	hi = t->nwritten;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (start >= t->written[mid].end)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < t->nwritten && t->written[lo].start < end;
}

void track_inventory(struct dump_ctx *c, InventoryEntry *inv)
{
	struct track *t = c->track;

	if (!t)
		return;
	inv->series = t->series;
	inv->has_seq = inv->has_start_time = 1;
	inv->seq = t->seq;
	inv->start_time = t->start_time;
	if (t->incremental)
		inv->parent = (char *)t->prev;
}

int track_finish(struct dump_ctx *c, DumpStatsEntry *st)
{
	struct track *t = c->track;

	if (!t)
		return 0;
	st->checkpoint = xstrdup(t->incremental ? "incremental" : "full");
	if (t->full_why)
		st->full_why = xstrdup(t->full_why);
	st->has_pages_parent = st->has_pages_untracked = st->has_track_us = 1;
	st->pages_parent = c->pages_parent;
	st->pages_untracked = t->pages_untracked;
	st->track_us = t->track_us;
	if (t->npre) {
		st->has_precopy_rounds = st->has_precopy_us = st->has_pages_precopied = 1;
		st->has_pages_precopy_kept = 1;
		st->precopy_rounds = t->npre;
		st->precopy_us = t->precopy_us;
		st->pages_precopied = t->pages_precopied;
		st->pages_precopy_kept = c->pages_pre;
	}
	/* like CRIU's: DIR/parent leads to the parent directory, relative to DIR */
	if (t->incremental && symlinkat(t->prev, c->dirfd, "parent"))
		return pr_perror("cannot create the parent link to %s", t->prev);
	return 0;
}

void track_commit(struct dump_ctx *c, int leave_running)
{
	struct track *t = c->track;

	if (!t)
		return;
	if (t->hold >= 0) {
		if (holder_commit(t->hold, t->series, t->seq, t->new_uffd ? t->uffd : -1))
			pr_warn("the holder did not take checkpoint %s/%u: the next one will be full", t->series,
				t->seq);
		return;
	}
	if (!leave_running || t->uffd < 0)
		return;
	if (holder_start(c->pid, t->start_time, t->uffd, t->series, t->seq))
		pr_warn("memory tracking of %d stops here: the next --track-mem checkpoint will be full", c->pid);
}

void track_free(struct dump_ctx *c)
{
	struct track *t = c->track;

	if (!t)
		return;
	if (t->uffd >= 0)
		close(t->uffd);
	if (t->hold >= 0)
		close(t->hold);
	pm_map_free(&t->parent);
	free(t->tracked);
	free(t->written);
	free(t->wfrozen);
	for (int k = 0; k < t->npre; k++) {
		free(t->pre[k].r);
		free(t->pre[k].cp);
		free(t->pre[k].off);
		if (t->pre[k].buf)
			munmap(t->pre[k].buf, t->pre[k].len);
	}
	free(t->pre);
	free(t->full_why);
	free(t);
	c->track = NULL;
}
