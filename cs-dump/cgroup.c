/*
 * Control groups (cgroup.img): which cgroups each process of the tree is
 * in, in every hierarchy (cgroups(7): /proc/PID/cgroup), each thread whose
 * groups differ from its process's (v2 threaded cgroups, v1 per-thread
 * tasks), and the limits of those cgroups and of their ancestors, so that
 * cs-restore can recreate them where they are missing (another host).
 * Membership is read while the tree is frozen (one file per task); the
 * limits when the images are written, after a -R dump has let it run.
 */
#include <errno.h>
#include <string.h>
#include <stdlib.h>

#define LOG_PREFIX "cgroup: "
#include "log.h"
#include "util.h"
#include "cgroup.h"
#include "dump.h"
#include "cgroup.pb-c.h"

static CgroupEntry cg = CGROUP_ENTRY__INIT;

static int hier_of(const char *ctrl)
{
	char **a;

	for (size_t i = 0; i < cg.n_hierarchies; i++)
		if (!strcmp(cg.hierarchies[i], ctrl))
			return (int)i;
	a = xrealloc(cg.hierarchies, (cg.n_hierarchies + 1) * sizeof(*a));
	if (!a)
		return -1;
	cg.hierarchies = a;
	if (!(a[cg.n_hierarchies] = xstrdup(ctrl)))
		return -1;
	return (int)cg.n_hierarchies++;
}

static int add_limit(CgroupDir *d, const char *name, const char *value)
{
	CgroupLimit *l = xmalloc(sizeof(*l)), **a;

	if (!l)
		return -1;
	cgroup_limit__init(l);
	l->name = xstrdup(name);
	l->value = xstrdup(value);
	a = xrealloc(d->limits, (d->n_limits + 1) * sizeof(*a));
	if (!a || !l->name || !l->value)
		return -1;
	d->limits = a;
	a[d->n_limits++] = l;
	return 0;
}

/* What a new cgroup needs to look like this one: its limits, v2 type and subtree controllers. */
static int read_dir_state(CgroupDir *d, const char *ctrl)
{
	char *dir = cg_dir(ctrl, d->path), v[256];

	if (!dir) {
		pr_info("%s:%s: hierarchy not mounted here, its limits are not saved", ctrl, d->path);
		return 0;
	}
	for (size_t i = 0; strcmp(d->path, "/") && cg_limit_files[i]; i++)
		if (cg_read_value(dir, cg_limit_files[i], v, sizeof(v)) == 0 && *v && add_limit(d, cg_limit_files[i], v))
			goto fail;
	if (cg_is_v2(ctrl) && strcmp(d->path, "/")) {
		if (cg_read_value(dir, "cgroup.type", v, sizeof(v)) == 0 && strcmp(v, "domain") &&
		    !(d->type = xstrdup(v)))
			goto fail;
		if (cg_read_value(dir, "cgroup.subtree_control", v, sizeof(v)) == 0 && *v &&
		    !(d->subtree_control = xstrdup(v)))
			goto fail;
	}
	free(dir);
	return 0;
fail:
	free(dir);
	return -1;
}

/* The dir of (hier, path), added with its ancestors when new. */
static int dir_of(int hier, const char *path)
{
	CgroupDir *d, **a;
	char *parent;

	for (size_t i = 0; i < cg.n_dirs; i++)
		if (cg.dirs[i]->hier == (uint32_t)hier && !strcmp(cg.dirs[i]->path, path))
			return (int)i;
	/* ancestors first: cs-restore creates them in this order */
	if (strcmp(path, "/")) {
		char *s;
		int r;

		parent = xstrdup(path);
		if (!parent)
			return -1;
		s = strrchr(parent, '/');
		if (s == parent)
			s[1] = 0;
		else if (s)
			*s = 0;
		r = dir_of(hier, parent);
		free(parent);
		if (r < 0)
			return -1;
	}
	d = xmalloc(sizeof(*d));
	a = xrealloc(cg.dirs, (cg.n_dirs + 1) * sizeof(*a));
	if (!d || !a)
		return -1;
	cg.dirs = a;
	cgroup_dir__init(d);
	d->hier = hier;
	d->path = xstrdup(path);
	a[cg.n_dirs++] = d;
	if (!d->path)
		return -1;
	return (int)cg.n_dirs - 1;
}

/* The dir index of each hierarchy for lines l, into a new array (one per hierarchy known so far). */
static uint32_t *dirs_of(struct cg_line *l, size_t nr, size_t *n_out)
{
	uint32_t *dirs;

	for (size_t i = 0; i < nr; i++)
		if (hier_of(l[i].ctrl) < 0)
			return NULL;
	dirs = xmalloc(cg.n_hierarchies * sizeof(*dirs));
	if (!dirs)
		return NULL;
	for (size_t h = 0; h < cg.n_hierarchies; h++) {
		int d = -1;

		for (size_t i = 0; i < nr && d < 0; i++)
			if (!strcmp(l[i].ctrl, cg.hierarchies[h]))
				d = dir_of((int)h, l[i].path);
		if (d < 0) {
			/* a hierarchy that only another task showed: not in this one's list */
			d = dir_of((int)h, "/");
			if (d < 0) {
				free(dirs);
				return NULL;
			}
		}
		dirs[h] = d;
	}
	*n_out = cg.n_hierarchies;
	return dirs;
}

static int add_member(uint32_t proc, int thread, uint32_t pid, uint32_t *dirs, size_t n)
{
	CgroupMember *m = xmalloc(sizeof(*m)), **a = xrealloc(cg.members, (cg.n_members + 1) * sizeof(*a));

	if (!m || !a) {
		free(m);
		return -1;
	}
	cg.members = a;
	cgroup_member__init(m);
	m->proc = proc;
	if (thread >= 0) {
		m->has_thread = 1;
		m->thread = thread;
	}
	m->pid = pid;
	m->dirs = dirs;
	m->n_dirs = n;
	a[cg.n_members++] = m;
	return 0;
}

static int same_lines(struct cg_line *a, size_t na, struct cg_line *b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i].ctrl, b[i].ctrl) || strcmp(a[i].path, b[i].path))
			return 0;
	return 1;
}

int dump_cgroups(struct dump_tree *t)
{
	for (size_t i = 0; i < t->nr; i++) {
		struct dump_ctx *c = t->n[i].c;
		struct cg_line *pl;
		size_t np, nd;
		uint32_t *dirs;

		if (!c)
			continue;	/* a zombie is in no cgroup that matters */
		if (cg_read(c->pid, 0, &pl, &np))
			return pr_perror("cannot read the cgroups of process %d", c->pid);
		dirs = dirs_of(pl, np, &nd);
		if (!dirs || add_member(i, -1, c->pid, dirs, nd)) {
			cg_free(pl, np);
			return -1;
		}
		for (int k = 1; k < c->pt.nr; k++) {
			pid_t tid = c->pt.t[k].tid;
			struct cg_line *tl;
			size_t nt;

			if (cg_read(c->pid, tid, &tl, &nt)) {
				cg_free(pl, np);
				return pr_perror("cannot read the cgroups of thread %d of process %d", tid, c->pid);
			}
			if (!same_lines(pl, np, tl, nt)) {
				pr_info("thread %d of process %d is in cgroups of its own", tid, c->pid);
				dirs = dirs_of(tl, nt, &nd);
				if (!dirs || add_member(i, k, tid, dirs, nd)) {
					cg_free(tl, nt);
					cg_free(pl, np);
					return -1;
				}
			}
			cg_free(tl, nt);
		}
		cg_free(pl, np);
	}
	/* a member listed before a hierarchy was first seen: the root there */
	for (size_t i = 0; i < cg.n_members; i++) {
		CgroupMember *m = cg.members[i];

		if (m->n_dirs < cg.n_hierarchies) {
			uint32_t *a = xrealloc(m->dirs, cg.n_hierarchies * sizeof(*a));

			if (!a)
				return -1;
			m->dirs = a;
			for (size_t h = m->n_dirs; h < cg.n_hierarchies; h++) {
				int d = dir_of((int)h, "/");

				if (d < 0)
					return -1;
				a[h] = d;
			}
			m->n_dirs = cg.n_hierarchies;
		}
	}
	pr_info("%zu hierarchies, %zu cgroups, %zu members", cg.n_hierarchies, cg.n_dirs, cg.n_members);
	return 0;
}

int write_cgroups(struct dump_ctx *c)
{
	struct img *img;

	if (!cg.n_members)
		return 0;
	/* the limits need no freeze: with -R the tree runs again by now */
	for (size_t i = 0; i < cg.n_dirs; i++)
		if (read_dir_state(cg.dirs[i], cg.hierarchies[cg.dirs[i]->hier]))
			return -1;
	img = img_create(c->dirfd, "cgroup.img", MAGIC_CGROUP);
	if (!img)
		return -1;
	if (img_write_msg(img, &cg.base)) {
		img_free(img);
		return -1;
	}
	return img_close(img, &c->sums);
}
