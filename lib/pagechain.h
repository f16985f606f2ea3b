/*
 * Chains of checkpoints: an incremental checkpoint (cs-dump --track-mem
 * --prev-images-dir) lists the pages unchanged since its parent as
 * PM_PARENT runs, and a `parent` symlink in its directory names the parent
 * directory (relative to it, or absolute). The parent may itself be
 * incremental, down to a full checkpoint (inventory seq 0).
 *
 * cs-dump reads the parent's pagemap (pm_map_*) to know which pages it
 * holds; cs-restore resolves the whole chain (pc_*) before creating
 * anything and then reads each page from the checkpoint that last wrote it.
 * See checksync-images(5).
 */
#ifndef CS_PAGECHAIN_H
#define CS_PAGECHAIN_H

#include <stddef.h>
#include <stdint.h>

struct InventoryEntry;

/* One image directory's pagemap.img in memory, in address order. */
struct pm_run {
	uint64_t vaddr;		/* bytes, page aligned */
	uint64_t nr;		/* 4 KiB pages */
	uint64_t off;		/* PM_DATA: first page's index in the page stream */
	int type;		/* PM_* of pages.h */
};

struct pm_map {
	struct pm_run *r;
	size_t n;
	uint64_t data_pages;	/* pages in the page stream */
};

/*
 * pm_map_load - read pagemap.img of dirfd into m. Records must be in
 * increasing address order without overlap (corrupt otherwise). Returns 0,
 * or -1 (error logged, naming the image).
 */
int pm_map_load(int dirfd, struct pm_map *m);
/* pm_map_load_as - the same for the process with image suffix sfx (img_pname). */
int pm_map_load_as(int dirfd, const char *sfx, struct pm_map *m);

/* pm_map_find - index of the run holding vaddr, or -1 when m lists no such page. */
long pm_map_find(const struct pm_map *m, uint64_t vaddr);

void pm_map_free(struct pm_map *m);

/* Upper bound on a chain's length (full checkpoint + incrementals). */
#define PC_MAX_DEPTH 1000

struct page_chain;

/*
 * pc_open - the pages of the checkpoint in dirfd (its inventory inv already
 * verified by inventory_load; name is how errors call it). For an
 * incremental checkpoint, follows the `parent` links down to the full
 * checkpoint and refuses, with one error naming the directory and the
 * reason, a chain that is broken: a parent missing or not a directory, its
 * inventory or any image it lists damaged (size or CRC-32C), a parent of
 * another series or process (series ID, root PID, start time), sequence
 * numbers that do not go down by one, or a PM_PARENT page that the parent
 * does not hold. Nothing is created. Returns the chain, or NULL.
 */
struct page_chain *pc_open(int dirfd, const struct InventoryEntry *inv, const char *name);
/*
 * pc_open_as - the pages of the process with image suffix sfx (img_pname)
 * in a checkpoint of a process tree; only the root ("") may have parent
 * checkpoints. NULL on error (logged).
 */
struct page_chain *pc_open_as(int dirfd, const struct InventoryEntry *inv, const char *name, const char *sfx);

/* pc_depth - checkpoints in the chain (1 for a full checkpoint). */
int pc_depth(const struct page_chain *pc);

/*
 * pc_next - the next run of the resolved image: *vaddr, *nr (pages) and
 * *type, PM_DATA, PM_ZERO or PM_DEAD (never PM_PARENT). Runs come grouped by
 * checkpoint, not in address order, and never overlap. For PM_DATA the
 * contents follow through pc_read. Returns 1, 0 at the end, -1 on error.
 */
int pc_next(struct page_chain *pc, uint64_t *vaddr, uint64_t *nr, int *type);

/* pc_read - the next len bytes (a multiple of 4096) of the current PM_DATA run. 0 or -1. */
int pc_read(struct page_chain *pc, void *buf, size_t len);

void pc_close(struct page_chain *pc);

#endif
