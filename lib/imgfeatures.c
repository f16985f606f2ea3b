/* Image features: the table, and the check a reader makes. See imgfeatures.h. */
#include <stdio.h>
#include <string.h>

#include "imgfeatures.h"

/*
 * A feature is added here when cs-dump starts writing images that an
 * older reader would mis-restore without refusing. Names are never
 * reused; their meanings are listed in checksync-images(5) too.
 */
const struct cs_feature_desc cs_features[CS_FEAT_NR] = {
	[CS_FEAT_PIDNS] = { "pidns", "the IDs are those inside a PID namespace of cs-restore --pidns" },
	[CS_FEAT_NETLOCK] = { "netlock", "an nftables table named by netlock_table drops the kept connections' packets" },
	[CS_FEAT_INCREMENTAL] = { "incremental", "pages may be in the parent checkpoints of a --track-mem series" },
	[CS_FEAT_CGROUP] = { "cgroup", "cgroup.img: the control groups the tree was in" },
	[CS_FEAT_TIMENS] = { "timens", "timens.img: the clocks at dump time, for a time namespace" },
	[CS_FEAT_SHMEM] = { "shmem", "shmem.img: shared memory objects and memfds, by shmid" },
	[CS_FEAT_GHOST_FILES] = { "ghost-files", "ghost-files images: contents of files deleted while open" },
	[CS_FEAT_FILE_LOCKS] = { "file-locks", "file-locks images: flock, POSIX and OFD locks held" },
	[CS_FEAT_TCP_ESTABLISHED] = { "tcp-established", "established TCP connections kept, to restore in repair mode" },
	[CS_FEAT_TCP_HALF_CLOSED] = { "tcp-half-closed", "kept TCP connections with a FIN sent or received, or closed with unread bytes" },
	[CS_FEAT_EXT_UNIX_SK] = { "ext-unix-sk", "datagram unix sockets connected to a name outside the dump (ext_peer)" },
	[CS_FEAT_PTY] = { "pty", "pseudo-terminal pairs held in the tree" },
	[CS_FEAT_GHOST_MAPS] = { "ghost-maps", "deleted files mapped or run as the executable, saved as ghost files" },
	[CS_FEAT_PIDFD] = { "pidfd", "pidfds on processes of the tree (fd type 180, pidfd_pid)" },
	[CS_FEAT_NETLINK] = { "netlink", "netlink sockets (fd type 200, nlsk)" },
	[CS_FEAT_PACKET] = { "packet", "packet sockets (fd type 220, pksk)" },
	[CS_FEAT_LINK_REMAP] = { "link-remap", "files deleted under their name but with other hard links, linked again by cs-dump --link-remap (ghost_file_entry link_remap)" },
	[CS_FEAT_THREAD_CREDS] = { "thread-creds", "threads with credentials of their own (thread_core_entry.creds)" },
	[CS_FEAT_UNIX_ICONS] = { "unix-icons", "unix connections not accepted yet whose client is in the tree (icons)" },
	[CS_FEAT_UNIX_XPROC] = { "unix-xproc", "accepted unix connections between two processes of the tree" },
	[CS_FEAT_RAW_SOCKETS] = { "raw-sockets", "raw, ping (ICMP echo) and UDP-Lite sockets (inet_sk_entry type SOCK_RAW or proto ICMP, ICMPv6, UDP-Lite; fields 200..208)" },
};

int feature_known(const char *name)
{
	for (size_t i = 0; i < CS_FEAT_NR; i++)
		if (!strcmp(cs_features[i].name, name))
			return 1;
	return 0;
}

/* At most 64 bytes of s from an image, control bytes as '?': the message stays one line. */
static void tame(char *out, size_t len, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < len; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	out[i] = 0;
}

int features_check(char **names, size_t n, const char *tool_version, char *why, size_t len)
{
	char name[65], ver[65];

	for (size_t i = 0; i < n; i++) {
		if (feature_known(names[i]))
			continue;
		tame(name, sizeof(name), names[i]);
		tame(ver, sizeof(ver), tool_version ? tool_version : "of unknown version");
		snprintf(why, len, "the images need feature '%s' (written by checksync %s), unknown to checksync %s",
			 name, ver, PACKAGE_VERSION);
		return -1;
	}
	return 0;
}
