/*
 * Deleted files that were mapped, or were the executable (ghost-files
 * entries with vmas or exe, feature "ghost-maps"). The stub recreates each
 * as any ghost (regfiles.c: filled with no name, O_TMPFILE; linked at its
 * old path, or a free name next to it, only to be opened; unlinked at
 * once) and keeps one fd on it, at a number cs-restore knows: right above
 * the stub's error pipe (stub_errfd), one per mapped ghost in ghost-files
 * order. restore_mm maps the saved VMAs from that fd at their offsets,
 * PR_SET_MM_MAP takes it as exe_fd when the executable is the ghost, and
 * the fds are closed before anything else runs in the process. The process
 * sees "PATH (deleted)" in /proc/PID/maps and exe as before. Whatever PATH
 * names now is never opened: a replaced file is not mapped in place of
 * the deleted one. Nothing is left on disk however the restore ends (the
 * name exists only between link and unlink, inside the stub).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define LOG_PREFIX "mm: "
#include "log.h"
#include "util.h"
#include "restore.h"

static int is_mapped(const GhostFileEntry *g)
{
	return g->n_vmas || (g->has_exe && g->exe);
}

int ghost_map_count(const struct rst_ctx *c)
{
	int n = 0;

	for (size_t i = 0; i < c->nr_ghosts; i++)
		n += is_mapped(c->ghosts[i]);
	return n;
}

/* The stub's fd of mapped ghost g, or -1 when g is not mapped. */
static int slot_fd(const struct rst_ctx *c, const GhostFileEntry *g)
{
	int k = 0;

	for (size_t i = 0; i < c->nr_ghosts; i++) {
		if (c->ghosts[i] == g)
			return is_mapped(g) ? stub_errfd(c) + 1 + k : -1;
		k += is_mapped(c->ghosts[i]);
	}
	return -1;
}

GhostFileEntry *ghost_of_vma(const struct rst_ctx *c, const VmaEntry *v)
{
	if (v->kind != VK_FILE && v->kind != VK_FILE_SHARED)
		return NULL;
	for (size_t i = 0; i < c->nr_ghosts; i++)
		for (size_t j = 0; j < c->ghosts[i]->n_vmas; j++)
			if (c->ghosts[i]->vmas[j] == v->start)
				return c->ghosts[i];
	return NULL;
}

static GhostFileEntry *exe_ghost(const struct rst_ctx *c)
{
	for (size_t i = 0; i < c->nr_ghosts; i++)
		if (c->ghosts[i]->has_exe && c->ghosts[i]->exe)
			return c->ghosts[i];
	return NULL;
}

int ghost_map_fd(const struct rst_ctx *c, const VmaEntry *v)
{
	GhostFileEntry *g = ghost_of_vma(c, v);

	return g ? slot_fd(c, g) : -1;
}

int ghost_exe_fd(const struct rst_ctx *c)
{
	GhostFileEntry *g = exe_ghost(c);

	return g ? slot_fd(c, g) : -1;
}

/* A shared mapping of g that may be written (VmFlags mw) needs a writable fd. */
static int needs_rw(const struct rst_ctx *c, const GhostFileEntry *g)
{
	for (size_t i = 0; i < c->mm->n_vmas; i++) {
		const VmaEntry *v = c->mm->vmas[i];

		if (v->kind != VK_FILE_SHARED || ghost_of_vma(c, v) != g)
			continue;
		if (v->prot & PROT_WRITE)
			return 1;
		for (size_t f = 0; f < v->n_vmflags; f++)
			if (!strcmp(v->vmflags[f], "mw"))
				return 1;
	}
	return 0;
}

int check_ghost_map(const struct rst_ctx *c, const GhostFileEntry *g)
{
	struct stat st;
	char *d;
	int ret = 0;

	for (size_t j = 0; j < g->n_vmas; j++) {
		size_t i = 0;

		while (i < c->mm->n_vmas && c->mm->vmas[i]->start != g->vmas[j])
			i++;
		if (i == c->mm->n_vmas || (c->mm->vmas[i]->kind != VK_FILE && c->mm->vmas[i]->kind != VK_FILE_SHARED))
			return pr_err("ghost-files.img: %s names a mapping at %#llx, not a file VMA of mm.img", g->path,
				      (unsigned long long)g->vmas[j]);
		if (ghost_of_vma(c, c->mm->vmas[i]) != g)
			return pr_err("ghost-files.img: the mapping at %#llx is listed for two files", (unsigned long long)g->vmas[j]);
	}
	if (g->has_exe && g->exe && exe_ghost(c) != g)
		return pr_err("ghost-files.img: two files are the executable (%s)", g->path);
	if (!is_mapped(g) || g->link_remap)
		return 0;	/* a link-remap entry is opened through its link: check_link_remap */
	/* recreated in its directory (O_TMPFILE there): same file system, mount and exec rights */
	d = xstrdup(g->path);
	if (!d)
		return -1;
	errno = 0;
	if (stat(dirname(d), &st) || !S_ISDIR(st.st_mode))
		ret = pr_err("%s: cannot recreate deleted file %s: directory %s: %s",
			     g->n_vmas ? "a mapping" : "the executable", g->path, d,
			     errno ? strerror(errno) : "not a directory");
	free(d);
	return ret;
}

int stub_ghost_map(const struct rst_ctx *c, const GhostFileEntry *g, const char *name, char *err, size_t len)
{
	int to = slot_fd(c, g), fd;

	if (to < 0)
		return 0;
	/* O_RDONLY unless a shared mapping writes: a writer would make
	 * PR_SET_MM_MAP refuse the file as the executable (ETXTBSY rules) */
	fd = open(name, (needs_rw(c, g) ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, len, "cannot open recreated file %s to map it: %m", name);
		return -1;
	}
	if (fd != to && dup3(fd, to, O_CLOEXEC) < 0) {
		snprintf(err, len, "cannot move the fd of recreated file %s to %d: %m", name, to);
		close(fd);
		return -1;
	}
	if (fd != to)
		close(fd);
	return 0;
}

int ghost_maps_close(struct rst_ctx *c)
{
	int n = ghost_map_count(c), first = stub_errfd(c) + 1;
	long r;

	if (!n)
		return 0;
	r = rsys(c, 0, SYS_close_range, first, first + n - 1, 0, 0, 0, 0);
	if (r)
		return pr_err("cannot close the fds of the recreated deleted files (%d-%d): %s", first, first + n - 1,
			      strerror(-r));
	return 0;
}
