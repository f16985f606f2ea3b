/*
 * img-edit: a test tool that changes one field of an image and reseals the
 * inventory, so that tests can check what cs-restore does with an image that
 * is well-formed but describes something this machine cannot give.
 *
 *   img-edit DIR or-xfeatures TID MASK   core-TID.img: xfeatures |= MASK
 *   img-edit DIR or-thread-caps TID MASK core-TID.img: the thread's own
 *                                        creds get MASK in their permitted
 *                                        and effective sets
 *   img-edit DIR drop NAME               image NAME removed, as if an older
 *                                        cs-dump had not written it
 *   img-edit DIR netlock-table NAME      inventory.img: netlock_table = NAME
 *   img-edit DIR format-version N        inventory.img: format_version = N
 *   img-edit DIR add-feature NAME        inventory.img: NAME added to features
 *                                        (as a newer cs-dump would write it)
 *   img-edit DIR cgroup-path I PATH      cgroup.img: dirs[I].path = PATH
 *   img-edit DIR cgroup-limit I NAME     cgroup.img: the name of dirs[I]'s
 *                                        first limit = NAME
 *   img-edit DIR sk-device FILE FD NAME  files image FILE: the inet socket at
 *                                        fd FD has SO_BINDTODEVICE NAME
 *   img-edit DIR icon-client FILE FD INO files image FILE: the first unix
 *                                        connection not accepted yet of the
 *                                        listener at fd FD is from socket
 *                                        inode INO
 *   img-edit DIR pidfd-pid FILE FD ID    files image FILE: the pidfd at fd FD
 *                                        refers to process (thread) ID
 *   img-edit DIR reseal NAME FROM        image NAME replaced by the file
 *                                        FROM (a copy the test edited byte by
 *                                        byte), with the sum of its bytes
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "image.h"
#include "inventory.pb-c.h"
#include "core.pb-c.h"
#include "cgroup.pb-c.h"
#include "fdinfo.pb-c.h"

/* cgroup.img: dirs[i].path, or the name of its first limit, becomes val. */
static int edit_cgroup(int dfd, int limit, size_t i, char *val, struct img_sums *sums)
{
	CgroupEntry *cg;
	struct img *img = img_open(dfd, "cgroup.img", MAGIC_CGROUP);

	if (!img || img_read_msg(img, &cgroup_entry__descriptor, (ProtobufCMessage **)&cg) != 1)
		return 1;
	img_free(img);
	if (i >= cg->n_dirs || (limit && !cg->dirs[i]->n_limits)) {
		fprintf(stderr, "img-edit: no cgroup %zu%s\n", i, limit ? " with a limit" : "");
		return 1;
	}
	if (limit)
		cg->dirs[i]->limits[0]->name = val;
	else
		cg->dirs[i]->path = val;
	unlinkat(dfd, "cgroup.img", 0);
	img = img_create(dfd, "cgroup.img", MAGIC_CGROUP);
	if (!img || img_write_msg(img, &cg->base) || img_close(img, sums))
		return 1;
	return 0;
}

/* files image name: the fd entry of fd gets val, as what says: SO_BINDTODEVICE
 * of its inet socket (EDIT_SK_DEVICE), the ID its pidfd refers to
 * (EDIT_PIDFD), the client inode of the first connection not accepted yet of
 * its unix listener (EDIT_ICON). */
enum { EDIT_SK_DEVICE, EDIT_PIDFD, EDIT_ICON };
static int edit_fd(int dfd, const char *name, unsigned fd, int what, char *val, struct img_sums *sums)
{
	struct img *img = img_open(dfd, name, MAGIC_FILES);
	FdEntry **e = NULL;
	size_t n = 0, found = 0;
	int r;

	if (!img)
		return 1;
	for (;;) {
		FdEntry *one;

		r = img_read_msg(img, &fd_entry__descriptor, (ProtobufCMessage **)&one);
		if (r != 1)
			break;
		e = realloc(e, (n + 1) * sizeof(*e));
		if (!e)
			return 1;
		e[n++] = one;
		if (one->fd == fd && what == EDIT_SK_DEVICE && one->sk) {
			one->sk->bindtodevice = val;
			found = 1;
		}
		if (one->fd == fd && what == EDIT_PIDFD && one->type == FD_PIDFD) {
			one->pidfd_pid = strtoul(val, NULL, 0);
			found = 1;
		}
		if (one->fd == fd && what == EDIT_ICON && one->usk && one->usk->n_icons) {
			one->usk->icons[0]->client_ino = strtoull(val, NULL, 0);
			found = 1;
		}
	}
	img_free(img);
	if (r < 0 || !found) {
		fprintf(stderr, "img-edit: no %s at fd %u in %s\n",
			what == EDIT_ICON ? "unix listener with icons" : what == EDIT_PIDFD ? "pidfd" : "inet socket",
			fd, name);
		return 1;
	}
	unlinkat(dfd, name, 0);
	img = img_create(dfd, name, MAGIC_FILES);
	if (!img)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (img_write_msg(img, &e[i]->base))
			return 1;
	return img_close(img, sums) ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct img_sums sums = { 0 };
	InventoryEntry *inv;
	ThreadCoreEntry *tc;
	struct img *img;
	char name[64];
	int dfd;

	log_init(LOG_WARN, NULL);
	if (!(argc == 5 && (!strcmp(argv[2], "or-xfeatures") || !strcmp(argv[2], "or-thread-caps"))) &&
	    !(argc == 4 && !strcmp(argv[2], "drop")) &&
	    !(argc == 4 && !strcmp(argv[2], "netlock-table")) && !(argc == 4 && !strcmp(argv[2], "add-feature")) &&
	    !(argc == 4 && !strcmp(argv[2], "format-version")) && !(argc == 5 && !strcmp(argv[2], "reseal")) &&
	    !(argc == 5 && (!strcmp(argv[2], "cgroup-path") || !strcmp(argv[2], "cgroup-limit"))) &&
	    !(argc == 6 && (!strcmp(argv[2], "sk-device") || !strcmp(argv[2], "icon-client") ||
			    !strcmp(argv[2], "pidfd-pid")))) {
		fprintf(stderr, "usage: img-edit DIR or-xfeatures TID MASK\n       img-edit DIR or-thread-caps TID MASK\n"
			"       img-edit DIR drop NAME\n"
			"       img-edit DIR netlock-table NAME\n       img-edit DIR add-feature NAME\n"
			"       img-edit DIR format-version N\n       img-edit DIR cgroup-path I PATH\n"
			"       img-edit DIR cgroup-limit I NAME\n       img-edit DIR sk-device FILE FD NAME\n"
			"       img-edit DIR icon-client FILE FD INO\n"
			"       img-edit DIR pidfd-pid FILE FD ID\n"
			"       img-edit DIR reseal NAME FROM\n");
		return 1;
	}
	dfd = open(argv[1], O_RDONLY | O_DIRECTORY);
	if (dfd < 0 || inventory_load(dfd, &inv))
		return 1;
	if (argc == 5 && !strncmp(argv[2], "cgroup-", 7)) {
		snprintf(name, sizeof(name), "cgroup.img");
		if (edit_cgroup(dfd, !strcmp(argv[2], "cgroup-limit"), strtoul(argv[3], NULL, 0), argv[4], &sums))
			return 1;
		goto reseal;
	}
	if (argc == 6) {
		snprintf(name, sizeof(name), "%s", argv[3]);
		if (edit_fd(dfd, name, strtoul(argv[4], NULL, 0),
			    !strcmp(argv[2], "icon-client") ? EDIT_ICON :
			    !strcmp(argv[2], "pidfd-pid") ? EDIT_PIDFD : EDIT_SK_DEVICE, argv[5], &sums))
			return 1;
		goto reseal;
	}
	if (argc == 5 && !strcmp(argv[2], "reseal")) {
		static uint8_t buf[1 << 16];
		uint32_t crc = 0;
		uint64_t size = 0;
		ssize_t n;
		int fd;

		if (renameat(AT_FDCWD, argv[4], dfd, argv[3]))
			return perror(argv[4]), 1;
		fd = openat(dfd, argv[3], O_RDONLY);
		if (fd < 0)
			return perror(argv[3]), 1;
		while ((n = read(fd, buf, sizeof(buf))) > 0) {
			crc = crc32c(crc, buf, n);
			size += n;
		}
		close(fd);
		snprintf(name, sizeof(name), "%s", argv[3]);
		sums.names = malloc(sizeof(char *));
		sums.sizes = malloc(sizeof(uint64_t));
		sums.crcs = malloc(sizeof(uint32_t));
		sums.names[0] = strdup(name);
		sums.sizes[0] = size;
		sums.crcs[0] = crc;
		sums.n = 1;
		goto reseal;
	}
	if (argc == 4 && !strcmp(argv[2], "format-version")) {
		inv->format_version = strtoul(argv[3], NULL, 0);
		name[0] = 0;
		goto reseal;
	}
	if (argc == 4 && !strcmp(argv[2], "add-feature")) {
		char **f = realloc(inv->features, (inv->n_features + 1) * sizeof(*f));

		if (!f)
			return 1;
		inv->features = f;
		f[inv->n_features++] = argv[3];
		name[0] = 0;	/* every image keeps its sum */
		goto reseal;
	}
	if (argc == 4 && !strcmp(argv[2], "netlock-table")) {
		inv->netlock_table = argv[3];
		name[0] = 0;	/* every image keeps its sum */
		goto reseal;
	}
	if (argc == 4) {
		snprintf(name, sizeof(name), "%s", argv[3]);
		if (unlinkat(dfd, name, 0))
			return perror(name), 1;
		goto reseal;
	}
	snprintf(name, sizeof(name), "core-%s.img", argv[3]);
	img = img_open(dfd, name, MAGIC_CORE);
	if (!img || img_read_msg(img, &thread_core_entry__descriptor, (ProtobufCMessage **)&tc) != 1)
		return 1;
	img_free(img);
	if (!strcmp(argv[2], "or-thread-caps")) {
		if (!tc->creds) {
			fprintf(stderr, "img-edit: %s holds no credentials of its own\n", name);
			return 1;
		}
		tc->creds->cap_prm |= strtoull(argv[4], NULL, 0);
		tc->creds->cap_eff |= strtoull(argv[4], NULL, 0);
	} else {
		tc->xfeatures |= strtoull(argv[4], NULL, 0);
	}
	/* rewrite the core image, then every sum into a new inventory */
	unlinkat(dfd, name, 0);
	img = img_create(dfd, name, MAGIC_CORE);
	if (!img || img_write_msg(img, &tc->base) || img_close(img, &sums))
		return 1;
reseal:
	for (size_t i = 0; i < inv->n_images; i++) {
		if (!strcmp(inv->images[i]->name, name))
			continue;
		sums.names = realloc(sums.names, (sums.n + 1) * sizeof(char *));
		sums.sizes = realloc(sums.sizes, (sums.n + 1) * sizeof(uint64_t));
		sums.crcs = realloc(sums.crcs, (sums.n + 1) * sizeof(uint32_t));
		sums.names[sums.n] = strdup(inv->images[i]->name);
		sums.sizes[sums.n] = inv->images[i]->size;
		sums.crcs[sums.n] = inv->images[i]->crc32c;
		sums.n++;
	}
	unlinkat(dfd, "inventory.img", 0);
	return inventory_write(dfd, inv, &sums) ? 1 : 0;
}
