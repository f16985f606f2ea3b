/*
 * The address space, rebuilt in the stub with remote syscalls: unmap what
 * the stub inherited from cs-restore, move the vDSO where it was, map every
 * saved VMA at its address, write the saved pages with process_vm_writev,
 * set the final protections and the mm fields (PR_SET_MM_MAP, which also
 * sets the executable link).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/prctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#define LOG_PREFIX "mm: "
#include "log.h"
#include "util.h"
#include "pages.h"
#include "pagechain.h"
#include "restore.h"

#ifndef PTRACE_GET_RSEQ_CONFIGURATION
#define PTRACE_GET_RSEQ_CONFIGURATION 0x420f
#endif

static int is_special(uint32_t kind)
{
	return kind == VK_VDSO || kind == VK_VVAR || kind == VK_VVAR_VCLOCK || kind == VK_VSYSCALL;
}

static int same_file(const char *path, uint64_t size, int64_t mtime_ns)
{
	struct stat st;

	if (stat(path, &st))
		return -1;
	return (uint64_t)st.st_size == size && st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec == mtime_ns;
}

int check_mm(struct rst_ctx *c)
{
	MmEntry *mm = c->mm;
	/* a deleted executable comes from its ghost: whatever is at its path now is not it */
	int r = ghost_exe_fd(c) >= 0 ? 1 : same_file(mm->exe, mm->exe_size, mm->exe_mtime_ns);

	/* an incremental checkpoint: every parent is checked here, before anything exists */
	c->pages = pc_open_as(c->dirfd, c->inv, c->dir, c->sfx);
	if (!c->pages)
		return -1;
	if (r < 0)
		return pr_perror("the executable %s is missing", mm->exe);
	if (!r)
		return pr_err("the executable %s changed since the dump (size or mtime differ)", mm->exe);
	for (size_t i = 0; i < mm->n_vmas; i++) {
		VmaEntry *v = mm->vmas[i];

		if (v->start >= v->end || (v->start | v->end) & (PAGE_SIZE - 1))
			return pr_err("mm.img: corrupt VMA %#llx-%#llx", (unsigned long long)v->start,
				      (unsigned long long)v->end);
		if ((v->kind == VK_ANON_SHARED || v->kind == VK_MEMFD) && check_shmem_vma(c, v))
			return -1;	/* shmem.c */
		if ((v->kind == VK_FILE || v->kind == VK_FILE_SHARED) && !ghost_of_vma(c, v)) {
			/* as for fds, --file-validation says what must be unchanged: a
			 * process that mmaps its data file (etcd's bbolt database) is
			 * restored from a -R dump after the original wrote to it only
			 * when the user accepts that */
			struct stat st;
			char what[64];

			if (stat(v->path, &st))
				return pr_perror("file %s mapped at %#llx is missing", v->path,
						 (unsigned long long)v->start);
			snprintf(what, sizeof(what), "mapping at %#llx", (unsigned long long)v->start);
			if (check_file_same(c, what, v->path, &st, v->has_file_size, v->file_size,
					    v->has_file_mtime_ns, v->file_mtime_ns))
				return -1;
		}
	}
	return 0;
}

/* Mapped MAP_SHARED: its pages are the file's or the shared object's, not the pagemap's. */
static int vma_shared(const VmaEntry *v)
{
	return v->kind == VK_FILE_SHARED ||
	       ((v->kind == VK_ANON_SHARED || v->kind == VK_MEMFD) && (v->flags & MAP_SHARED));
}

static int unmap_inherited(struct rst_ctx *c)
{
	struct { uint64_t addr; uint32_t size, sig, flags, pad; } rc;
	struct vma *v;
	int n;
	long r;

	/* glibc registered rseq in cs-restore's main thread, and fork kept it:
	 * unregister before its area disappears */
	memset(&rc, 0, sizeof(rc));
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, c->pid, sizeof(rc), &rc) > 0 && rc.addr) {
		r = rsys(c, 0, SYS_rseq, rc.addr, rc.size, 1 /* RSEQ_FLAG_UNREGISTER */, rc.sig, 0, 0);
		if (r)
			return pr_err("cannot unregister the stub's rseq area: %s", strerror(-r));
	}
	v = proc_vmas(c->pid, &n);
	if (!v)
		return -1;
	/* in batches (rsys_batch): one round trip for up to 128 munmaps */
	for (int i = 0; i < n;) {
		static struct rsys_call calls[RSYS_BATCH_MAX];
		int idx[RSYS_BATCH_MAX];
		size_t k = 0;

		for (; i < n && k < RSYS_BATCH_MAX; i++) {
			if (v[i].start >= c->hole && v[i].end <= c->hole + HOLE_SIZE)
				continue;
			if (v[i].path[0] == '[' &&
			    (!strcmp(v[i].path, "[vdso]") || !strcmp(v[i].path, "[vvar]") ||
			     !strcmp(v[i].path, "[vvar_vclock]") || !strcmp(v[i].path, "[vsyscall]")))
				continue;
			calls[k] = (struct rsys_call){ SYS_munmap, { v[i].start, v[i].end - v[i].start } };
			idx[k++] = i;
		}
		if (rsys_batch(c, calls, k)) {
			free(v);
			return -1;
		}
		for (size_t j = 0; j < k; j++)
			if (calls[j].ret) {
				r = calls[j].ret;
				pr_err("cannot unmap %#llx-%#llx in the stub: %s", (unsigned long long)v[idx[j]].start,
				       (unsigned long long)v[idx[j]].end, strerror(-r));
				free(v);
				return -1;
			}
	}
	free(v);
	return 0;
}

/* Move [vvar] [vvar_vclock] [vdso] together to where they were at dump time. */
static int move_vdso(struct rst_ctx *c)
{
	static const char *names[] = { "[vvar]", "[vvar_vclock]", "[vdso]" };
	static const int kinds[] = { VK_VVAR, VK_VVAR_VCLOCK, VK_VDSO };
	uint64_t cur_s[3] = { 0 }, cur_e[3] = { 0 }, sav_s[3] = { 0 }, sav_e[3] = { 0 };
	struct vma *v;
	int n;
	int64_t delta;

	v = proc_vmas(c->pid, &n);
	if (!v)
		return -1;
	for (int i = 0; i < n; i++)
		for (int k = 0; k < 3; k++)
			if (!strcmp(v[i].path, names[k])) {
				cur_s[k] = v[i].start;
				cur_e[k] = v[i].end;
			}
	free(v);
	for (size_t i = 0; i < c->mm->n_vmas; i++)
		for (int k = 0; k < 3; k++)
			if (c->mm->vmas[i]->kind == (uint32_t)kinds[k]) {
				sav_s[k] = c->mm->vmas[i]->start;
				sav_e[k] = c->mm->vmas[i]->end;
			}
	if (!sav_s[2])
		return pr_err("the dump has no [vdso]: not supported");
	delta = sav_s[2] - cur_s[2];
	for (int k = 0; k < 3; k++)
		if (cur_s[k] + delta != sav_s[k] || cur_e[k] - cur_s[k] != sav_e[k] - sav_s[k])
			return pr_err("the vDSO layout of this kernel differs from the dump's (%s)", names[k]);
	if (!delta)
		return 0;
	/* two hops: to the hole's spare space, then into place, so that no
	 * move lands on a mapping not moved yet */
	for (int hop = 0; hop < 2; hop++) {
		uint64_t lo = cur_s[0] ? cur_s[0] : cur_s[2];
		uint64_t base = hop == 0 ? c->hole + 0x10000 : lo + delta;
		int64_t d = base - lo;

		for (int k = 0; k < 3; k++) {
			long r;

			if (!cur_s[k])
				continue;
			r = rsys(c, 0, SYS_mremap, cur_s[k], cur_e[k] - cur_s[k], cur_e[k] - cur_s[k],
				 MREMAP_MAYMOVE | MREMAP_FIXED, cur_s[k] + d, 0);
			if (r != (long)(cur_s[k] + d))
				return pr_err("cannot move %s: %s", names[k], strerror(-r));
		}
		for (int k = 0; k < 3; k++)
			if (cur_s[k]) {
				cur_s[k] += d;
				cur_e[k] += d;
			}
		delta -= d;
	}
	return 0;
}

static int remote_open(struct rst_ctx *c, const char *path, int flags)
{
	long r;

	if (strlen(path) >= 4000)
		return pr_err("path too long: %s", path);
	if (scratch_write(c, 0, path, strlen(path) + 1))
		return -1;
	r = rsys(c, 0, SYS_openat, AT_FDCWD, SCRATCH(c), flags | O_CLOEXEC, 0, 0, 0);
	if (r < 0)
		return pr_err("cannot open %s in the restored process: %s", path, strerror(-r));
	return r;
}

/* What each call of map_vmas's batch is for, to check its result. */
struct map_call {
	const VmaEntry *v;
	const char *advice;	/* madvise: the VmFlags name; NULL: mmap or close */
	int close;
};

/* Run the batch and check it: every mmap landed, madvise failures warned. */
static int run_map_batch(struct rst_ctx *c, struct rsys_call *calls, struct map_call *what, size_t *n)
{
	int ret = 0;

	if (rsys_batch(c, calls, *n))
		return -1;
	for (size_t i = 0; i < *n && !ret; i++) {
		const VmaEntry *v = what[i].v;
		long r = calls[i].ret;

		if (what[i].close)
			continue;
		if (what[i].advice) {
			if (r)
				pr_warn("VMA %#llx: madvise %s failed: %s", (unsigned long long)v->start, what[i].advice,
					strerror(-r));
		} else if (r != (long)v->start) {
			ret = pr_err("cannot map VMA %#llx-%#llx (%s): %s", (unsigned long long)v->start,
				     (unsigned long long)v->end, v->path ? v->path : "anon",
				     r < 0 ? strerror(-r) : "mapped elsewhere");
		}
	}
	*n = 0;
	return ret;
}

/*
 * Every saved VMA mapped at its address. The mmaps, madvises and closes go
 * in batches (rsys_batch: one ptrace round trip for up to 128 calls, where
 * each call took one, about 80 us here, and a process has 100-200 VMAs).
 * A file is opened once for the VMAs that follow one another on it.
 */
static int map_vmas(struct rst_ctx *c)
{
	static const struct { const char *fl; int advice; } adv[] = {
		{ "hg", MADV_HUGEPAGE }, { "nh", MADV_NOHUGEPAGE }, { "dd", MADV_DONTDUMP },
		{ "dc", MADV_DONTFORK }, { "wf", MADV_WIPEONFORK },
	};
	static struct rsys_call calls[RSYS_BATCH_MAX];
	static struct map_call what[RSYS_BATCH_MAX];
	const char *open_path = NULL;	/* the file open at open_fd, for the next VMAs on it */
	int open_flags = 0, open_fd = -1;
	size_t n = 0;

	for (size_t i = 0; i < c->mm->n_vmas; i++) {
		VmaEntry *v = c->mm->vmas[i];
		uint64_t len = v->end - v->start;
		int shared = vma_shared(v), fd = -1, oflags = 0, shm = 0, gfd;
		uint32_t prot = shared ? v->prot : v->prot | PROT_READ | PROT_WRITE;
		uint32_t flags = (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED |
				 (v->flags & (MAP_GROWSDOWN | MAP_NORESERVE));

		if (is_special(v->kind))
			continue;
		/* room for an mmap, its madvises and two closes */
		if (n + 3 + ARRAY_SIZE(adv) > RSYS_BATCH_MAX && run_map_batch(c, calls, what, &n))
			return -1;
		if (v->kind == VK_FILE || v->kind == VK_FILE_SHARED)
			oflags = shared && (v->prot & PROT_WRITE) ? O_RDWR : O_RDONLY;
		/* a deleted file comes from its ghost's fd (ghostmap.c), never
		 * from the path, which may name a new file now */
		gfd = ghost_map_fd(c, v);
		if (open_fd >= 0 && (v->kind != VK_FILE && v->kind != VK_FILE_SHARED ? 1 :
				     gfd >= 0 || strcmp(open_path, v->path) || open_flags != oflags)) {
			calls[n] = (struct rsys_call){ SYS_close, { open_fd } };
			what[n++] = (struct map_call){ v, NULL, 1 };
			open_fd = -1;
		}
		if (v->kind == VK_ANON_SHARED || v->kind == VK_MEMFD) {
			fd = shmem_open_vma(c, v);	/* the object cs-restore made (shmem.c) */
			if (fd < 0)
				return -1;
			shm = 1;
		} else if (gfd >= 0) {
			fd = gfd;
		} else if (v->kind == VK_FILE || v->kind == VK_FILE_SHARED) {
			if (open_fd < 0) {
				open_fd = remote_open(c, v->path, oflags);
				if (open_fd < 0)
					return -1;
				open_path = v->path;
				open_flags = oflags;
			}
			fd = open_fd;
		} else {
			flags |= MAP_ANONYMOUS;
		}
		calls[n] = (struct rsys_call){ SYS_mmap, { v->start, len, prot, flags, (unsigned long)(long)fd,
							   fd >= 0 ? v->pgoff : 0 } };
		what[n++] = (struct map_call){ v, NULL, 0 };
		if (shm) {
			calls[n] = (struct rsys_call){ SYS_close, { fd } };
			what[n++] = (struct map_call){ v, NULL, 1 };
		}
		for (size_t f = 0; f < v->n_vmflags; f++)
			for (size_t a = 0; a < ARRAY_SIZE(adv); a++)
				if (!strcmp(v->vmflags[f], adv[a].fl)) {
					calls[n] = (struct rsys_call){ SYS_madvise, { v->start, len, adv[a].advice } };
					what[n++] = (struct map_call){ v, adv[a].fl, 0 };
				}
	}
	if (open_fd >= 0) {
		calls[n] = (struct rsys_call){ SYS_close, { open_fd } };
		what[n++] = (struct map_call){ NULL, NULL, 1 };
	}
	return run_map_batch(c, calls, what, &n);
}

static VmaEntry *vma_at(struct rst_ctx *c, uint64_t addr)
{
	for (size_t i = 0; i < c->mm->n_vmas; i++)
		if (addr >= c->mm->vmas[i]->start && addr < c->mm->vmas[i]->end)
			return c->mm->vmas[i];
	return NULL;
}

/*
 * Pages are written by a thread of their own while the next batch is
 * decompressed (two CPUs: zstd and the target's page faults in
 * process_vm_writev overlap). Two batches of WBUF bytes / WIOV iovecs: the
 * main thread fills one while the writer writes the other.
 */
#define WBUF (8UL << 20)
#define WIOV 1024

struct wbatch {
	uint8_t *buf;
	struct iovec rv[WIOV];
	size_t n, used;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct wbatch *todo;	/* handed to the writer, not written yet */
	int quit, threaded;
	pid_t pid;
	int err;		/* errno of the first failed write */
	ssize_t wrote;
	size_t want;
	uint64_t write_us;
} wq = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER };

/* process_vm_writev of one batch; the first failure is kept in wq */
static void write_batch(struct wbatch *b)
{
	struct iovec l = { b->buf, b->used };
	uint64_t t = now_us();
	ssize_t w = process_vm_writev(wq.pid, &l, 1, b->rv, b->n, 0);
	int e = errno;

	wq.write_us += now_us() - t;
	if (w != (ssize_t)b->used && !wq.err) {
		wq.err = w < 0 ? e : EIO;
		wq.wrote = w;
		wq.want = b->used;
	}
	b->n = b->used = 0;
}

static void *writer(void *arg)
{
	pthread_mutex_lock(&wq.mu);
	for (;;) {
		struct wbatch *b;

		while (!wq.todo && !wq.quit)
			pthread_cond_wait(&wq.cv, &wq.mu);
		if (!wq.todo)
			break;
		b = wq.todo;
		pthread_mutex_unlock(&wq.mu);
		write_batch(b);
		pthread_mutex_lock(&wq.mu);
		wq.todo = NULL;
		pthread_cond_broadcast(&wq.cv);
	}
	pthread_mutex_unlock(&wq.mu);
	return arg;
}

static int write_error(void)
{
	errno = wq.err;
	return pr_perror("cannot write %zu bytes of pages into the restored process (wrote %zd)", wq.want, wq.wrote);
}

/* Hand b to the writer once the other batch is written; 0 or -1 (logged). */
static int post_batch(struct wbatch *b)
{
	if (!wq.threaded) {
		if (b->n)
			write_batch(b);
		return wq.err ? write_error() : 0;
	}
	pthread_mutex_lock(&wq.mu);
	while (wq.todo)
		pthread_cond_wait(&wq.cv, &wq.mu);
	if (b->n && !wq.err) {
		wq.todo = b;
		pthread_cond_broadcast(&wq.cv);
	}
	pthread_mutex_unlock(&wq.mu);
	return wq.err ? write_error() : 0;
}

/* Wait for the writer to write everything and stop it; 0 or -1 (logged). */
static int stop_writer(pthread_t th)
{
	if (!wq.threaded)
		return wq.err ? write_error() : 0;
	pthread_mutex_lock(&wq.mu);
	while (wq.todo)
		pthread_cond_wait(&wq.cv, &wq.mu);
	wq.quit = 1;
	pthread_cond_broadcast(&wq.cv);
	pthread_mutex_unlock(&wq.mu);
	pthread_join(th, NULL);
	wq.threaded = 0;
	return wq.err ? write_error() : 0;
}

/*
 * Page contents from pagemap.img + pages.img (of this checkpoint and of its
 * parents, pagechain.h), in batches of 8 MiB / 1024 iovecs.
 */
static int fill_pages(struct rst_ctx *c)
{
	struct page_chain *pr = c->pages;
	static struct wbatch wb[2];
	struct wbatch *cur = &wb[0];
	uint64_t vaddr, nr, pages = 0, t0 = now_us(), read_us = 0;
	int type, r, ret = -1;
	pthread_t th;

	wq.todo = NULL;
	wq.quit = wq.err = wq.threaded = 0;
	wq.write_us = 0;
	wq.pid = c->pid;
	for (int k = 0; k < 2; k++) {
		wb[k].n = wb[k].used = 0;
		if (!wb[k].buf && !(wb[k].buf = xmalloc(WBUF)))
			goto out;
	}
	wq.threaded = !pthread_create(&th, NULL, writer, NULL);
	while ((r = pc_next(pr, &vaddr, &nr, &type)) > 0) {
		while (nr) {
			/* a record may span adjacent VMAs: take it VMA by VMA */
			VmaEntry *v = vma_at(c, vaddr);
			uint64_t chunk = nr, in_vma;

			if (!v || vma_shared(v) || is_special(v->kind)) {
				pr_err("pagemap.img: pages at %#llx are outside any private VMA",
				       (unsigned long long)vaddr);
				goto out;
			}
			in_vma = (v->end - vaddr) / PAGE_SIZE;
			if (chunk > in_vma)
				chunk = in_vma;
			if (chunk * PAGE_SIZE > WBUF - cur->used)
				chunk = (WBUF - cur->used) / PAGE_SIZE;
			if (!chunk || cur->n == WIOV) {
				if (post_batch(cur))
					goto out;
				cur = cur == &wb[0] ? &wb[1] : &wb[0];
				continue;
			}
			if (type == PM_DATA) {
				uint64_t t = now_us();

				if (pc_read(pr, cur->buf + cur->used, chunk * PAGE_SIZE))
					goto out;
				read_us += now_us() - t;
			} else if (v->kind == VK_ANON) {
				/* fresh anonymous memory is already zero */
				vaddr += chunk * PAGE_SIZE;
				nr -= chunk;
				continue;
			} else {
				/* a zero page over a file mapping is not */
				memset(cur->buf + cur->used, 0, chunk * PAGE_SIZE);
			}
			cur->rv[cur->n].iov_base = (void *)vaddr;
			cur->rv[cur->n].iov_len = chunk * PAGE_SIZE;
			cur->n++;
			cur->used += chunk * PAGE_SIZE;
			vaddr += chunk * PAGE_SIZE;
			nr -= chunk;
			pages += chunk;
		}
	}
	if (r < 0 || post_batch(cur))
		goto out;
	ret = 0;
out:
	if (stop_writer(th))
		ret = -1;
	if (!ret)
		pr_info("%llu pages written in %llu us (%llu us reading the images, %llu us writing)",
			(unsigned long long)pages, (unsigned long long)(now_us() - t0), (unsigned long long)read_us,
			(unsigned long long)wq.write_us);
	for (int k = 0; k < 2; k++) {
		free(wb[k].buf);
		wb[k].buf = NULL;
	}
	pc_close(pr);
	c->pages = NULL;
	return ret;
}

static int protect_vmas(struct rst_ctx *c)
{
	for (size_t i = 0; i < c->mm->n_vmas; i++) {
		VmaEntry *v = c->mm->vmas[i];
		long r;

		if (is_special(v->kind) || vma_shared(v) || v->prot == (v->prot | PROT_READ | PROT_WRITE))
			continue;
		r = rsys(c, 0, SYS_mprotect, v->start, v->end - v->start, v->prot, 0, 0, 0);
		if (r)
			return pr_err("cannot protect VMA %#llx-%#llx: %s", (unsigned long long)v->start,
				      (unsigned long long)v->end, strerror(-r));
	}
	return 0;
}

static int has_vmflag(const VmaEntry *v, const char *fl)
{
	for (size_t f = 0; f < v->n_vmflags; f++)
		if (!strcmp(v->vmflags[f], fl))
			return 1;
	return 0;
}

/*
 * VMAs the process had locked (VmFlags lo; lf: MLOCK_ONFAULT), locked
 * again once they have their pages and final protections: mlock(2) of a
 * private file mapping still writable would copy every page of it. The
 * stub is still root here (CAP_IPC_LOCK: RLIMIT_MEMLOCK does not apply).
 */
static int lock_vmas(struct rst_ctx *c)
{
	for (size_t i = 0; i < c->mm->n_vmas; i++) {
		VmaEntry *v = c->mm->vmas[i];
		int onfault = has_vmflag(v, "lf");
		long r;

		if (!has_vmflag(v, "lo") || is_special(v->kind))
			continue;
		r = onfault ? rsys(c, 0, SYS_mlock2, v->start, v->end - v->start, 1 /* MLOCK_ONFAULT */, 0, 0, 0)
			    : rsys(c, 0, SYS_mlock, v->start, v->end - v->start, 0, 0, 0, 0);
		if (r)
			return pr_err("cannot lock VMA %#llx-%#llx again (mlock%s): %s", (unsigned long long)v->start,
				      (unsigned long long)v->end, onfault ? "2 MLOCK_ONFAULT" : "", strerror(-r));
	}
	return 0;
}

static int set_mm_map(struct rst_ctx *c)
{
	MmEntry *mm = c->mm;
	struct prctl_mm_map m;
	size_t alen = mm->n_auxv * 8;
	int fd, ghost;
	long r;

	if (alen > 2048)
		return pr_err("mm.img: auxv of %zu bytes is too large", alen);
	memset(&m, 0, sizeof(m));
	m.start_code = mm->start_code;
	m.end_code = mm->end_code;
	m.start_data = mm->start_data;
	m.end_data = mm->end_data;
	m.start_brk = mm->start_brk;
	m.brk = mm->brk;
	m.start_stack = mm->start_stack;
	m.arg_start = mm->arg_start;
	m.arg_end = mm->arg_end;
	m.env_start = mm->env_start;
	m.env_end = mm->env_end;
	m.auxv = (__u64 *)(SCRATCH(c) + 2048);
	m.auxv_size = alen;
	/* a deleted executable: its ghost's fd (ghostmap.c), closed by ghost_maps_close */
	ghost = ghost_exe_fd(c) >= 0;
	fd = ghost ? ghost_exe_fd(c) : remote_open(c, mm->exe, O_RDONLY);
	if (fd < 0)
		return -1;
	m.exe_fd = fd;
	if (scratch_write(c, 2048, mm->auxv, alen) || scratch_write(c, 1024, &m, sizeof(m)))
		return -1;
	r = rsys(c, 0, SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, SCRATCH(c) + 1024, sizeof(m), 0, 0);
	if (!ghost)
		rsys(c, 0, SYS_close, fd, 0, 0, 0, 0, 0);
	if (r)
		return pr_err("cannot set the mm fields and executable (PR_SET_MM_MAP): %s", strerror(-r));
	return 0;
}

/* PR_SET_THP_DISABLE (redis sets it): before any page is filled, so that
 * none comes back in a huge page the process had refused. */
static int thp_disable(struct rst_ctx *c)
{
	long r;

	if (!c->proc->has_thp_disabled || !c->proc->thp_disabled)
		return 0;
	r = rsys(c, 0, SYS_prctl, PR_SET_THP_DISABLE, 1, 0, 0, 0, 0);
	if (r)
		return pr_err("cannot disable transparent huge pages (PR_SET_THP_DISABLE): %s", strerror(-r));
	return 0;
}

int restore_mm(struct rst_ctx *c)
{
	if (thp_disable(c) || unmap_inherited(c) || move_vdso(c) || map_vmas(c) || cs_fault("memory") || fill_pages(c) ||
	    protect_vmas(c) || lock_vmas(c) || set_mm_map(c) || ghost_maps_close(c))
		return -1;
	return 0;
}
