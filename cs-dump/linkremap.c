/*
 * --link-remap: a regular file deleted under the name the process opened
 * (or mapped) it by, but with other hard links left (st_nlink > 0). Its
 * old name is gone and its contents cannot be saved as a ghost (the
 * restored process would get a copy, not the inode the other names
 * share), so cs-dump gives the open inode a name again: linkat(2) of its
 * /proc link (/proc/PID/fd/N, map_files/START-END or exe) with
 * AT_SYMLINK_FOLLOW, which links an inode that still has links (the
 * kernel refuses ENOENT only for i_nlink 0 without I_LINKABLE,
 * fs/namei.c vfs_link). The name, .cs-link-remap.DEV.INO, goes into the
 * file's own directory when that still exists on the same mount, else
 * into the root of the file's mount (statx(2) stx_mnt_id, found in
 * /proc/self/mountinfo): a hard link never crosses a mount (EXDEV).
 * The entry in ghost-files.img names the link (link_remap) instead of
 * holding the contents; cs-restore opens the file through it and removes
 * it once the whole restore has succeeded.
 *
 * One link per inode for the whole tree (the processes share the inode,
 * and so they do after the restore). A link of that name to the same inode
 * already there (an earlier cs-dump -R left it for its images) is used as
 * it is, and left alone if this dump fails; the links this dump made are
 * removed when it fails (link_remap_undo), and kept when it succeeds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "util.h"
#include "dump.h"

static struct remap {
	uint64_t dev, ino;
	char *name;
	int made;		/* by this cs-dump: removed if it fails */
} *remaps;
static size_t nr_remaps;

static const uint8_t no_data;	/* data of a link-remap entry: none (a non-NULL pointer for protobuf-c) */

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

/*
 * Where the mount of the file at /proc link src is mounted, as we see it
 * (malloc'ed), or NULL with why. statx(2) STATX_MNT_ID (Linux 5.8) follows
 * the magic link to the open file; its mount ID is the first field of
 * /proc/self/mountinfo (our mount namespace is the target's: check_target).
 */
static char *mount_root(const char *src, char *why, size_t len)
{
	struct statx stx;
	char *buf, *line, *next, *found = NULL;

	if (statx(AT_FDCWD, src, 0, STATX_MNT_ID, &stx)) {
		snprintf(why, len, "statx: %s", strerror(errno));
		return NULL;
	}
	if (!(stx.stx_mask & STATX_MNT_ID)) {
		snprintf(why, len, "this kernel does not tell its mount (statx STATX_MNT_ID)");
		return NULL;
	}
	buf = read_file_at(AT_FDCWD, "/proc/self/mountinfo", NULL, 16 << 20);
	if (!buf) {
		snprintf(why, len, "cannot read /proc/self/mountinfo: %s", strerror(errno));
		return NULL;
	}
	for (line = buf; line && *line && !found; line = next) {
		unsigned long long id;
		char mnt[4096];

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (sscanf(line, "%llu %*u %*s %*s %4095s", &id, mnt) != 2 || id != stx.stx_mnt_id)
			continue;
		unescape(mnt);
		found = xstrdup(mnt);
	}
	free(buf);
	if (!found)
		snprintf(why, len, "its mount %llu is not in /proc/self/mountinfo", (unsigned long long)stx.stx_mnt_id);
	return found;
}

/*
 * Link the inode open at src (st) as DIR/.cs-link-remap.DEV.INO[.N]:
 * *made 1 when this call made it, 0 when a link of that name to the same
 * inode was there. Returns the name (malloc'ed), or NULL with errno (the
 * first linkat(2) error but EEXIST).
 */
static char *link_in(const char *dir, const char *src, const struct stat *st, int *made)
{
	size_t plen = strlen(dir) + 80;
	char *name = malloc(plen);

	if (!name)
		return NULL;
	for (int i = 0; i < 100; i++) {
		struct stat named;

		if (i)
			snprintf(name, plen, "%s%s.cs-link-remap.%llu.%llu.%d", dir, strcmp(dir, "/") ? "/" : "",
				 (unsigned long long)st->st_dev, (unsigned long long)st->st_ino, i);
		else
			snprintf(name, plen, "%s%s.cs-link-remap.%llu.%llu", dir, strcmp(dir, "/") ? "/" : "",
				 (unsigned long long)st->st_dev, (unsigned long long)st->st_ino);
		if (linkat(AT_FDCWD, src, AT_FDCWD, name, AT_SYMLINK_FOLLOW) == 0) {
			*made = 1;
			return name;
		}
		if (errno != EEXIST)
			break;
		/* left by an earlier cs-dump (-R) for its images: the same inode, used again */
		if (lstat(name, &named) == 0 && S_ISREG(named.st_mode) && named.st_dev == st->st_dev &&
		    named.st_ino == st->st_ino) {
			*made = 0;
			return name;
		}
	}
	free(name);
	return NULL;
}

/* The link of inode st made (or found) by this dump: its entry, or NULL. */
static struct remap *remap_of(const struct stat *st)
{
	for (size_t i = 0; i < nr_remaps; i++)
		if (remaps[i].dev == st->st_dev && remaps[i].ino == st->st_ino)
			return &remaps[i];
	return NULL;
}

/* Make (or find) the link of the inode open at src; its record, or NULL (logged). */
static struct remap *remap_make(const char *src, const struct stat *st, const char *path, const char *what)
{
	struct remap *r = remap_of(st), *arr;
	char *dir, *name = NULL, *root = NULL, why[200] = "";
	const char *slash = strrchr(path, '/');
	int made = 0, err1 = 0;
	struct stat ds;

	if (r)
		return r;
	arr = xrealloc(remaps, (nr_remaps + 1) * sizeof(*arr));
	if (!arr)
		return NULL;
	remaps = arr;
	/* its own directory, if that is still there on the file's device */
	dir = xstrdup(path);
	if (!dir)
		return NULL;
	dir[slash ? (size_t)(slash - path) + (slash == path) : 0] = 0;	/* "/a": "/" */
	if (dir[0] == '/' && stat(dir, &ds) == 0 && S_ISDIR(ds.st_mode) && ds.st_dev == st->st_dev) {
		name = link_in(dir, src, st, &made);
		err1 = name ? 0 : errno;
	} else
		err1 = ENOENT;
	/* else the root of its mount (EXDEV: the directory is on another mount) */
	if (!name) {
		root = mount_root(src, why, sizeof(why));
		if (root && !(name = link_in(root, src, st, &made)))
			snprintf(why, sizeof(why), "in %s: %s", root, strerror(errno));
	}
	if (!name) {
		pr_err("%s: cannot link file %s (deleted under this name, %lu other hard link(s)) again for "
		       "--link-remap: in %s: %s; %s", what, path, (unsigned long)st->st_nlink, dir, strerror(err1), why);
		free(dir);
		free(root);
		return NULL;
	}
	free(dir);
	free(root);
	r = &remaps[nr_remaps++];
	r->dev = st->st_dev;
	r->ino = st->st_ino;
	r->name = name;
	r->made = made;
	pr_info("%s: file %s, deleted under this name, %s as %s", what, path,
		made ? "linked again" : "already linked (an earlier dump)", name);
	return r;
}

GhostFileEntry *link_remap_save(struct dump_ctx *c, const char *src, const struct stat *st, const char *path,
				const char *what)
{
	struct remap *r;
	GhostFileEntry *g;

	if (!S_ISREG(st->st_mode)) {
		pr_err("%s: %s is deleted under this name and not a regular file: not supported", what, path);
		return NULL;
	}
	r = remap_make(src, st, path, what);
	if (!r || cs_fault("link-remap"))
		return NULL;
	g = ghost_add(c, st, path);
	if (!g)
		return NULL;
	g->link_remap = xstrdup(r->name);
	if (!g->link_remap)
		return NULL;
	g->has_size = 1;
	g->size = st->st_size;
	g->data.data = (uint8_t *)&no_data;
	g->data.len = 0;
	return g;
}

void link_remap_undo(void)
{
	for (size_t i = 0; i < nr_remaps; i++) {
		struct remap *r = &remaps[i];
		struct stat st;

		/* only a name this dump made, and only while it is still that inode */
		if (r->made && lstat(r->name, &st) == 0 && st.st_dev == r->dev && st.st_ino == r->ino) {
			if (unlink(r->name))
				pr_perror("cannot remove the --link-remap link %s", r->name);
			else
				pr_info("removed the --link-remap link %s", r->name);
		}
	}
	link_remap_free();
}

void link_remap_free(void)
{
	for (size_t i = 0; i < nr_remaps; i++)
		free(remaps[i].name);
	free(remaps);
	remaps = NULL;
	nr_remaps = 0;
}
