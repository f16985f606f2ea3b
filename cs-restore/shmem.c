/*
 * Shared memory objects (shmem.img): shared anonymous memory and memfds,
 * each made once for the whole tree.
 *
 * cs-restore makes every object itself, after the check phase and before
 * the first stub: a memfd with memfd_create(2) and its saved name, or a
 * shared anonymous object with mmap(MAP_SHARED|MAP_ANONYMOUS) reopened
 * through /proc/self/map_files (so that it is again "/dev/zero (deleted)",
 * not a memfd), and fills it once with pwrite from its page images. It
 * keeps one fd per object until every process is rebuilt. Each process
 * then opens that inode through /proc/<cs-restore>/fd/N: the stub for a
 * memfd fd (a new open file description, at its offset; an fd shared with
 * an earlier process is taken from it as any other, files.c), and the stub,
 * by a remote openat, for each mapping, mapped MAP_SHARED or MAP_PRIVATE
 * at its address and offset (mm.c). So a write by one process is seen by
 * every other, as before.
 *
 * Doing it from cs-restore rather than in the first process that maps an
 * object costs no remote syscall per page, needs no order between the
 * stubs, and leaves no extra fd in any process.
 *
 * Seals go on last, once the contents are in: before the stubs map the
 * object, because a mapping made after F_SEAL_WRITE or
 * F_SEAL_FUTURE_WRITE loses VM_MAYWRITE as it did in the dumped process;
 * after every process is rebuilt when a shared mapping may be written
 * (VmFlags "mw"), which only F_SEAL_FUTURE_WRITE allows to exist.
 * Sources: memfd_create(2), fcntl(2) "File seals", proc(5) map_files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define LOG_PREFIX "shmem: "
#include "log.h"
#include "util.h"
#include "pages.h"
#include "restore.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x10U
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x8U
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x20
#endif

#define MEMFD_NAME_MAX 249	/* memfd_create(2): 249 bytes, without the NUL */

static ShmemEntry **objs;
static size_t nr_objs;
static int *obj_fd;		/* our fd of each object, -1 before shmem_create */
static int *late;		/* seals after the processes are rebuilt */
static pid_t owner;		/* cs-restore, which holds obj_fd */

static ShmemEntry *obj(uint32_t id, size_t *idx)
{
	if (!id || id > nr_objs || objs[id - 1]->id != id)
		return NULL;
	if (idx)
		*idx = id - 1;
	return objs[id - 1];
}

/* The page images of o: every record inside the object. 0 or -1 (logged). */
static int check_pages(struct rst_ctx *c, const ShmemEntry *o)
{
	struct page_reader *pr;
	uint64_t vaddr, nr, end = (o->size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	char sfx[32];
	int type, r;

	snprintf(sfx, sizeof(sfx), "-shmem-%u", o->id);
	pr = pr_open_as(c->dirfd, sfx);
	if (!pr)
		return -1;
	while ((r = pr_next(pr, &vaddr, &nr, &type)) > 0)
		if ((type != PM_DATA && type != PM_ZERO) || vaddr > end || nr > (end - vaddr) / PAGE_SIZE) {
			r = pr_err("pagemap-shmem-%u.img: pages at offset %llu (%llu of type %d) outside object %u "
				   "of %llu bytes", o->id, (unsigned long long)vaddr, (unsigned long long)nr, type,
				   o->id, (unsigned long long)o->size);
			break;
		}
	pr_close(pr);
	return r < 0 ? -1 : 0;
}

int read_shmem(struct rst_ctx *c)
{
	struct img *img;
	int r;

	if (!img_listed("shmem.img"))
		return 0;
	img = img_open(c->dirfd, "shmem.img", MAGIC_SHMEM);
	if (!img)
		return -1;
	for (;;) {
		ShmemEntry *o, **arr;

		r = img_read_msg(img, &shmem_entry__descriptor, (ProtobufCMessage **)&o);
		if (r <= 0)
			break;
		arr = xrealloc(objs, (nr_objs + 1) * sizeof(*arr));
		if (!arr) {
			r = -1;
			break;
		}
		objs = arr;
		objs[nr_objs++] = o;
		if (o->id != nr_objs || (o->kind != SHM_ANON && o->kind != SHM_MEMFD) ||
		    (o->kind == SHM_MEMFD && (!o->name || strlen(o->name) > MEMFD_NAME_MAX)) ||
		    (o->kind == SHM_ANON && !o->size) || o->size > (1ULL << 46)) {
			r = pr_err("shmem.img: record %zu (object %u) is corrupt", nr_objs, o->id);
			break;
		}
		if (check_pages(c, o)) {
			r = -1;
			break;
		}
	}
	img_free(img);
	if (r < 0)
		return -1;
	obj_fd = xmalloc((nr_objs + 1) * sizeof(int));
	late = xzalloc((nr_objs + 1) * sizeof(int));
	if (!obj_fd || !late)
		return -1;
	for (size_t i = 0; i < nr_objs; i++)
		obj_fd[i] = -1;
	return 0;
}

int check_shmem_vma(struct rst_ctx *c, const VmaEntry *v)
{
	ShmemEntry *o = v->has_shmid ? obj(v->shmid, NULL) : NULL;
	size_t i;

	if (!o)
		return pr_err("process %d: VMA %#llx-%#llx maps shared memory object %u, which shmem.img does not hold",
			      c->pid, (unsigned long long)v->start, (unsigned long long)v->end, v->shmid);
	if ((v->kind == VK_ANON_SHARED) != (o->kind == SHM_ANON) ||
	    (v->kind == VK_ANON_SHARED && !(v->flags & MAP_SHARED)))
		return pr_err("process %d: VMA %#llx-%#llx does not match shared memory object %u", c->pid,
			      (unsigned long long)v->start, (unsigned long long)v->end, v->shmid);
	obj(v->shmid, &i);
	for (size_t f = 0; (v->flags & MAP_SHARED) && f < v->n_vmflags; f++)
		if (!strcmp(v->vmflags[f], "mw"))
			late[i] = 1;
	return 0;
}

int check_shmem_fd(struct rst_ctx *c, const FdEntry *e)
{
	if (!e->has_shmid || !obj(e->shmid, NULL))
		return pr_err("process %d: fd %u opens shared memory object %u, which shmem.img does not hold",
			      c->pid, e->fd, e->shmid);
	return 0;
}

/* Our fd of the object, as a path any process can open. */
static void obj_path(size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "/proc/%d/fd/%d", owner, obj_fd[i]);
}

static int add_seals(size_t i)
{
	ShmemEntry *o = objs[i];

	if (o->kind != SHM_MEMFD || !o->seals)
		return 0;
	if (fcntl(obj_fd[i], F_ADD_SEALS, o->seals))
		return pr_perror("cannot seal memfd %s (object %u) with %#x", o->name, o->id, o->seals);
	return 0;
}

/* A new object like o, empty: its fd, or -1 (logged). */
static int make_obj(const ShmemEntry *o)
{
	char path[64];
	void *p;
	int fd;

	if (o->kind == SHM_MEMFD) {
		unsigned exec = o->has_seals && (o->seals & F_SEAL_EXEC) ? MFD_NOEXEC_SEAL : MFD_EXEC;

		fd = memfd_create(o->name, MFD_CLOEXEC | MFD_ALLOW_SEALING | exec);
		if (fd < 0 && errno == EINVAL)	/* before Linux 6.3: neither flag */
			fd = memfd_create(o->name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd < 0)
			return pr_perror("cannot create memfd %s (object %u)", o->name, o->id);
		if (ftruncate(fd, o->size)) {
			pr_perror("cannot size memfd %s to %llu bytes", o->name, (unsigned long long)o->size);
			close(fd);
			return -1;
		}
		return fd;
	}
	/* shared anonymous memory is a shmem file "dev/zero" of the mapping's size */
	p = mmap(NULL, o->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return pr_perror("cannot create shared anonymous memory of %llu bytes (object %u)",
				 (unsigned long long)o->size, o->id);
	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)p,
		 (unsigned long)p + (unsigned long)((o->size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)));
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		pr_perror("cannot open shared anonymous memory (object %u) through %s", o->id, path);
	munmap(p, o->size);
	return fd;
}

#define FILL_BUF (4UL << 20)

/* The saved pages of object i into its fd. 0 or -1 (logged). */
static int fill(struct rst_ctx *c, size_t i, uint8_t *buf)
{
	ShmemEntry *o = objs[i];
	struct page_reader *pr;
	uint64_t vaddr, nr, pages = 0;
	char sfx[32];
	int type, r;

	snprintf(sfx, sizeof(sfx), "-shmem-%u", o->id);
	pr = pr_open_as(c->dirfd, sfx);
	if (!pr)
		return -1;
	while ((r = pr_next(pr, &vaddr, &nr, &type)) > 0) {
		if (type != PM_DATA)
			continue;	/* zero pages: the new object reads zero there */
		while (nr) {
			uint64_t n = nr * PAGE_SIZE > FILL_BUF ? FILL_BUF / PAGE_SIZE : nr, len = n * PAGE_SIZE;

			if (pr_read(pr, buf, len)) {
				r = -1;
				break;
			}
			/* the last page may run past the size: that part is not the object's */
			if (vaddr + len > o->size)
				len = o->size - vaddr;
			if (pwrite(obj_fd[i], buf, len, vaddr) != (ssize_t)len) {
				r = pr_perror("cannot fill shared memory object %u at %llu", o->id,
					      (unsigned long long)vaddr);
				break;
			}
			vaddr += n * PAGE_SIZE;
			nr -= n;
			pages += n;
		}
		if (r < 0)
			break;
	}
	pr_close(pr);
	if (r < 0)
		return -1;
	pr_info("object %u (%s%s): %llu bytes, %llu pages written%s", o->id, o->kind == SHM_MEMFD ? "memfd " : "shared anonymous",
		o->kind == SHM_MEMFD ? o->name : "", (unsigned long long)o->size, (unsigned long long)pages,
		late[i] ? ", sealed last" : "");
	return 0;
}

int shmem_create(struct rst_ctx *c)
{
	uint8_t *buf;

	if (!nr_objs)
		return 0;
	owner = getpid();
	buf = xmalloc(FILL_BUF);
	if (!buf)
		return -1;
	for (size_t i = 0; i < nr_objs; i++) {
		ShmemEntry *o = objs[i];

		obj_fd[i] = make_obj(o);
		if (obj_fd[i] < 0 || fill(c, i, buf))
			goto err;
		if (o->kind == SHM_MEMFD) {
			/* the owner first: a mode change needs it (or CAP_FOWNER, which we have) */
			if (o->has_uid && fchown(obj_fd[i], o->uid, o->gid))
				pr_warn("memfd %s: cannot give it owner %u:%u: %m", o->name, o->uid, o->gid);
			if (o->has_mode && fchmod(obj_fd[i], o->mode)) {
				pr_perror("memfd %s: cannot set its mode %o", o->name, o->mode);
				goto err;
			}
		}
		if (!late[i] && add_seals(i))
			goto err;
	}
	free(buf);
	return 0;
err:
	free(buf);
	shmem_close();
	return -1;
}

int shmem_seal_late(void)
{
	for (size_t i = 0; i < nr_objs; i++)
		if (late[i] && obj_fd[i] >= 0 && add_seals(i))
			return -1;
	return 0;
}

void shmem_close(void)
{
	for (size_t i = 0; obj_fd && i < nr_objs; i++)
		if (obj_fd[i] >= 0) {
			close(obj_fd[i]);
			obj_fd[i] = -1;
		}
}

int shmem_open_vma(struct rst_ctx *c, const VmaEntry *v)
{
	int rw = 0;
	size_t i;
	char path[64];
	long r;

	if (!obj(v->shmid, &i) || obj_fd[i] < 0)
		return pr_err("VMA %#llx: shared memory object %u was not made", (unsigned long long)v->start, v->shmid);
	/* a shared mapping that may be made writable needs a writable file
	 * (VM_MAYWRITE); a read-only one of a sealed memfd must not have it */
	for (size_t f = 0; (v->flags & MAP_SHARED) && f < v->n_vmflags; f++)
		rw |= !strcmp(v->vmflags[f], "mw");
	obj_path(i, path, sizeof(path));
	if (scratch_write(c, 0, path, strlen(path) + 1))
		return -1;
	r = rsys(c, 0, SYS_openat, AT_FDCWD, SCRATCH(c), (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0, 0, 0);
	if (r < 0)
		return pr_err("process %d: cannot open shared memory object %u for VMA %#llx: %s", c->pid, v->shmid,
			      (unsigned long long)v->start, strerror(-r));
	return r;
}

int stub_shmem_fd(const FdEntry *e, char *err, size_t len)
{
	char path[64];
	size_t i;
	int fd;

	if (!obj(e->shmid, &i) || obj_fd[i] < 0) {
		snprintf(err, len, "fd %u: shared memory object %u was not made", e->fd, e->shmid);
		return -1;
	}
	obj_path(i, path, sizeof(path));
	/* a new open file description of the object, with the saved flags */
	fd = open(path, (e->flags & ~(O_CREAT | O_TRUNC | O_EXCL | O_CLOEXEC | O_TMPFILE)) | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, len, "fd %u: cannot open shared memory object %u (%s): %m", e->fd, e->shmid, path);
		return -1;
	}
	if (e->has_pos && lseek(fd, e->pos, SEEK_SET) < 0) {
		snprintf(err, len, "fd %u: cannot seek memfd to %llu: %m", e->fd, (unsigned long long)e->pos);
		close(fd);
		return -1;
	}
	return fd;
}
