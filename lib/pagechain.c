/* Chains of checkpoints: see pagechain.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX ""	/* messages start with "broken chain: " or name the image */
#include "log.h"
#include "util.h"
#include "image.h"
#include "pages.h"
#include "pagechain.h"
#include "imgfeatures.h"
#include "mm.pb-c.h"
#include "inventory.pb-c.h"

int pm_map_load(int dirfd, struct pm_map *m)
{
	return pm_map_load_as(dirfd, "", m);
}

int pm_map_load_as(int dirfd, const char *sfx, struct pm_map *m)
{
	char n[64];
	struct img *img = img_open(dirfd, img_pname(n, sizeof(n), "pagemap", sfx), MAGIC_PAGEMAP);
	uint64_t end = 0;
	int r;

	memset(m, 0, sizeof(*m));
	if (!img)
		return -1;
	for (;;) {
		PagemapEntry *pe;
		struct pm_run *run;

		r = img_read_msg(img, &pagemap_entry__descriptor, (ProtobufCMessage **)&pe);
		if (r <= 0)
			break;
		if (!(m->n & 1023)) {
			struct pm_run *a = xrealloc(m->r, (m->n + 1024) * sizeof(*a));

			if (!a) {
				pagemap_entry__free_unpacked(pe, NULL);
				r = -1;
				break;
			}
			m->r = a;
		}
		run = &m->r[m->n];
		run->vaddr = pe->vaddr;
		run->nr = pe->nr_pages;
		run->type = pe->type;
		run->off = m->data_pages;
		pagemap_entry__free_unpacked(pe, NULL);
		if ((run->vaddr & (PAGE_SIZE - 1)) || !run->nr || run->type < PM_DATA || run->type > PM_PARENT ||
		    run->vaddr < end || run->nr > (UINT64_MAX - run->vaddr) / PAGE_SIZE) {
			r = pr_err("pagemap.img: corrupt or unordered record at %#llx", (unsigned long long)run->vaddr);
			break;
		}
		end = run->vaddr + run->nr * PAGE_SIZE;
		if (run->type == PM_DATA)
			m->data_pages += run->nr;
		m->n++;
	}
	img_free(img);
	if (r < 0) {
		pm_map_free(m);
		return -1;
	}
	return 0;
}

long pm_map_find(const struct pm_map *m, uint64_t vaddr)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct pm_run *r = &m->r[mid];

		if (vaddr < r->vaddr)
			hi = mid;
		else if (vaddr >= r->vaddr + r->nr * PAGE_SIZE)
			lo = mid + 1;
		else
			return mid;
	}
	return -1;
}

void pm_map_free(struct pm_map *m)
{
	free(m->r);
	memset(m, 0, sizeof(*m));
}

/* A run of the resolved image, taken from checkpoint `level` (0: the newest). */
struct seg {
	uint64_t vaddr, nr, off;
	int type, level;
};

struct level {
	int dirfd;		/* level 0: the caller's, not closed here */
	char name[512];		/* for messages */
	struct pm_map map;
};

struct page_chain {
	struct level *lv;
	int depth;
	struct seg *seg;
	size_t nseg, cur;
	struct page_reader *pr;	/* page stream of level pr_level */
	int pr_level;
	uint64_t pos;		/* pages consumed from that stream */
	char sfx[24];		/* image suffix of level 0 (img_pname) */
};

static int add_seg(struct page_chain *pc, uint64_t vaddr, uint64_t nr, uint64_t off, int type, int level)
{
	if (!(pc->nseg & 1023)) {
		struct seg *a = xrealloc(pc->seg, (pc->nseg + 1024) * sizeof(*a));

		if (!a)
			return -1;
		pc->seg = a;
	}
	pc->seg[pc->nseg++] = (struct seg){ vaddr, nr, off, type, level };
	return 0;
}

/* Pages [vaddr, vaddr + nr pages) are "in parent" of level-1: find each in level. */
static int resolve(struct page_chain *pc, int level, uint64_t vaddr, uint64_t nr)
{
	struct level *l = &pc->lv[level];

	while (nr) {
		long i = pm_map_find(&l->map, vaddr);
		const struct pm_run *r;
		uint64_t skip, n;

		if (i < 0)
			return pr_err("broken chain: %s says page %#llx is unchanged since its parent, but the parent %s "
				      "does not hold it", pc->lv[level - 1].name, (unsigned long long)vaddr, l->name);
		r = &l->map.r[i];
		skip = (vaddr - r->vaddr) / PAGE_SIZE;
		n = r->nr - skip < nr ? r->nr - skip : nr;
		if (r->type == PM_PARENT) {
			if (level + 1 >= pc->depth)
				return pr_err("broken chain: %s lists pages in a parent but has none", l->name);
			if (resolve(pc, level + 1, vaddr, n))
				return -1;
		} else if (add_seg(pc, vaddr, n, r->off + skip, r->type, level)) {
			return -1;
		}
		vaddr += n * PAGE_SIZE;
		nr -= n;
	}
	return 0;
}

static int seg_cmp(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;

	if (x->level != y->level)
		return x->level < y->level ? -1 : 1;
	return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

/*
 * Open the parent of the deepest level so far (its inventory is child) as
 * the next level, and check that it is the checkpoint before it in the
 * same series, undamaged.
 */
static int open_parent(struct page_chain *pc, const InventoryEntry *child, InventoryEntry **pinv)
{
	struct level *c = &pc->lv[pc->depth - 1], *p = &pc->lv[pc->depth];
	char link[400], why[512];
	ssize_t ll;
	InventoryEntry *inv;

	ll = readlinkat(c->dirfd, "parent", link, sizeof(link) - 1);
	if (ll < 0)
		return pr_err("broken chain: %s is incremental (seq %u) but has no parent link: %m", c->name, child->seq);
	link[ll] = 0;
	snprintf(p->name, sizeof(p->name), "%s", link);
	p->dirfd = openat(c->dirfd, "parent", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->dirfd < 0)
		return pr_err("broken chain: the parent %s of %s cannot be opened: %m", link, c->name);
	pc->depth++;
	if (inventory_read(p->dirfd, &inv, why, sizeof(why)))
		return pr_err("broken chain: the parent %s of %s is not a checkpoint: %s", link, c->name, why);
	*pinv = inv;
	/* every checkpoint of the chain: a newer cs-dump's parent may hold pages differently */
	if (features_check(inv->features, inv->n_features, inv->tool_version, why, sizeof(why)))
		return pr_err("the parent %s of %s cannot be used: %s", link, c->name, why);
	if (!inv->series || !child->series || strcmp(inv->series, child->series) || inv->root_pid != child->root_pid ||
	    inv->start_time != child->start_time)
		return pr_err("broken chain: the parent %s of %s belongs to another checkpoint series "
			      "(series %s of process %u, want series %s of process %u)", link, c->name,
			      inv->series ? inv->series : "none", inv->root_pid, child->series, child->root_pid);
	if (inv->seq + 1 != child->seq)
		return pr_err("broken chain: the parent %s of %s is checkpoint %u of its series, want %u", link,
			      c->name, inv->seq, child->seq - 1);
	if (inventory_check_images(p->dirfd, inv, "pagemap.img", why, sizeof(why)) ||
	    inventory_check_images(p->dirfd, inv, "pages.img", why, sizeof(why)) ||
	    inventory_check_images(p->dirfd, inv, NULL, why, sizeof(why)))
		return pr_err("broken chain: the parent %s of %s is damaged: %s", link, c->name, why);
	if (pm_map_load(p->dirfd, &p->map))
		return pr_err("broken chain: the pagemap of the parent %s of %s cannot be read", link, c->name);
	return 0;
}

struct page_chain *pc_open(int dirfd, const InventoryEntry *inv0, const char *name)
{
	return pc_open_as(dirfd, inv0, name, "");
}

struct page_chain *pc_open_as(int dirfd, const InventoryEntry *inv0, const char *name, const char *sfx)
{
	struct page_chain *pc = xzalloc(sizeof(*pc));
	const InventoryEntry *inv = inv0;
	InventoryEntry *held = NULL;

	if (!pc)
		return NULL;
	pc->pr_level = -1;
	pc->lv = xzalloc(sizeof(*pc->lv));
	if (!pc->lv)
		goto err;
	pc->lv[0].dirfd = dirfd;
	snprintf(pc->lv[0].name, sizeof(pc->lv[0].name), "%s", name);
	pc->depth = 1;
	snprintf(pc->sfx, sizeof(pc->sfx), "%s", sfx);
	if (pm_map_load_as(dirfd, sfx, &pc->lv[0].map))
		goto err;
	if (inv->seq && sfx[0]) {
		pr_err("%s: an incremental checkpoint of a process tree", name);
		goto err;
	}
	if (inv->seq && !inv->series) {
		pr_err("%s: inventory has a sequence number but no series", name);
		goto err;
	}
	while (inv->seq) {
		InventoryEntry *next = NULL;
		struct level *a;

		if (pc->depth >= PC_MAX_DEPTH) {
			pr_err("broken chain: more than %d checkpoints below %s", PC_MAX_DEPTH, name);
			goto err;
		}
		a = xrealloc(pc->lv, (pc->depth + 1) * sizeof(*a));
		if (!a)
			goto err;
		pc->lv = a;
		memset(&pc->lv[pc->depth], 0, sizeof(*a));
		pc->lv[pc->depth].dirfd = -1;
		if (open_parent(pc, inv, &next)) {
			if (next)
				inventory_entry__free_unpacked(next, NULL);
			goto err;
		}
		if (held)
			inventory_entry__free_unpacked(held, NULL);
		held = next;
		inv = next;
	}
	if (held)
		inventory_entry__free_unpacked(held, NULL);
	held = NULL;
	if (pc->depth > 1)
		pr_info("%s: a chain of %d checkpoints", name, pc->depth);

	for (size_t i = 0; i < pc->lv[0].map.n; i++) {
		const struct pm_run *r = &pc->lv[0].map.r[i];

		if (r->type != PM_PARENT) {
			if (add_seg(pc, r->vaddr, r->nr, r->off, r->type, 0))
				goto err;
		} else if (pc->depth < 2) {
			pr_err("%s: pagemap.img lists pages in a parent, but it is a full checkpoint", name);
			goto err;
		} else if (resolve(pc, 1, r->vaddr, r->nr)) {
			goto err;
		}
	}
	qsort(pc->seg, pc->nseg, sizeof(*pc->seg), seg_cmp);
	return pc;
err:
	if (held)
		inventory_entry__free_unpacked(held, NULL);
	pc_close(pc);
	return NULL;
}

int pc_depth(const struct page_chain *pc)
{
	return pc->depth;
}

int pc_next(struct page_chain *pc, uint64_t *vaddr, uint64_t *nr, int *type)
{
	struct seg *s;

	if (pc->cur == pc->nseg)
		return 0;
	s = &pc->seg[pc->cur++];
	*vaddr = s->vaddr;
	*nr = s->nr;
	*type = s->type;
	if (s->type != PM_DATA)
		return 1;
	if (pc->pr_level != s->level) {
		pr_close(pc->pr);
		pc->pr = pr_open_as(pc->lv[s->level].dirfd, s->level ? "" : pc->sfx);
		if (!pc->pr)
			return pr_err("cannot read the pages of %s", pc->lv[s->level].name);
		pc->pr_level = s->level;
		pc->pos = 0;
	}
	/* segments of one level come in stream order: skip what later ones replaced */
	if (s->off < pc->pos)
		return pr_err("%s: page stream out of order at %#llx", pc->lv[s->level].name,
			      (unsigned long long)s->vaddr);
	if (s->off > pc->pos) {
		if (pr_skip(pc->pr, (s->off - pc->pos) * PAGE_SIZE))
			return -1;
		pc->pos = s->off;
	}
	return 1;
}

int pc_read(struct page_chain *pc, void *buf, size_t len)
{
	if (!pc->pr || pr_read(pc->pr, buf, len))
		return -1;
	pc->pos += len / PAGE_SIZE;
	return 0;
}

void pc_close(struct page_chain *pc)
{
	if (!pc)
		return;
	pr_close(pc->pr);
	for (int l = 0; pc->lv && l < pc->depth; l++) {
		if (l && pc->lv[l].dirfd >= 0)
			close(pc->lv[l].dirfd);
		pm_map_free(&pc->lv[l].map);
	}
	free(pc->lv);
	free(pc->seg);
	free(pc);
}
