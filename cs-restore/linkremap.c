/*
 * Files cs-dump --link-remap linked again (ghost-files entries with
 * link_remap, feature "link-remap"): deleted under the name the process
 * had opened or mapped them by, but with other hard links left. They are
 * not recreated: the stub opens the very inode through the link cs-dump
 * made, so that the restored process shares it with the file's other
 * names, as before.
 *
 * The check phase refuses a link that is gone or no longer a regular file,
 * one that is another inode now, and one whose size or mtime changed since
 * the dump (--file-validation, as for any file; none lets all three by). The stub gives the file its old name for the time of the
 * opens when that name is free (a hard link, unlinked at once, as ghosts
 * are), so that /proc/PID/fd reads "PATH (deleted)" as before; else it
 * opens the link itself. The link stays while the restore can still fail,
 * so that a failed restore leaves the images usable; cs-restore removes it
 * once every process of the tree holds the file and every step that can
 * fail has passed, right before the processes are let go (link_remap_done).
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
#include "restore.h"

/* How g's users are named in messages: its first fd, its first mapping, or the executable. */
static void user_of(const GhostFileEntry *g, char *what, size_t len)
{
	if (g->n_fds)
		snprintf(what, len, "fd %u", g->fds[0]);
	else if (g->n_vmas)
		snprintf(what, len, "the mapping at %#llx", (unsigned long long)g->vmas[0]);
	else
		snprintf(what, len, "the executable");
}

int check_link_remap(struct rst_ctx *c, const GhostFileEntry *g)
{
	char what[64];
	struct stat st;

	if (!g->link_remap)
		return 0;
	user_of(g, what, sizeof(what));
	if (g->link_remap[0] != '/' || !g->has_size || g->data.len)
		return pr_err("ghost-files.img: the --link-remap entry for %s is corrupt", g->path);
	if (lstat(g->link_remap, &st))
		return pr_err("%s: file %s (deleted under this name at the dump): its --link-remap link %s: %s%s", what,
			      g->path, g->link_remap, strerror(errno),
			      errno == ENOENT ? " (removed by a restore of these or later images?)" : "");
	if (!S_ISREG(st.st_mode))
		return pr_err("%s: file %s (deleted under this name at the dump): its --link-remap link %s is no longer "
			      "a regular file", what, g->path, g->link_remap);
	/* the point of the link is the very inode (a copy renamed over it, of
	 * the same size and mtime, would split the file in two); st_ino
	 * only: st_dev may change across a reboot (device-mapper minors) */
	if (c->file_validation != FV_NONE && st.st_ino != g->ino)
		return pr_err("%s: file %s (deleted under this name at the dump): its --link-remap link %s is another "
			      "file now (inode %llu, was %llu): use --file-validation=none to restore anyway", what,
			      g->path, g->link_remap, (unsigned long long)st.st_ino, (unsigned long long)g->ino);
	return check_file_same(c, what, g->link_remap, &st, 1, g->size, 1, g->mtime_ns);
}

char *stub_link_remap_name(const GhostFileEntry *g, int *temp, char *err, size_t len)
{
	char *name;

	/* its old name when free (EEXIST: taken; EXDEV: the link is in the
	 * root of the mount, the directory on another one; ENOENT: gone) */
	*temp = linkat(AT_FDCWD, g->link_remap, AT_FDCWD, g->path, 0) == 0;
	name = strdup(*temp ? g->path : g->link_remap);
	if (!name) {
		if (*temp)
			unlink(g->path);
		snprintf(err, len, "out of memory");
	}
	return name;
}

void link_remap_done(struct rst_tree *t)
{
	for (size_t i = 0; i < t->nr; i++) {
		const struct rst_ctx *p = t->p[i];

		for (size_t j = 0; !p->proc->zombie && j < p->nr_ghosts; j++) {
			const char *l = p->ghosts[j]->link_remap;
			int seen = 0;

			if (!l)
				continue;
			/* once per link: processes of the tree share it */
			for (size_t a = 0; a <= i && !seen; a++)
				for (size_t b = 0; b < (a == i ? j : t->p[a]->nr_ghosts) && !seen; b++)
					seen = !t->p[a]->proc->zombie && t->p[a]->ghosts[b]->link_remap &&
					       !strcmp(t->p[a]->ghosts[b]->link_remap, l);
			if (seen)
				continue;
			if (unlink(l) && errno != ENOENT)
				pr_warn("cannot remove the --link-remap link %s: %s (the restore succeeded; remove it "
					"when no other image needs it)", l, strerror(errno));
			else
				pr_info("removed the --link-remap link %s", l);
		}
	}
}
