/*
 * Image features: the names cs-dump writes in inventory.features, one per
 * kind of image semantics a reader must understand to restore the images
 * right (an image it would otherwise read as something else, or not read at
 * all). A reader refuses a directory naming a feature missing from its
 * table, so that a newer dump read by an older cs-restore is refused rather
 * than restored in part. The table is the one list: cs-dump writes from it,
 * cs-restore and cs-show check against it, checksync-images(5) lists it.
 */
#ifndef CS_IMGFEATURES_H
#define CS_IMGFEATURES_H

#include <stddef.h>

/* Bit numbers of the features, in the order of cs_features[]. */
enum cs_feature {
	CS_FEAT_PIDNS,		/* "pidns" */
	CS_FEAT_NETLOCK,	/* "netlock" */
	CS_FEAT_INCREMENTAL,	/* "incremental" */
	CS_FEAT_CGROUP,		/* "cgroup" */
	CS_FEAT_TIMENS,		/* "timens" */
	CS_FEAT_SHMEM,		/* "shmem" */
	CS_FEAT_GHOST_FILES,	/* "ghost-files" */
	CS_FEAT_FILE_LOCKS,	/* "file-locks" */
	CS_FEAT_TCP_ESTABLISHED,	/* "tcp-established" */
	CS_FEAT_TCP_HALF_CLOSED,	/* "tcp-half-closed" */
	CS_FEAT_EXT_UNIX_SK,	/* "ext-unix-sk" */
	CS_FEAT_PTY,		/* "pty" */
	CS_FEAT_GHOST_MAPS,	/* "ghost-maps" */
	CS_FEAT_PIDFD,		/* "pidfd" */
	CS_FEAT_NETLINK,	/* "netlink" */
	CS_FEAT_PACKET,		/* "packet" */
	CS_FEAT_LINK_REMAP,	/* "link-remap" */
	CS_FEAT_THREAD_CREDS,	/* "thread-creds" */
	CS_FEAT_UNIX_ICONS,	/* "unix-icons" */
	CS_FEAT_UNIX_XPROC,	/* "unix-xproc" */
	CS_FEAT_RAW_SOCKETS,	/* "raw-sockets" */
	CS_FEAT_NR
};

struct cs_feature_desc {
	const char *name;	/* as written in inventory.features */
	const char *meaning;	/* one line, for people */
};

/* cs_features[f] for each enum cs_feature f. */
extern const struct cs_feature_desc cs_features[CS_FEAT_NR];

/*
 * feature_known - 1 when name is in cs_features[], 0 otherwise (name may
 * be anything read from an image: compared as a C string, never trusted
 * for length beyond its NUL).
 */
int feature_known(const char *name);

/*
 * features_check - the features named by an inventory (n strings at names,
 * as protobuf-c unpacked them from inventory_entry.features) are all known.
 * Returns 0, or -1 with one line in why (len bytes): the first unknown
 * feature, tool_version (the checksync that wrote the images, NULL: not
 * recorded) and this checksync's version. Never logs.
 */
int features_check(char **names, size_t n, const char *tool_version, char *why, size_t len);

#endif
