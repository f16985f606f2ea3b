/*
 * Control groups (--manage-cgroups, --cgroup-root): put every process of
 * the tree back into the cgroups cgroup.img names, in each hierarchy
 * mounted here, as CRIU does.
 *
 * All the work that can fail is done in the check phase, before any
 * process exists: each cgroup missing here is created (with the limits
 * saved for it; under "full" the existing ones get theirs too), and a
 * throw-away child of ours joins every target cgroup once, so that a
 * cgroup that cannot be joined (no permission, v2 "no internal processes",
 * a v1 cpuset without CPUs) is refused by name. Each stub then joins its
 * cgroups itself, first thing after it is forked and before it maps or
 * touches the saved memory, so that memory is charged there (a task's
 * pages are charged to the memory cgroup it is in when it faults them).
 * Threads whose cgroups differ are moved once they exist. A failed
 * restore removes the cgroups it created, once its processes are gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define LOG_PREFIX "cgroup: "
#include "log.h"
#include "util.h"
#include "cgroup.h"
#include "restore.h"
#include "cgroup.pb-c.h"

struct cg_root {
	char *ctrl;		/* NULL: every hierarchy without one of its own */
	char *path;
};
static struct cg_root *roots;
static size_t nr_roots;

static CgroupEntry *cg;		/* cgroup.img; NULL: none, or --manage-cgroups=ignore */
static char **target;		/* per dir of cg: its directory here, NULL: left alone */
static char **made;		/* directories we created, in creation order */
static size_t nr_made;

int cgroup_parse_mode(const char *arg, int *mode)
{
	if (!arg || !strcmp(arg, "soft"))
		*mode = CG_SOFT;
	else if (!strcmp(arg, "full"))
		*mode = CG_FULL;
	else if (!strcmp(arg, "ignore") || !strcmp(arg, "none"))
		*mode = CG_IGNORE;
	else {
		fprintf(stderr, "cs-restore: invalid --manage-cgroups mode '%s' (soft, full, ignore or none)\n", arg);
		return -1;
	}
	return 0;
}

static int sane_path(const char *p);

int cgroup_parse_root(const char *arg)
{
	const char *colon = strchr(arg, ':'), *path = arg;
	struct cg_root *a;
	char *ctrl = NULL;

	if (*arg != '/') {
		if (!colon || colon == arg || colon[1] != '/') {
			fprintf(stderr, "cs-restore: invalid --cgroup-root '%s' ([CONTROLLER:]PATH, PATH absolute)\n",
				arg);
			return -1;
		}
		ctrl = strndup(arg, colon - arg);
		path = colon + 1;
	}
	a = realloc(roots, (nr_roots + 1) * sizeof(*a));
	if (!a)
		return -1;
	roots = a;
	roots[nr_roots].ctrl = ctrl;
	roots[nr_roots].path = strdup(path);
	if (!roots[nr_roots].path)
		return -1;
	/* "/a/b/" and "/a/b" are one cgroup */
	for (size_t l = strlen(roots[nr_roots].path); l > 1 && roots[nr_roots].path[l - 1] == '/'; l--)
		roots[nr_roots].path[l - 1] = 0;
	if (!sane_path(roots[nr_roots].path)) {
		fprintf(stderr, "cs-restore: invalid --cgroup-root '%s' (a component is empty, . or ..)\n", arg);
		return -1;
	}
	nr_roots++;
	return 0;
}

/* "memory:/a/b", "unified:/a/b": how messages name a cgroup. */
static const char *hname(uint32_t h)
{
	const char *s = cg->hierarchies[h];

	return *s ? s : "unified";
}

/* Whether --cgroup-root controller r names hierarchy h. */
static int root_names(const char *r, uint32_t h)
{
	const char *ctrl = cg->hierarchies[h];

	if (!*ctrl)
		return !strcmp(r, "unified");
	for (const char *p = ctrl; *p;) {
		size_t l = strcspn(p, ",");

		if (l == strlen(r) && !strncmp(p, r, l))
			return 1;
		p += l + (p[l] == ',');
	}
	return 0;
}

/* The --cgroup-root for hierarchy h: one naming a controller of it
 * (*named set), else the default. */
static const char *root_for(uint32_t h, int *named)
{
	const char *def = NULL;

	*named = 0;
	for (size_t i = 0; i < nr_roots; i++) {
		if (!roots[i].ctrl)
			def = roots[i].path;
		else if (root_names(roots[i].ctrl, h)) {
			*named = 1;
			return roots[i].path;
		}
	}
	return def;
}

/* Every --cgroup-root CONTROLLER names a hierarchy of the images. */
static int check_roots(void)
{
	for (size_t i = 0; i < nr_roots; i++) {
		uint32_t h = 0;

		while (roots[i].ctrl && h < cg->n_hierarchies && !root_names(roots[i].ctrl, h))
			h++;
		if (roots[i].ctrl && h == cg->n_hierarchies)
			return pr_err("--cgroup-root %s:%s: the dumped processes were in no hierarchy with "
				      "controller %s", roots[i].ctrl, roots[i].path, roots[i].ctrl);
	}
	return 0;
}

/* The deepest cgroup that holds every member's cgroup in hierarchy h. */
static char *common_base(uint32_t h)
{
	char *base = NULL;

	for (size_t i = 0; i < cg->n_members; i++) {
		const char *p = cg->dirs[cg->members[i]->dirs[h]]->path;
		size_t l;

		if (!base) {
			base = xstrdup(p);
			if (!base)
				return NULL;
			continue;
		}
		/* shorten base to a prefix of p that ends at a '/' boundary */
		for (;;) {
			l = strlen(base);
			if (!strcmp(base, "/") ||
			    (!strncmp(p, base, l) && (p[l] == 0 || p[l] == '/')))
				break;
			*strrchr(base, '/') = 0;
			if (!*base) {
				base[0] = '/';	/* base held "/x" at least */
				base[1] = 0;
			}
		}
	}
	return base;
}

/* path (under base) moved under root: a new string, or NULL when it is not under base. */
static char *rebase(const char *path, const char *base, const char *root)
{
	size_t bl = strcmp(base, "/") ? strlen(base) : 0;
	const char *rest;
	char *out;
	size_t n;

	if (strncmp(path, base, bl) || (path[bl] && path[bl] != '/'))
		return NULL;
	if (bl == 0 && !strcmp(path, "/"))
		rest = "";
	else
		rest = path + bl;
	n = strlen(root) + strlen(rest) + 2;
	out = xmalloc(n);
	if (out)
		snprintf(out, n, "%s%s", strcmp(root, "/") || !*rest ? root : "", rest);
	return out;
}

static int is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int remember(const char *dir)
{
	char **a = xrealloc(made, (nr_made + 1) * sizeof(*a));

	if (!a)
		return -1;
	made = a;
	if (!(made[nr_made] = xstrdup(dir)))
		return -1;
	nr_made++;
	return 0;
}

/*
 * A new v1 cpuset cgroup has no CPU and no memory node, and takes no task
 * until it has both (cgroup-v1/cpusets.rst): start it with its parent's,
 * as cgroup.clone_children would; saved values are written after this.
 * A v2 cpuset uses its parent's while its own are empty.
 */
static int cpuset_inherit(const char *name, const char *dir)
{
	static const char *const f[] = { "cpuset.cpus", "cpuset.mems" };
	char v[4096], parent[4096], *sl;

	snprintf(parent, sizeof(parent), "%s", dir);
	sl = strrchr(parent, '/');
	if (!sl)
		return 0;
	*sl = 0;
	for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
		if (cg_read_value(dir, "cgroup.controllers", v, sizeof(v)) == 0 ||
		    cg_read_value(dir, f[i], v, sizeof(v)) || *v)
			continue;	/* v2, not a cpuset hierarchy, or set */
		if (cg_read_value(parent, f[i], v, sizeof(v)) || cg_write_value(dir, f[i], v))
			return pr_err("cannot give the new cgroup %s the %s of its parent: %m", name, f[i]);
	}
	return 0;
}

/* mkdir dir and any missing parent (a --cgroup-root of its own), each remembered. */
static int make_dir(const char *name, const char *dir)
{
	char *p = xstrdup(dir);

	if (!p)
		return -1;
	for (char *s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
		if (s)
			*s = 0;
		if (!is_dir(p)) {
			if (mkdir(p, 0755)) {
				pr_err("cannot create cgroup %s (mkdir %s): %m", name, p);
				free(p);
				return -1;
			}
			if (remember(p) || cpuset_inherit(name, p)) {
				free(p);
				return -1;
			}
			pr_info("created %s", p);
		}
		if (!s)
			break;
		*s = '/';
	}
	free(p);
	return 0;
}

static int set_limits(const char *name, const char *dir, const CgroupDir *d)
{
	for (size_t i = 0; i < d->n_limits; i++) {
		const CgroupLimit *l = d->limits[i];
		char path[4096];

		if (cg_write_value(dir, l->name, l->value) == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, l->name);
		if (errno == ENOENT && access(path, F_OK))
			return pr_err("cannot give cgroup %s its %s %s: no %s here (the controller is not "
				      "enabled for it)", name, l->name, l->value, path);
		return pr_err("cannot give cgroup %s its %s %s (%s): %m", name, l->name, l->value, path);
	}
	return 0;
}

/* A new v2 cgroup: threaded if it was, its limits, the controllers for its children. */
static int shape_new(const char *name, const char *dir, const CgroupDir *d, int v2)
{
	if (v2 && d->type && !strcmp(d->type, "threaded") && cg_write_value(dir, "cgroup.type", "threaded"))
		return pr_err("cannot make cgroup %s threaded: %m", name);
	if (set_limits(name, dir, d))
		return -1;
	if (v2 && d->subtree_control) {
		char buf[512] = "";

		/* "memory pids" as read, "+memory +pids" to write */
		for (const char *w = d->subtree_control; *w;) {
			size_t k = strcspn(w, " "), l = strlen(buf);

			if (k)
				snprintf(buf + l, sizeof(buf) - l, "%s+%.*s", l ? " " : "", (int)k, w);
			w += k + (w[k] == ' ');
		}
		if (*buf && cg_write_value(dir, "cgroup.subtree_control", buf))
			return pr_err("cannot enable controllers '%s' in cgroup %s: %m", d->subtree_control, name);
	}
	return 0;
}

/* An absolute cgroup path without empty, "." or ".." components: a path
 * from the images must not lead out of the cgroup file system. */
static int sane_path(const char *p)
{
	if (p[0] != '/')
		return 0;
	if (!strcmp(p, "/"))
		return 1;
	for (const char *s = p + 1;;) {
		size_t l = strcspn(s, "/");

		if (!l || (l == 1 && s[0] == '.') || (l == 2 && s[0] == '.' && s[1] == '.'))
			return 0;
		s += l;
		if (!*s)
			return 1;
		s++;
	}
}

/* A limit the dump saves (and nothing else: the name is a file written to). */
static int known_limit(const char *name)
{
	for (size_t i = 0; cg_limit_files[i]; i++)
		if (!strcmp(cg_limit_files[i], name))
			return 1;
	return 0;
}

static int load(struct rst_ctx *c)
{
	struct img *img;
	int r;

	if (!img_listed("cgroup.img"))
		return 0;
	img = img_open(c->dirfd, "cgroup.img", MAGIC_CGROUP);
	if (!img)
		return -1;
	r = img_read_msg(img, &cgroup_entry__descriptor, (ProtobufCMessage **)&cg);
	img_free(img);
	if (r <= 0)
		return r < 0 ? -1 : pr_err("image cgroup.img is empty");
	for (size_t i = 0; i < cg->n_dirs; i++) {
		CgroupDir *d = cg->dirs[i];

		if (d->hier >= cg->n_hierarchies || !sane_path(d->path))
			return pr_err("cgroup.img is corrupt: cgroup %zu", i);
		for (size_t k = 0; k < d->n_limits; k++)
			if (!known_limit(d->limits[k]->name) || strchr(d->limits[k]->value, '\n'))
				return pr_err("cgroup.img is corrupt: limit %zu of cgroup %s", k, d->path);
	}
	for (size_t i = 0; i < cg->n_hierarchies; i++)
		if (strchr(cg->hierarchies[i], '/') || strchr(cg->hierarchies[i], ':'))
			return pr_err("cgroup.img is corrupt: hierarchy %zu", i);
	for (size_t i = 0; i < cg->n_members; i++) {
		CgroupMember *m = cg->members[i];

		if (m->proc >= c->tree->nr || c->tree->p[m->proc]->proc->zombie || m->n_dirs != cg->n_hierarchies ||
		    (m->has_thread && m->thread >= c->tree->p[m->proc]->proc->n_threads))
			return pr_err("cgroup.img is corrupt: member %u", m->pid);
		for (size_t h = 0; h < m->n_dirs; h++)
			if (m->dirs[h] >= cg->n_dirs || cg->dirs[m->dirs[h]]->hier != h)
				return pr_err("cgroup.img is corrupt: member %u", m->pid);
	}
	return 0;
}

/* Where each dir of hierarchy h goes here (target[]), or nothing to do in h. */
static int map_hierarchy(uint32_t h)
{
	int named, all_root = 1;
	const char *root = root_for(h, &named);
	char *base = NULL;

	for (size_t i = 0; i < cg->n_members; i++)
		all_root &= !strcmp(cg->dirs[cg->members[i]->dirs[h]]->path, "/");
	if (root) {
		base = common_base(h);
		if (!base)
			return -1;
		pr_info("%s: %s and below go to %s", hname(h), base, root);
	}
	for (size_t i = 0; i < cg->n_dirs; i++) {
		CgroupDir *d = cg->dirs[i];
		char *path = root ? rebase(d->path, base, root) : xstrdup(d->path);

		if (d->hier != h || !path) {
			free(path);
			continue;
		}
		target[i] = cg_dir(cg->hierarchies[h], path);
		if (!target[i]) {
			int e = errno;

			/* a default --cgroup-root is for the hierarchies there are */
			if (e == ENOENT && all_root && !named) {
				pr_info("%s: not mounted here; every process was in its root", hname(h));
				free(path);
				free(base);
				return 0;
			}
			pr_err("cannot restore into cgroup %s:%s: %s", hname(h), path,
			       e == ENOENT ? "that hierarchy is not mounted here" :
			       e == EXDEV ? "outside what its mount here shows" : strerror(e));
			free(path);
			free(base);
			return -1;
		}
		free(path);
	}
	free(base);
	return 0;
}

/* Create what is missing (with its limits), and under "full" set the limits of what exists. */
static int make_dirs(int mode)
{
	for (size_t i = 0; i < cg->n_dirs; i++) {
		CgroupDir *d = cg->dirs[i];
		char name[4200];
		int v2 = cg_is_v2(cg->hierarchies[d->hier]);

		if (!target[i])
			continue;
		snprintf(name, sizeof(name), "%s:%s", hname(d->hier), d->path);
		if (is_dir(target[i])) {
			if (mode == CG_FULL && set_limits(name, target[i], d))
				return -1;
			continue;
		}
		if (make_dir(name, target[i]) || shape_new(name, target[i], d, v2))
			return -1;
	}
	return 0;
}

static const char *join_file(const CgroupMember *m, uint32_t h)
{
	if (!m->has_thread)
		return "cgroup.procs";
	return cg_is_v2(cg->hierarchies[h]) ? "cgroup.threads" : "tasks";
}

/* Whether member m must be moved in hierarchy h: a thread only where it differs from its process. */
static int must_join(const CgroupMember *m, uint32_t h)
{
	if (!target[m->dirs[h]])
		return 0;
	if (!m->has_thread)
		return 1;
	for (size_t i = 0; i < cg->n_members; i++)
		if (cg->members[i]->proc == m->proc && !cg->members[i]->has_thread)
			return cg->members[i]->dirs[h] != m->dirs[h];
	return 1;
}

/*
 * A child of ours joins every target cgroup once, the way the stubs will,
 * and exits: a cgroup that refuses it is named before any process exists.
 * A v2 thread target is not tried (only a thread of the process can join).
 */
static int probe_joins(void)
{
	int p[2], st;
	char msg[600];
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return pr_perror("cannot create a pipe");
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return pr_perror("cannot fork the cgroup probe");
	}
	if (pid == 0) {
		close(p[0]);
		for (size_t i = 0; i < cg->n_members; i++) {
			CgroupMember *m = cg->members[i];

			for (uint32_t h = 0; h < cg->n_hierarchies; h++) {
				CgroupDir *d = cg->dirs[m->dirs[h]];

				if (!must_join(m, h))
					continue;
				if (m->has_thread && cg_is_v2(cg->hierarchies[h])) {
					char t[64];

					/* only a threaded cgroup holds one thread of a process */
					if (cg_read_value(target[m->dirs[h]], "cgroup.type", t, sizeof(t)) == 0 &&
					    strcmp(t, "threaded")) {
						snprintf(msg, sizeof(msg), "cannot put thread %u in cgroup %s:%s: "
							 "it is not threaded here (cgroup.type %s)", m->pid, hname(h),
							 d->path, t);
						if (write(p[1], msg, strlen(msg)) < 0)
							_exit(3);
						_exit(1);
					}
					continue;
				}
				if (cg_write_value(target[m->dirs[h]], join_file(m, h), "0")) {
					snprintf(msg, sizeof(msg), "cannot join cgroup %s:%s (%s/%s) for %s %u: %m",
						 hname(h), d->path, target[m->dirs[h]], join_file(m, h),
						 m->has_thread ? "thread" : "process", m->pid);
					if (write(p[1], msg, strlen(msg)) < 0)
						_exit(3);
					_exit(1);
				}
			}
		}
		_exit(0);
	}
	close(p[1]);
	n = read(p[0], msg, sizeof(msg) - 1);
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (n > 0) {
		msg[n] = 0;
		return pr_err("%s", msg);
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return pr_err("the cgroup probe %d failed (status %#x)", pid, st);
	return 0;
}

int cgroup_prepare(struct rst_ctx *c, int mode)
{
	if (mode == CG_IGNORE) {
		if (img_listed("cgroup.img"))
			pr_info("--manage-cgroups=%s: the processes stay in our cgroups", "ignore");
		return 0;
	}
	if (load(c))
		return -1;
	if (!cg) {
		if (nr_roots)
			pr_warn("--cgroup-root: the images hold no cgroups (an older dump): nothing to do");
		return 0;
	}
	target = xzalloc(cg->n_dirs * sizeof(*target));
	if (!target || check_roots())
		return -1;
	for (uint32_t h = 0; h < cg->n_hierarchies; h++)
		if (map_hierarchy(h))
			return -1;
	if (make_dirs(mode) || cs_fault("cgroup") || probe_joins())
		return -1;
	pr_info("%zu cgroups created", nr_made);
	return 0;
}

int stub_cgroup_join(struct rst_ctx *c, char *err, size_t len)
{
	for (size_t i = 0; cg && i < cg->n_members; i++) {
		CgroupMember *m = cg->members[i];

		if (m->proc != c->idx || m->has_thread)
			continue;
		for (uint32_t h = 0; h < cg->n_hierarchies; h++)
			if (must_join(m, h) && cg_write_value(target[m->dirs[h]], "cgroup.procs", "0")) {
				snprintf(err, len, "process %u: cannot join cgroup %s:%s: %m", c->proc->pid, hname(h),
					 cg->dirs[m->dirs[h]]->path);
				return -1;
			}
	}
	return 0;
}

int restore_cgroup_threads(struct rst_ctx *c)
{
	for (size_t i = 0; cg && i < cg->n_members; i++) {
		CgroupMember *m = cg->members[i];
		pid_t tid;
		char v[16];

		if (m->proc != c->idx || !m->has_thread)
			continue;
		tid = c->proc->threads[m->thread];
		if (c->pidns && !(tid = pidns_host_tid(c, tid)))
			return -1;
		snprintf(v, sizeof(v), "%d", tid);
		for (uint32_t h = 0; h < cg->n_hierarchies; h++)
			if (must_join(m, h) && cg_write_value(target[m->dirs[h]], join_file(m, h), v))
				return pr_err("thread %u of process %u: cannot join cgroup %s:%s: %m",
					      c->proc->threads[m->thread], c->proc->pid, hname(h),
					      cg->dirs[m->dirs[h]]->path);
	}
	return 0;
}

void cgroup_undo(void)
{
	/* the newest first: children before their parents */
	while (nr_made) {
		char *d = made[--nr_made];
		int tries = 0;

		/* a killed task leaves its cgroups a moment after it is reaped */
		while (rmdir(d) && errno == EBUSY && tries++ < 200)
			usleep(10000);
		if (is_dir(d))
			pr_warn("cannot remove cgroup directory %s that this restore created: %m", d);
		else
			pr_info("removed %s", d);
		free(d);
	}
}
