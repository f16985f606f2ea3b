/*
 * Regular files deleted while open ("ghosts"). Their contents exist nowhere
 * but in the open file, so they go into the image: once per inode, however
 * many fds and open file descriptions refer to it. cs-restore recreates the
 * file, opens it as saved and unlinks it again, as CRIU does.
 *
 * A file that was deleted under one name but keeps other hard links
 * (st_nlink > 0) cannot be found again from its old name: refused, unless
 * --link-remap links it again (linkremap.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "util.h"
#include "dump.h"

#define DELETED " (deleted)"

/* file system magics (linux/magic.h; statfs(2)) of files that look regular
 * but cannot be opened again by the path /proc shows */
#define MQUEUE_MAGIC_ 0x19800202	/* POSIX message queues, mq_overview(7) */
#define NSFS_MAGIC_ 0x6e736673		/* namespace files (/proc/PID/ns), namespaces(7) */
#define SECRETMEM_MAGIC_ 0x5345434d	/* memfd_secret(2) */
#define BPF_FS_MAGIC_ 0xcafe4a11

int check_reopenable(struct dump_ctx *c, int fd, const char *link, const struct stat *st)
{
	static const struct {
		long magic;
		const char *what;
	} bad[] = {
		{ MQUEUE_MAGIC_, "a POSIX message queue" },
		{ NSFS_MAGIC_, "a namespace file" },
		{ SECRETMEM_MAGIC_, "a memfd_secret area" },
		{ BPF_FS_MAGIC_, "a file of the BPF file system" },
	};
	char path[64];
	struct statfs fs;
	struct stat named;
	size_t l = strlen(link), sl = strlen(DELETED);

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", c->pid, fd);
	if (statfs(path, &fs))
		return pr_perror("cannot statfs fd %d (%s)", fd, link);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (fs.f_type == bad[i].magic)
			return pr_err("fd %d is %s, %s: not supported yet", fd, link, bad[i].what);
	if (link[0] != '/')
		return pr_err("fd %d is %s (file system %#lx): this kind of file is not supported yet", fd, link,
			      (unsigned long)fs.f_type);
	if (l > sl && !strcmp(link + l - sl, DELETED))
		return 0;	/* dump_ghosts */
	/* cs-restore opens it again by this path: it must name this file */
	if (stat(link, &named) == 0 && named.st_dev == st->st_dev && named.st_ino == st->st_ino)
		return 0;
	return pr_err("fd %d is %s, but that path names another file or nothing now (a mount over it?): "
		      "it cannot be opened again by path", fd, link);
}

static GhostFileEntry *ghost_of(struct dump_ctx *c, const struct stat *st)
{
	for (size_t i = 0; i < c->nr_ghosts; i++)
		if (c->ghosts[i]->dev == st->st_dev && c->ghosts[i]->ino == st->st_ino)
			return c->ghosts[i];
	return NULL;
}

static int add_fd(GhostFileEntry *g, uint32_t fd)
{
	uint32_t *arr = xrealloc(g->fds, (g->n_fds + 1) * sizeof(*arr));

	if (!arr)
		return -1;
	g->fds = arr;
	arr[g->n_fds++] = fd;
	return 0;
}

GhostFileEntry *ghost_add(struct dump_ctx *c, const struct stat *st, const char *path)
{
	GhostFileEntry *g = xzalloc(sizeof(*g)), **arr;

	arr = g ? xrealloc(c->ghosts, (c->nr_ghosts + 1) * sizeof(*arr)) : NULL;
	if (!arr) {
		free(g);
		return NULL;
	}
	c->ghosts = arr;
	ghost_file_entry__init(g);
	arr[c->nr_ghosts++] = g;
	g->path = xstrdup(path);
	g->dev = st->st_dev;
	g->ino = st->st_ino;
	g->mode = st->st_mode;
	g->uid = st->st_uid;
	g->gid = st->st_gid;
	g->mtime_ns = st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
	return g->path ? g : NULL;
}

GhostFileEntry *ghost_save(struct dump_ctx *c, const char *src, const struct stat *st, const char *path,
			   const char *what, uint64_t limit)
{
	GhostFileEntry *g;
	int fd;

	if ((uint64_t)st->st_size > limit) {
		pr_err("%s: deleted file %s of %lld bytes is more than the --ghost-limit of %llu bytes", what, path,
		       (long long)st->st_size, (unsigned long long)limit);
		return NULL;
	}
	g = ghost_add(c, st, path);
	if (!g)
		return NULL;
	g->data.len = st->st_size;
	g->data.data = xmalloc(st->st_size ? st->st_size : 1);
	if (!g->data.data)
		return NULL;
	/* a new open file description of the same inode: the process's own
	 * offset is not touched (the magic link opens even a deleted file) */
	fd = open(src, O_RDONLY | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		pr_perror("%s: cannot open deleted file %s through %s to save it", what, path, src);
		return NULL;
	}
	for (size_t off = 0; off < g->data.len;) {
		ssize_t n = pread(fd, g->data.data + off, g->data.len - off, off);

		if (n <= 0) {
			pr_err("%s: cannot read deleted file %s at %zu: %s", what, path, off,
			       n ? strerror(errno) : "end of file before its size");
			close(fd);
			return NULL;
		}
		off += n;
	}
	close(fd);
	pr_info("%s: deleted file %s, %zu bytes saved", what, path, g->data.len);
	return g;
}

/* A new ghost for fd e, whose file is st: its contents read through /proc. */
static int new_ghost(struct dump_ctx *c, FdEntry *e, const struct stat *st, uint64_t limit)
{
	char src[64], what[32];
	GhostFileEntry *g;

	snprintf(src, sizeof(src), "/proc/%d/fd/%u", c->pid, e->fd);
	snprintf(what, sizeof(what), "fd %u", e->fd);
	g = ghost_save(c, src, st, e->path, what, limit);
	return g ? add_fd(g, e->fd) : -1;
}

int dump_ghosts(struct dump_ctx *c, uint64_t limit, int link_remap)
{
	for (size_t i = 0; i < c->nr_fds; i++) {
		FdEntry *e = c->fds[i];
		size_t l = e->path ? strlen(e->path) : 0, sl = strlen(DELETED);
		char path[64];
		struct stat st;
		GhostFileEntry *g;

		if (e->type != FD_REG || l <= sl || strcmp(e->path + l - sl, DELETED))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd/%u", c->pid, e->fd);
		if (stat(path, &st))
			return pr_perror("cannot stat fd %u (%s)", e->fd, e->path);
		{
			int r = dump_shmem_fd(c, e, &st);	/* memfd: shmem.c */

			if (r < 0)
				return -1;
			if (!r)
				continue;
		}
		if (st.st_nlink) {
			struct stat named;

			/* a live file whose name really ends in " (deleted)" */
			if (stat(e->path, &named) == 0 && named.st_dev == st.st_dev && named.st_ino == st.st_ino)
				continue;
			if (!link_remap)
				return pr_err("fd %u is file %s, deleted under this name but with %lu other hard link(s): "
					      "not supported without --link-remap", e->fd, e->path,
					      (unsigned long)st.st_nlink);
		}
		e->path[l - sl] = 0;
		/* restored by dup from its peer, or taken from the earlier
		 * process of the tree that has the description (pidfd_getfd):
		 * the file is that fd's (read_ghosts refuses such an fd in fds) */
		if (e->has_peer_fd || e->has_from_pid)
			continue;
		g = ghost_of(c, &st);
		if (!g && st.st_nlink) {
			char what[32];

			/* linkremap.c */
			snprintf(what, sizeof(what), "fd %u", e->fd);
			g = link_remap_save(c, path, &st, e->path, what);
			if (!g)
				return -1;
			if (add_fd(g, e->fd))
				return -1;
			continue;
		}
		if (g ? add_fd(g, e->fd) : new_ghost(c, e, &st, limit))
			return -1;
	}
	return 0;
}

int write_ghosts(struct dump_ctx *c)
{
	struct img *img;
	char n[64];

	if (!c->nr_ghosts)
		return 0;
	img = img_create(c->dirfd, img_pname(n, sizeof(n), "ghost-files", c->sfx), MAGIC_GHOST_FILES);
	if (!img)
		return -1;
	for (size_t i = 0; i < c->nr_ghosts; i++)
		if (img_write_msg(img, &c->ghosts[i]->base)) {
			img_free(img);
			return -1;
		}
	return img_close(img, &c->sums);
}
