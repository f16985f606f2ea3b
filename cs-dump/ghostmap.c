/*
 * Mappings and executables of files deleted (or replaced) while in use:
 * the normal state of a long-running daemon after a package upgrade
 * replaced its binary or a library it maps. /proc/PID/maps then shows
 * "PATH (deleted)", and PATH, if it exists, is another file: the mapping
 * must never be restored from it. Such a file is saved as a ghost
 * (regfiles.c) read through /proc/PID/map_files/START-END or
 * /proc/PID/exe, which open the mapped inode itself (proc(5); needs
 * CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE), once per inode: an fd on the
 * same deleted file shares the entry. The entry lists the mappings
 * (ghost_file_entry.vmas) and whether it is the executable (exe);
 * cs-restore recreates it and maps it at the same offsets.
 *
 * A file deleted under its name but with other hard links left is
 * linked again under --link-remap (linkremap.c), and its entry names that
 * link instead of holding the contents.
 *
 * A mapping whose path does not end in " (deleted)" must name the mapped
 * inode at dump time, as an fd's path must (check_reopenable): cs-restore
 * maps it again by that path.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define LOG_PREFIX "mm: "
#include "log.h"
#include "util.h"
#include "dump.h"

#define DELETED " (deleted)"

int ends_deleted(const char *path)
{
	size_t l = path ? strlen(path) : 0, sl = strlen(DELETED);

	return l > sl && !strcmp(path + l - sl, DELETED);
}

static GhostFileEntry *find_ghost(struct dump_ctx *c, const struct stat *st)
{
	for (size_t i = 0; i < c->nr_ghosts; i++)
		if (c->ghosts[i]->dev == st->st_dev && c->ghosts[i]->ino == st->st_ino)
			return c->ghosts[i];
	return NULL;
}

/*
 * The file at /proc link src (stat st), shown as link (with " (deleted)"):
 * 1 when it is a ghost to save, 2 when it is to be linked again
 * (link_remap, linkremap.c), 0 when it is a live file whose name really
 * ends in " (deleted)", -1 when refused (logged).
 */
static int is_ghost(const char *what, const char *link, const struct stat *st, int link_remap)
{
	struct stat named;

	if (!st->st_nlink)
		return 1;
	if (stat(link, &named) == 0 && named.st_dev == st->st_dev && named.st_ino == st->st_ino)
		return 0;
	if (link_remap)
		return 2;
	return pr_err("%s: file %s was deleted under this name but has %lu other hard link(s): not supported "
		      "without --link-remap", what, link, (unsigned long)st->st_nlink);
}

/* A live path must name the mapped inode: cs-restore opens it again by that path. */
static int check_named(const char *what, const char *path, const struct stat *st)
{
	struct stat named;

	if (stat(path, &named) == 0 && named.st_dev == st->st_dev && named.st_ino == st->st_ino)
		return 0;
	return pr_err("%s: %s names another file or nothing now (a mount over it?): it cannot be mapped again by "
		      "path", what, path);
}

static int add_vma(GhostFileEntry *g, uint64_t start)
{
	uint64_t *arr = xrealloc(g->vmas, (g->n_vmas + 1) * sizeof(*arr));

	if (!arr)
		return -1;
	g->vmas = arr;
	arr[g->n_vmas++] = start;
	return 0;
}

/* The ghost of the file open at src (st), found, read, or linked again
 * (st_nlink > 0: is_ghost said 2); NULL on error. */
static GhostFileEntry *ghost_for(struct dump_ctx *c, const char *src, const struct stat *st, const char *path,
				 const char *what, uint64_t limit)
{
	GhostFileEntry *g = find_ghost(c, st);

	if (g)
		return g;
	if (st->st_nlink)
		return link_remap_save(c, src, st, path, what);	/* linkremap.c */
	return ghost_save(c, src, st, path, what, limit);
}

/* Whether g (a ghost of c) is mapped MAP_SHARED by c. */
static int shared_vma(const struct dump_ctx *c, const GhostFileEntry *g, uint64_t *start)
{
	for (size_t j = 0; j < g->n_vmas; j++)
		for (size_t i = 0; i < c->mm->n_vmas; i++)
			if (c->mm->vmas[i]->start == g->vmas[j] && c->mm->vmas[i]->kind == VK_FILE_SHARED) {
				*start = g->vmas[j];
				return 1;
			}
	return 0;
}

/*
 * Each process of a tree gets its own copy of a ghost: a deleted file that
 * one process maps MAP_SHARED and another one of the tree uses too (a
 * deleted temporary file as shared memory between a parent and its
 * children) would no longer be shared after the restore. Refused; c is
 * compared with the processes dumped before it.
 */
static int check_tree_sharing(struct dump_ctx *c)
{
	for (size_t k = 0; c->tree && k < c->idx; k++) {
		const struct dump_ctx *o = c->tree->n[k].c;

		for (size_t i = 0; o && i < c->nr_ghosts; i++)
			for (size_t j = 0; j < o->nr_ghosts; j++) {
				const GhostFileEntry *g = c->ghosts[i], *h = o->ghosts[j];
				uint64_t at;

				/* a linked-again file is the same inode after the restore too */
				if (g->dev != h->dev || g->ino != h->ino || g->link_remap)
					continue;
				if (shared_vma(c, g, &at) || shared_vma(o, h, &at))
					return pr_err("deleted file %s is mapped MAP_SHARED (at %#llx) and used by processes %d "
						      "and %d of the tree: not supported (each would get its own copy)",
						      g->path, (unsigned long long)at, o->pid, c->pid);
			}
	}
	return 0;
}

int dump_ghost_maps(struct dump_ctx *c, uint64_t limit, int link_remap)
{
	MmEntry *mm = c->mm;
	char src[96], what[64];
	struct stat st;
	GhostFileEntry *g;
	int r;

	for (size_t i = 0; i < mm->n_vmas; i++) {
		VmaEntry *e = mm->vmas[i];

		if (e->kind != VK_FILE && e->kind != VK_FILE_SHARED)
			continue;
		snprintf(src, sizeof(src), "/proc/%d/map_files/%llx-%llx", c->pid, (unsigned long long)e->start,
			 (unsigned long long)e->end);
		snprintf(what, sizeof(what), "VMA %#llx-%#llx", (unsigned long long)e->start,
			 (unsigned long long)e->end);
		if (stat(src, &st))
			return pr_perror("cannot stat %s (%s)", src, e->path);
		if (!ends_deleted(e->path)) {
			if (check_named(what, e->path, &st))
				return -1;
			continue;
		}
		r = is_ghost(what, e->path, &st, link_remap);
		if (r < 0)
			return -1;
		if (!r) {
			/* a live file: mm.c skipped what it does for one */
			e->has_file_size = e->has_file_mtime_ns = 1;
			e->file_size = st.st_size;
			e->file_mtime_ns = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
			continue;
		}
		e->path[strlen(e->path) - strlen(DELETED)] = 0;
		g = ghost_for(c, src, &st, e->path, what, limit);
		if (!g || add_vma(g, e->start))
			return -1;
		/* the ghost's, not of whatever PATH names now (information only) */
		e->has_file_size = e->has_file_mtime_ns = 1;
		e->file_size = st.st_size;
		e->file_mtime_ns = g->mtime_ns;
	}

	snprintf(src, sizeof(src), "/proc/%d/exe", c->pid);
	if (stat(src, &st))
		return pr_perror("cannot stat %s (%s)", src, mm->exe);
	if (!ends_deleted(mm->exe)) {
		if (check_named("the executable", mm->exe, &st))
			return -1;
	} else {
		r = is_ghost("the executable", mm->exe, &st, link_remap);
		if (r < 0)
			return -1;
		if (r) {
			mm->exe[strlen(mm->exe) - strlen(DELETED)] = 0;
			g = ghost_for(c, src, &st, mm->exe, "the executable", limit);
			if (!g)
				return -1;
			g->has_exe = g->exe = 1;
		}
	}
	return check_tree_sharing(c);
}
