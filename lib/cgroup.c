/*
 * Control groups: /proc/PID/cgroup lines, the mount of each hierarchy,
 * the limit files of a cgroup (lib/cgroup.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "util.h"

const char *const cg_limit_files[] = {
	"cpuset.cpus", "cpuset.mems", "memory.max", "memory.high", "pids.max", "cpu.max", "cpu.weight",
	"memory.limit_in_bytes", "cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us",
	NULL
};

int cg_is_v2(const char *ctrl)
{
	return !*ctrl;
}

void cg_free(struct cg_line *l, size_t nr)
{
	for (size_t i = 0; l && i < nr; i++) {
		free(l[i].ctrl);
		free(l[i].path);
	}
	free(l);
}

int cg_read(pid_t pid, pid_t tid, struct cg_line **out, size_t *nr)
{
	char path[64], *buf, *line, *next;
	struct cg_line *l = NULL;
	size_t n = 0, len;

	if (tid > 0)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/cgroup", pid, tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	buf = read_file_at(AT_FDCWD, path, &len, 1 << 20);
	if (!buf)
		return -1;
	for (line = buf; *line; line = next) {
		char *c1, *c2, *nl = strchr(line, '\n');
		struct cg_line *a;

		next = nl ? nl + 1 : line + strlen(line);
		if (nl)
			*nl = 0;
		/* hierarchy-ID:controller-list:cgroup-path; the path may hold ':' */
		c1 = strchr(line, ':');
		c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = 0;
		a = xrealloc(l, (n + 1) * sizeof(*l));
		if (!a)
			goto fail;
		l = a;
		l[n].ctrl = xstrdup(c1 + 1);
		l[n].path = xstrdup(c2 + 1);
		n++;
		if (!l[n - 1].ctrl || !l[n - 1].path)
			goto fail;
	}
	free(buf);
	*out = l;
	*nr = n;
	return 0;
fail:
	free(buf);
	cg_free(l, n);
	errno = ENOMEM;
	return -1;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo (proc(5)) */
static void unescape(char *s)
{
	char *d = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
		    s[3] <= '7') {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else
			*d++ = *s;
	}
	*d = 0;
}

/* Whether word (len bytes) is one of the comma-separated items of list. */
static int in_list(const char *list, const char *word, size_t len)
{
	for (const char *p = list; *p;) {
		size_t l = strcspn(p, ",");

		if (l == len && !strncmp(p, word, len))
			return 1;
		p += l;
		if (*p)
			p++;
	}
	return 0;
}

/* Whether word is a controller this kernel knows (/proc/cgroups). */
static int known_controller(const char *word, size_t len)
{
	static char *names;	/* ",cpu,memory,...," */
	char w[64];

	if (!names) {
		size_t l;
		char *buf = read_file_at(AT_FDCWD, "/proc/cgroups", &l, 1 << 16), *p, *o;

		if (!buf)
			return 0;
		names = xzalloc(l + 2);
		if (!names) {
			free(buf);
			return 0;
		}
		o = names;
		*o++ = ',';
		for (p = buf; *p;) {
			size_t k = strcspn(p, " \t\n");

			if (*p != '#' && k) {
				memcpy(o, p, k);
				o += k;
				*o++ = ',';
			}
			p += strcspn(p, "\n");
			if (*p)
				p++;
		}
		free(buf);
	}
	if (len + 3 > sizeof(w))
		return 0;
	snprintf(w, sizeof(w), ",%.*s,", (int)len, word);
	return strstr(names, w) != NULL;
}

/* The super options of a v1 mount name exactly the controllers of ctrl. */
static int same_controllers(const char *ctrl, const char *opts)
{
	for (const char *p = ctrl; *p;) {
		size_t l = strcspn(p, ",");

		if (!in_list(opts, p, l))
			return 0;
		p += l;
		if (*p)
			p++;
	}
	for (const char *p = opts; *p;) {
		size_t l = strcspn(p, ",");

		if ((known_controller(p, l) || !strncmp(p, "name=", 5)) && !in_list(ctrl, p, l))
			return 0;
		p += l;
		if (*p)
			p++;
	}
	return 1;
}

char *cg_dir(const char *ctrl, const char *path)
{
	char *buf, *line, *next, *res = NULL;
	size_t len;
	int outside = 0;

	buf = read_file_at(AT_FDCWD, "/proc/self/mountinfo", &len, 16 << 20);
	if (!buf)
		return NULL;
	for (line = buf; *line && !res; line = next) {
		char *f[6], *sep, *fstype, *opts, *p = line, *nl = strchr(line, '\n');
		size_t rl;
		int i;

		next = nl ? nl + 1 : line + strlen(line);
		if (nl)
			*nl = 0;
		for (i = 0; i < 6 && p; i++) {
			f[i] = p;
			p = strchr(p, ' ');
			if (p)
				*p++ = 0;
		}
		sep = p ? strstr(p, "- ") : NULL;
		if (i < 6 || !sep)
			continue;
		fstype = sep + 2;
		p = strchr(fstype, ' ');
		if (!p)
			continue;
		*p++ = 0;
		opts = strchr(p, ' ');	/* after the source */
		if (!opts)
			continue;
		opts++;
		if (cg_is_v2(ctrl) ? strcmp(fstype, "cgroup2") : strcmp(fstype, "cgroup") || !same_controllers(ctrl, opts))
			continue;
		unescape(f[3]);
		unescape(f[4]);
		/* the mount shows the subtree at its root (f[3]) */
		rl = strcmp(f[3], "/") ? strlen(f[3]) : 0;
		if (rl && (strncmp(path, f[3], rl) || (path[rl] && path[rl] != '/'))) {
			outside = 1;
			continue;
		}
		len = strlen(f[4]) + strlen(path + rl) + 2;
		res = xmalloc(len);
		if (res)
			snprintf(res, len, "%s%s", f[4], strcmp(path + rl, "/") ? path + rl : "");
	}
	free(buf);
	if (!res)
		errno = outside ? EXDEV : ENOENT;
	return res;
}

int cg_read_value(const char *dir, const char *name, char *buf, size_t len)
{
	char path[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = 0;
	return 0;
}

int cg_write_value(const char *dir, const char *name, const char *value)
{
	char path[4096];
	ssize_t n;
	int fd, e;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = write(fd, value, strlen(value));
	e = errno;
	close(fd);
	if (n < 0) {
		errno = e;
		return -1;
	}
	return 0;
}
