/*
 * --ext-unix-sk: a unix socket connected to a socket outside the dumped
 * tree. The common case is syslog(3): glibc connects an unbound SOCK_DGRAM
 * socket to /dev/log, bound by journald or rsyslog. A datagram connect(2)
 * only sets the default destination and which socket may queue datagrams
 * to this one (unix(7)), so connecting again to the same name at restore
 * gives the same relation; what the socket had sent is in the other
 * socket's queue, outside, and stays there. A stream or seqpacket socket
 * is different: connecting again makes a new connection, which the
 * listener accepts as a new client, not the same conversation. Those stay
 * refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#define LOG_PREFIX "sockets: "
#include "log.h"
#include "util.h"
#include "sockdiag.h"
#include "sockets.h"

/* "@name" for an abstract name, the path otherwise (sock_diag's bytes, a path with its NUL). */
static const char *peer_str(const struct unix_diag *pd, char *buf, size_t size)
{
	int n = pd->name_len < (int)size - 2 ? pd->name_len : (int)size - 2;

	if (pd->name[0] == 0) {
		buf[0] = '@';
		memcpy(buf + 1, pd->name + 1, n - 1);
		buf[n] = 0;
	} else {
		memcpy(buf, pd->name, n);
		buf[n] = 0;
	}
	for (int i = 0; i < n; i++)
		if (buf[i] && (buf[i] < 32 || buf[i] == 127))
			buf[i] = '?';
	return buf;
}

int unix_ext_peer(const struct unix_diag *d, UnixSkEntry *s, const char *what, pid_t pid, int allowed)
{
	struct unix_diag pd = { 0 };
	char nb[sizeof(pd.name) + 8];
	struct stat st;
	int r;

	r = sockdiag_unix(d->peer, &pd);
	if (r == 1)
		return pr_err("%s is connected to socket inode %llu outside process %d, which is gone", what,
			      (unsigned long long)d->peer, pid);
	if (r)
		return -1;
	free(pd.icons);
	if (!pd.name_len)
		return pr_err("%s is connected to socket inode %llu outside process %d, which has no name to "
			      "connect to again: not supported", what, (unsigned long long)d->peer, pid);
	peer_str(&pd, nb, sizeof(nb));
	if (pd.peer == d->ino)
		return pr_err("%s is connected to %s (socket inode %llu) outside process %d, which is connected "
			      "back to it: not supported", what, nb, (unsigned long long)d->peer, pid);
	if (pd.name[0] && pd.name[0] != '/')
		return pr_err("%s is connected to relative path %s (socket inode %llu) outside process %d: "
			      "not supported", what, nb, (unsigned long long)d->peer, pid);
	/* a path must still lead to that socket: else a restore would reach another one, or none */
	if (pd.name[0] &&
	    (stat(nb, &st) || !S_ISSOCK(st.st_mode) || !pd.has_vfs || st.st_ino != pd.vfs_ino ||
	     ((uint64_t)major(st.st_dev) << 20 | minor(st.st_dev)) != pd.vfs_dev))
		return pr_err("%s is connected to %s (socket inode %llu) outside process %d, and that path no "
			      "longer leads to it: not supported", what, nb, (unsigned long long)d->peer, pid);
	if (!allowed)
		return pr_err("%s is connected to %s (socket inode %llu), which is outside process %d: use "
			      "--ext-unix-sk to connect it to %s again at restore", what, nb,
			      (unsigned long long)d->peer, pid, nb);
	s->has_ext_peer = 1;
	s->ext_peer.len = pd.name_len;
	s->ext_peer.data = xmalloc(pd.name_len);
	if (!s->ext_peer.data)
		return -1;
	memcpy(s->ext_peer.data, pd.name, pd.name_len);
	s->has_peer_ino = 0;
	s->peer_ino = 0;
	pr_info("%s: connected to %s outside process %d, to be connected again (--ext-unix-sk)", what, nb, pid);
	return 0;
}
