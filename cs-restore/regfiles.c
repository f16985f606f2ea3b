/*
 * Regular files and devices: the checks that a saved file is still the one
 * the process had open (--file-validation), and files deleted while open
 * ("ghosts"), recreated from their saved contents in the stub and unlinked
 * once opened, so that the process finds them deleted as it left them.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "util.h"
#include "restore.h"

int read_ghosts(struct rst_ctx *c)
{
	struct img *img;
	char n[64];
	int r;

	if (!img_listed(img_pname(n, sizeof(n), "ghost-files", c->sfx)))
		return 0;
	img = img_open(c->dirfd, n, MAGIC_GHOST_FILES);
	if (!img)
		return -1;
	for (;;) {
		GhostFileEntry *g, **arr;

		r = img_read_msg(img, &ghost_file_entry__descriptor, (ProtobufCMessage **)&g);
		if (r <= 0)
			break;
		arr = xrealloc(c->ghosts, (c->nr_ghosts + 1) * sizeof(*arr));
		if (!arr) {
			r = -1;
			break;
		}
		c->ghosts = arr;
		arr[c->nr_ghosts++] = g;
		if (!S_ISREG(g->mode) || (!g->n_fds && !g->n_vmas && !g->exe) || g->path[0] != '/') {
			r = pr_err("ghost-files.img: the entry for %s is corrupt", g->path);
			break;
		}
		/* ghostmap.c: mapped, or the executable; linkremap.c: linked again */
		if (check_ghost_map(c, g) || check_link_remap(c, g)) {
			r = -1;
			break;
		}
		for (size_t i = 0; i < g->n_fds && r > 0; i++) {
			size_t j = 0;

			while (j < c->nr_fds && c->fds[j]->fd != g->fds[i])
				j++;
			if (j == c->nr_fds || c->fds[j]->type != FD_REG || (c->fds[j]->has_peer_fd || c->fds[j]->has_from_pid))
				r = pr_err("ghost-files.img: %s names fd %u, not a file of files.img", g->path,
					   g->fds[i]);
		}
		if (r < 0)
			break;
	}
	img_free(img);
	return r < 0 ? -1 : 0;
}

GhostFileEntry *ghost_of(struct rst_ctx *c, const FdEntry *e)
{
	if (e->type != FD_REG)
		return NULL;
	for (size_t i = 0; i < c->nr_ghosts; i++)
		for (size_t j = 0; j < c->ghosts[i]->n_fds; j++)
			if (c->ghosts[i]->fds[j] == e->fd)
				return c->ghosts[i];
	return NULL;
}

/* "2024-05-01 10:00:00.123456789" (UTC) */
static void fmt_ns(int64_t ns, char *buf, size_t len)
{
	time_t s = ns / 1000000000;
	struct tm tm;
	size_t n;

	gmtime_r(&s, &tm);
	n = strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%09lld", (long long)(ns % 1000000000));
}

static int check_ghost(struct rst_ctx *c, const FdEntry *e, const GhostFileEntry *g)
{
	char *d = xstrdup(g->path);
	struct stat st;
	int ret = 0;

	(void)c;
	if (g->link_remap) {
		free(d);
		return 0;	/* opened through its link: check_link_remap */
	}
	if (!d)
		return -1;
	errno = 0;
	if (stat(dirname(d), &st) || !S_ISDIR(st.st_mode))
		ret = pr_err("fd %u: cannot recreate deleted file %s: directory %s: %s", e->fd, g->path, d,
			     errno ? strerror(errno) : "not a directory");
	free(d);
	return ret;
}

int check_file_same(struct rst_ctx *c, const char *what, const char *path, const struct stat *st, int has_size,
		    uint64_t size, int has_mtime, int64_t mtime_ns)
{
	char diff[512] = "", a[64], b[64];
	int64_t mtime;
	size_t n = 0;

	if (c->file_validation == FV_NONE)
		return 0;
	if (has_size && (uint64_t)st->st_size != size)
		n += snprintf(diff + n, sizeof(diff) - n, "size %llu -> %lld", (unsigned long long)size,
			      (long long)st->st_size);
	mtime = st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
	if (c->file_validation == FV_MTIME && has_mtime && mtime != mtime_ns) {
		fmt_ns(mtime_ns, a, sizeof(a));
		fmt_ns(mtime, b, sizeof(b));
		snprintf(diff + n, sizeof(diff) - n, "%smtime %s -> %s UTC", n ? ", " : "", a, b);
	}
	if (diff[0])
		return pr_err("%s: file %s changed since the dump (%s): use --file-validation=%s to restore "
			      "anyway", what, path, diff, c->file_validation == FV_MTIME && !n ? "filesize" : "none");
	return 0;
}

int check_regfile(struct rst_ctx *c, const FdEntry *e)
{
	const GhostFileEntry *g = ghost_of(c, e);
	char what[32];
	struct stat st;

	if (g)
		return check_ghost(c, e, g);
	if (stat(e->path, &st))
		return pr_perror("fd %u: cannot restore file %s", e->fd, e->path);
	if (e->type == FD_CHR) {
		if (!S_ISCHR(st.st_mode))
			return pr_err("fd %u: %s is no longer a character device", e->fd, e->path);
		if (e->has_rdev && st.st_rdev != e->rdev)
			return pr_err("fd %u: %s is now device %u:%u, it was %u:%u", e->fd, e->path,
				      major(st.st_rdev), minor(st.st_rdev), major(e->rdev), minor(e->rdev));
		return 0;
	}
	if (e->type == FD_DIR) {
		/* no size or mtime check: the files in it come and go */
		if (!S_ISDIR(st.st_mode))
			return pr_err("fd %u: %s is no longer a directory", e->fd, e->path);
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return pr_err("fd %u: %s is no longer a regular file", e->fd, e->path);
	snprintf(what, sizeof(what), "fd %u", e->fd);
	return check_file_same(c, what, e->path, &st, e->has_size, e->size, e->has_mtime_ns, e->mtime_ns);
}

static int tmpfile_linked;	/* make_ghost: the fd came from open_tmpfile_in_dir */

/* An unnamed regular file (O_TMPFILE, Linux 3.11) in the directory of path, or -1. */
static int open_tmpfile_in_dir(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	int fd;

	tmpfile_linked = 0;
	if (!slash || (size_t)(slash - path) >= sizeof(dir))
		return -1;
	if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd >= 0)
		tmpfile_linked = 1;
	return fd;
}

/* Give the O_TMPFILE fd the name name (linkat(2) of /proc/self/fd/N with
 * AT_SYMLINK_FOLLOW, which needs no CAP_DAC_READ_SEARCH, unlike
 * AT_EMPTY_PATH, used only without a /proc). 0, or -1 with errno (EEXIST:
 * the name is taken). */
static int link_tmpfile(int fd, const char *name)
{
	char self[64];

	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, self, AT_FDCWD, name, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno != ENOENT || access("/proc/self/fd", F_OK) == 0)
		return -1;
	/* no /proc here */
	return linkat(fd, "", AT_FDCWD, name, AT_EMPTY_PATH);
}

/* Create ghost g with its contents under a free name; returns the name (malloc'ed) or NULL. */
static char *make_ghost(const GhostFileEntry *g, char *err, size_t len)
{
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { g->mtime_ns / 1000000000, g->mtime_ns % 1000000000 } };
	size_t plen = strlen(g->path) + 32;
	char *name = malloc(plen);
	int fd = -1;

	if (!name) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	/* filled while it has no name (O_TMPFILE, open(2)): a cs-restore
	 * killed while it writes leaves no half file behind at the path */
	fd = open_tmpfile_in_dir(g->path);
	if (fd >= 0 && (write_all(fd, g->data.data, g->data.len) || fchown(fd, g->uid, g->gid) ||
			fchmod(fd, g->mode & 07777) || futimens(fd, ts))) {
		snprintf(err, len, "cannot recreate deleted file %s: %m", g->path);
		close(fd);
		free(name);
		return NULL;
	}
	/* its own name when that is free, so that /proc/PID/fd shows it as before */
	snprintf(name, plen, "%s", g->path);
	for (int i = 0; i < 100; i++) {
		int r;

		if (fd >= 0)
			r = link_tmpfile(fd, name);
		else
			r = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (r >= 0 || errno != EEXIST) {
			if (fd < 0)
				fd = r;
			else if (r < 0)
				fd = (close(fd), -1);
			break;
		}
		snprintf(name, plen, "%s.cs-ghost.%d.%d", g->path, getpid(), i);
	}
	if (fd < 0) {
		snprintf(err, len, "cannot recreate deleted file %s: %m", g->path);
		free(name);
		return NULL;
	}
	/* without O_TMPFILE (a file system without it): written under its name */
	if (!tmpfile_linked && (write_all(fd, g->data.data, g->data.len) || fchown(fd, g->uid, g->gid) ||
				fchmod(fd, g->mode & 07777) || futimens(fd, ts))) {
		snprintf(err, len, "cannot recreate deleted file %s as %s: %m", g->path, name);
		close(fd);
		unlink(name);
		free(name);
		return NULL;
	}
	close(fd);
	return name;
}

int stub_ghosts(struct rst_ctx *c, int *tmp, int tmp_min, char *err, size_t len)
{
	for (size_t i = 0; i < c->nr_ghosts; i++) {
		GhostFileEntry *g = c->ghosts[i];
		int temp = 1;	/* name is ours to unlink once opened */
		/* linkremap.c: a file cs-dump --link-remap linked again is opened through its link */
		char *name = g->link_remap ? stub_link_remap_name(g, &temp, err, len) : make_ghost(g, err, len);
		int ret = 0;

		if (!name)
			return -1;
		ret = stub_ghost_map(c, g, name, err, len);	/* ghostmap.c: its mappings' fd */
		for (size_t j = 0; j < c->nr_fds && !ret; j++) {
			FdEntry *e = c->fds[j];
			int fd;

			if ((e->has_peer_fd || e->has_from_pid) || ghost_of(c, e) != g)
				continue;
			fd = open(name, (e->flags & ~(O_CREAT | O_TRUNC | O_EXCL | O_CLOEXEC | O_TMPFILE)) | O_NOCTTY);
			if (fd < 0) {
				snprintf(err, len, "fd %u: cannot open recreated file %s: %m", e->fd, name);
				ret = -1;
				break;
			}
			if (e->has_pos && lseek(fd, e->pos, SEEK_SET) < 0) {
				snprintf(err, len, "fd %u: cannot seek %s to %llu: %m", e->fd, name,
					 (unsigned long long)e->pos);
				ret = -1;
			} else if ((tmp[j] = fcntl(fd, F_DUPFD_CLOEXEC, tmp_min)) < 0) {
				snprintf(err, len, "fd %u: cannot move: %m", e->fd);
				ret = -1;
			}
			close(fd);
		}
		if (temp && unlink(name) && !ret) {
			snprintf(err, len, "cannot unlink recreated file %s: %m", name);
			ret = -1;
		}
		free(name);
		if (ret)
			return -1;
	}
	return 0;
}
