/*
 * Shared memory objects: shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS,
 * or a MAP_SHARED mapping of /dev/zero, which the kernel backs with an
 * unlinked shmem file "/dev/zero (deleted)") and memfds ("/memfd:NAME
 * (deleted)", memfd_create(2)), whether mapped (shared or private) or held
 * as fds, by one process or several of the tree.
 *
 * An object is known by its inode: st_dev and st_ino of
 * /proc/PID/map_files/START-END (a mapping) or /proc/PID/fd/N (an fd).
 * Every process of the tree is frozen while it is read, and all of them
 * live in our mount of the shmem filesystem, so two processes that show
 * the same inode share the same pages (which is what kcmp(2) would tell of
 * a file; it has no comparison for mappings). The contents are read once
 * per object, through a new open file description of that inode: the
 * pages the object holds (lseek SEEK_DATA/SEEK_HOLE, which count swapped
 * pages as data), not the pages one process happens to have mapped.
 * Sources: proc(5) map_files (CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE),
 * memfd_create(2), fcntl(2) F_GET_SEALS, lseek(2) SEEK_DATA.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#define LOG_PREFIX "shmem: "
#include "log.h"
#include "util.h"
#include "pages.h"
#include "dump.h"

#define DELETED " (deleted)"
#define MEMFD_PREFIX "/memfd:"

/* One object: its record and the pages read from it. */
struct shm_obj {
	ShmemEntry e;
	struct shm_run { uint64_t off, nr; } *runs;	/* bytes, pages */
	size_t nr_runs;
	uint8_t *data;		/* the pages of every run, concatenated */
	uint64_t pages;
};

/* Every object of this dump (one cs-dump run dumps one tree). */
static struct shm_obj **objs;
static size_t nr_objs;

static struct shm_obj *obj_of(const struct stat *st)
{
	for (size_t i = 0; i < nr_objs; i++)
		if (objs[i]->e.dev == st->st_dev && objs[i]->e.ino == st->st_ino)
			return objs[i];
	return NULL;
}

/* What a /proc link or smaps path names: SHM_ANON, SHM_MEMFD, or 0 (neither). */
static int shm_kind(const char *path, int shared)
{
	size_t l = strlen(path), sl = strlen(DELETED);

	if (shared && !strcmp(path, "/dev/zero" DELETED))
		return SHM_ANON;
	if (!strncmp(path, MEMFD_PREFIX, strlen(MEMFD_PREFIX)) && l > sl && !strcmp(path + l - sl, DELETED))
		return SHM_MEMFD;
	return 0;
}

/* The pages of the object open at fd, size bytes, into o. 0 or -1 (logged). */
static int read_pages(struct shm_obj *o, int fd, const char *what)
{
	uint64_t size = o->e.size, off = 0, total = 0, end = (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);

	/* first the runs, then one buffer for all */
	while (off < end) {
		off_t d = lseek(fd, off, SEEK_DATA), h;
		struct shm_run *r;

		if (d < 0 && errno == ENXIO)
			break;
		if (d < 0)
			return pr_perror("cannot find the pages of %s (SEEK_DATA)", what);
		h = lseek(fd, d, SEEK_HOLE);
		if (h < 0)
			return pr_perror("cannot find the holes of %s (SEEK_HOLE)", what);
		d &= ~(PAGE_SIZE - 1);
		h = ((uint64_t)h + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
		if ((uint64_t)h > end)
			h = end;
		if (h <= d)
			break;
		r = xrealloc(o->runs, (o->nr_runs + 1) * sizeof(*r));
		if (!r)
			return -1;
		o->runs = r;
		r[o->nr_runs].off = d;
		r[o->nr_runs].nr = (h - d) / PAGE_SIZE;
		o->nr_runs++;
		total += (h - d) / PAGE_SIZE;
		off = h;
	}
	o->pages = total;
	if (!total)
		return 0;
	o->data = mmap(NULL, total * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	if (o->data == MAP_FAILED) {
		o->data = NULL;
		return pr_perror("cannot allocate %llu pages for %s", (unsigned long long)total, what);
	}
	off = 0;
	for (size_t i = 0; i < o->nr_runs; i++) {
		uint64_t len = o->runs[i].nr * PAGE_SIZE, got = 0;

		/* the last page may end past st_size: the rest stays zero */
		while (got < len) {
			ssize_t n = pread(fd, o->data + off + got, len - got, o->runs[i].off + got);

			if (n < 0)
				return pr_perror("cannot read %s at %llu", what,
						 (unsigned long long)(o->runs[i].off + got));
			if (!n)
				break;
			got += n;
		}
		off += len;
	}
	return 0;
}

/*
 * The object behind path (a /proc magic link), found or read now. kind:
 * SHM_*; shown: the link text, for the memfd's name and the errors.
 * Returns the object, or NULL (logged).
 */
static struct shm_obj *get_obj(struct dump_ctx *c, const char *path, int kind, const char *shown, const char *what)
{
	struct shm_obj *o, **arr;
	struct statfs sf;
	struct stat st;
	int fd, seals;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		pr_perror("cannot open %s (%s) to save it", what, shown);
		return NULL;
	}
	if (fstat(fd, &st) || fstatfs(fd, &sf)) {
		pr_perror("cannot stat %s (%s)", what, shown);
		goto err;
	}
	o = obj_of(&st);
	if (o) {
		close(fd);
		return o;
	}
	if ((unsigned long)sf.f_type == HUGETLBFS_MAGIC) {
		pr_err("%s is %s, a memfd of huge pages (MFD_HUGETLB): not supported", what, shown);
		goto err;
	}
	if ((unsigned long)sf.f_type != TMPFS_MAGIC || !S_ISREG(st.st_mode) || st.st_nlink) {
		pr_err("%s is %s, which is not shared memory the kernel made (filesystem %#lx, %lu links): "
		       "not supported", what, shown, (unsigned long)sf.f_type, (unsigned long)st.st_nlink);
		goto err;
	}
	o = xzalloc(sizeof(*o));
	arr = o ? xrealloc(objs, (nr_objs + 1) * sizeof(*arr)) : NULL;
	if (!arr) {
		free(o);
		goto err;
	}
	objs = arr;
	objs[nr_objs++] = o;
	shmem_entry__init(&o->e);
	o->e.id = nr_objs;
	o->e.kind = kind;
	o->e.size = st.st_size;
	o->e.has_mode = o->e.has_uid = o->e.has_gid = o->e.has_dev = o->e.has_ino = o->e.has_pid = 1;
	o->e.mode = st.st_mode & 07777;
	o->e.uid = st.st_uid;
	o->e.gid = st.st_gid;
	o->e.dev = st.st_dev;
	o->e.ino = st.st_ino;
	o->e.pid = c->pid;
	if (kind == SHM_MEMFD) {
		size_t pl = strlen(MEMFD_PREFIX), l = strlen(shown) - pl - strlen(DELETED);

		o->e.name = xzalloc(l + 1);
		if (!o->e.name)
			goto err;
		memcpy(o->e.name, shown + pl, l);
		seals = fcntl(fd, F_GET_SEALS);
		if (seals < 0) {
			pr_perror("cannot read the seals of %s (%s)", what, shown);
			goto err;
		}
		o->e.has_seals = 1;
		o->e.seals = seals;
	}
	if (read_pages(o, fd, shown))
		goto err;
	o->e.has_pages = 1;
	o->e.pages = o->pages;
	pr_info("%s: %s, %llu bytes, %llu pages saved (object %u)", what, shown, (unsigned long long)o->e.size,
		(unsigned long long)o->pages, o->e.id);
	close(fd);
	return o;
err:
	close(fd);
	return NULL;
}

int dump_shmem_vma(struct dump_ctx *c, const struct vma *v, VmaEntry *e)
{
	int kind = shm_kind(v->path, v->shared);
	char path[96], what[96];
	struct shm_obj *o;

	if (!kind)
		return 1;
	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", c->pid, (unsigned long long)v->start,
		 (unsigned long long)v->end);
	snprintf(what, sizeof(what), "VMA %#llx-%#llx of process %d", (unsigned long long)v->start,
		 (unsigned long long)v->end, c->pid);
	o = get_obj(c, path, kind, v->path, what);
	if (!o)
		return -1;
	e->kind = kind == SHM_ANON ? VK_ANON_SHARED : VK_MEMFD;
	e->has_shmid = 1;
	e->shmid = o->e.id;
	return 0;
}

int dump_shmem_fd(struct dump_ctx *c, FdEntry *e, const struct stat *st)
{
	int kind = e->path ? shm_kind(e->path, 1) : 0;
	char path[64], what[64];
	struct shm_obj *o;

	if (e->type != FD_REG || !kind || st->st_nlink)
		return 1;
	snprintf(path, sizeof(path), "/proc/%d/fd/%u", c->pid, e->fd);
	snprintf(what, sizeof(what), "fd %u of process %d", e->fd, c->pid);
	o = get_obj(c, path, kind, e->path, what);
	if (!o)
		return -1;
	e->type = FD_SHMEM;
	e->has_shmid = 1;
	e->shmid = o->e.id;
	return 0;
}

static int page_is_zero(const uint8_t *p)
{
	const uint64_t *q = (const uint64_t *)p;

	for (size_t i = 0; i < PAGE_SIZE / 8; i++)
		if (q[i])
			return 0;
	return 1;
}

/* pagemap-shmem-ID.img and pages-shmem-ID.img of o. 0 or -1. */
static int write_pages(struct dump_ctx *c, struct shm_obj *o)
{
	struct page_writer *pw;
	char sfx[32];
	uint64_t off = 0, bytes;

	snprintf(sfx, sizeof(sfx), "-shmem-%u", o->e.id);
	pw = pw_open_as(c->dirfd, sfx);
	if (!pw)
		return -1;
	for (size_t r = 0; r < o->nr_runs; r++) {
		for (uint64_t i = 0; i < o->runs[r].nr;) {
			const uint8_t *p = o->data + (off + i) * PAGE_SIZE;
			int zero = page_is_zero(p);
			uint64_t j = i + 1;

			while (j < o->runs[r].nr && page_is_zero(o->data + (off + j) * PAGE_SIZE) == zero)
				j++;
			if (pw_add(pw, o->runs[r].off + i * PAGE_SIZE, j - i, zero ? PM_ZERO : PM_DATA, p)) {
				pw_abort(pw);
				return -1;
			}
			i = j;
		}
		off += o->runs[r].nr;
	}
	return pw_close(pw, &c->sums, &bytes);
}

int write_shmem(struct dump_ctx *c)
{
	struct img *img;

	if (!nr_objs)
		return 0;
	img = img_create(c->dirfd, "shmem.img", MAGIC_SHMEM);
	if (!img)
		return -1;
	for (size_t i = 0; i < nr_objs; i++)
		if (img_write_msg(img, &objs[i]->e.base)) {
			img_free(img);
			return -1;
		}
	if (img_close(img, &c->sums))
		return -1;
	for (size_t i = 0; i < nr_objs; i++)
		if (write_pages(c, objs[i]))
			return -1;
	return 0;
}

void shmem_free(void)
{
	for (size_t i = 0; i < nr_objs; i++) {
		if (objs[i]->data)
			munmap(objs[i]->data, objs[i]->pages * PAGE_SIZE);
		free(objs[i]->runs);
		free(objs[i]->e.name);
		free(objs[i]);
	}
	free(objs);
	objs = NULL;
	nr_objs = 0;
}
