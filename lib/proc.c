/* /proc parsers: see proc.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define LOG_PREFIX "proc: "
#include "log.h"
#include "util.h"
#include "proc.h"

int vma_has_flag(const struct vma *v, const char *fl)
{
	const char *p = v->vmflags;

	while ((p = strstr(p, fl))) {
		if ((p == v->vmflags || p[-1] == ' ') && (p[2] == ' ' || p[2] == 0))
			return 1;
		p += 2;
	}
	return 0;
}

/* /proc/PID/smaps or /proc/PID/maps (the same lines, without VmFlags and the page counts). */
static struct vma *parse_vmas(pid_t pid, const char *file, int *nr)
{
	char path[64], line[4200];
	struct vma *v = NULL, *cur = NULL;
	int n = 0, cap = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
	f = fopen(path, "re");
	if (!f) {
		pr_perror("cannot open %s", path);
		return NULL;
	}
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e, off, maj, min, ino;
		char perms[8];
		int pos = 0;

		line[strcspn(line, "\n")] = 0;
		if (sscanf(line, "%lx-%lx %7s %lx %lx:%lx %lu %n", &s, &e, perms, &off, &maj, &min, &ino, &pos) >= 7 &&
		    strlen(perms) == 4) {
			if (n == cap) {
				struct vma *nv = xrealloc(v, (cap = cap ? cap * 2 : 64) * sizeof(*v));

				if (!nv)
					goto err;
				v = nv;
			}
			cur = &v[n++];
			memset(cur, 0, sizeof(*cur));
			cur->start = s;
			cur->end = e;
			cur->pgoff = off;
			cur->prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
				    (perms[2] == 'x' ? PROT_EXEC : 0);
			cur->shared = perms[3] == 's';
			cur->dev = maj << 8 | min;
			cur->ino = ino;
			if (pos)
				snprintf(cur->path, sizeof(cur->path), "%s", line + pos);
			continue;
		}
		if (cur && !strncmp(line, "VmFlags:", 8)) {
			char *p = line + 8;

			while (*p == ' ')
				p++;
			snprintf(cur->vmflags, sizeof(cur->vmflags), "%s", p);
		}
	}
	fclose(f);
	*nr = n;
	return v;
err:
	fclose(f);
	free(v);
	return NULL;
}

struct vma *proc_vmas(pid_t pid, int *nr)
{
	return parse_vmas(pid, "smaps", nr);
}

struct vma *proc_maps(pid_t pid, int *nr)
{
	return parse_vmas(pid, "maps", nr);
}

int proc_stat_fields(pid_t pid, unsigned long long out[53])
{
	char path[64], *buf, *p;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	buf = read_file_at(AT_FDCWD, path, NULL, 4096);
	if (!buf) {
		if (errno == ENOENT || errno == ESRCH)
			return -1;	/* gone: the caller says what that means */
		return pr_perror("cannot read %s", path);
	}
	memset(out, 0, 53 * sizeof(out[0]));
	out[1] = pid;
	p = strrchr(buf, ')');	/* comm may hold spaces and parentheses */
	if (!p || !p[1]) {
		free(buf);
		return pr_err("cannot parse %s", path);
	}
	p += 2;
	p = strchr(p, ' ');	/* skip the state */
	for (i = 4; i <= 52 && p && *p; i++) {
		out[i] = strtoull(p + 1, &p, 10);
		if (*p != ' ')
			break;
	}
	free(buf);
	return 0;
}

static int key_line(const char *path, const char *key, char sep, char *buf, size_t len)
{
	char line[1024];
	size_t kl = strlen(key);
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, kl) && line[kl] == sep) {
			char *p = line + kl + 1;

			while (*p == ' ' || *p == '\t')
				p++;
			p[strcspn(p, "\n")] = 0;
			snprintf(buf, len, "%s", p);
			fclose(f);
			return 0;
		}
	}
	fclose(f);
	return -1;
}

int proc_status_line(pid_t pid, pid_t tid, const char *key, char *buf, size_t len)
{
	char path[64];

	if (tid > 0)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/status", pid);
	return key_line(path, key, ':', buf, len);
}

int proc_fdinfo_field(pid_t pid, int fd, const char *key, char *buf, size_t len)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	return key_line(path, key, ':', buf, len);
}
