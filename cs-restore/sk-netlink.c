/*
 * Netlink sockets (netlink(7)), made again as cs-dump/sk-netlink.c saved
 * them: the same protocol and type, the flags and socket options, bound to
 * the saved portid (an address the kernel autobound to the process's PID
 * comes back as that PID is restored; any other is bound explicitly, as
 * bind(2) allows any free portid), a member of the same groups (all of them
 * by NETLINK_ADD_MEMBERSHIP, which also takes groups above 32), and
 * connected to the same address. The check phase makes the same socket
 * once and closes it, so that a portid taken, a protocol this kernel lacks
 * or a group or flag that needs a capability we do not have is refused
 * before anything is created.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/netlink.h>

#define LOG_PREFIX "netlink: "
#include "log.h"
#include "util.h"
#include "sockdiag.h"
#include "sk-opts.h"
#include "restore.h"
#include "sockets.h"

/* Set flag name when the image says it was on. 0, or -1 with err. */
static int nl_flag(int sk, protobuf_c_boolean on, int name, const char *oname, const char *what, char *err,
		   size_t len)
{
	int one = 1;

	if (!on || setsockopt(sk, SOL_NETLINK, name, &one, sizeof(one)) == 0)
		return 0;
	snprintf(err, len, "%s: cannot set %s: %m%s", what, oname,
		 errno == EPERM && name == NETLINK_LISTEN_ALL_NSID ? " (needs CAP_NET_BROADCAST)" : "");
	return -1;
}

int netlink_make(const FdEntry *e, char *err, size_t len)
{
	const NetlinkSkEntry *n = e->nlsk;
	struct sockaddr_nl a;
	char what[80], oe[200];
	int sk;

	if (!n) {
		snprintf(err, len, "fd %u: malformed netlink socket in files.img", e->fd);
		return -1;
	}
	snprintf(what, sizeof(what), "fd %u (netlink %s socket, portid %u)", e->fd, netlink_proto_name(n->protocol),
		 n->portid);
	sk = socket(AF_NETLINK, n->type | SOCK_CLOEXEC, n->protocol);
	if (sk < 0) {
		snprintf(err, len, "%s: cannot create it: %m%s", what,
			 errno == EPROTONOSUPPORT ? " (this kernel lacks the protocol)" : "");
		return -1;
	}
	if (nl_flag(sk, n->pktinfo, NETLINK_PKTINFO, "NETLINK_PKTINFO", what, err, len) ||
	    nl_flag(sk, n->broadcast_error, NETLINK_BROADCAST_ERROR, "NETLINK_BROADCAST_ERROR", what, err, len) ||
	    nl_flag(sk, n->no_enobufs, NETLINK_NO_ENOBUFS, "NETLINK_NO_ENOBUFS", what, err, len) ||
	    nl_flag(sk, n->listen_all_nsid, NETLINK_LISTEN_ALL_NSID, "NETLINK_LISTEN_ALL_NSID", what, err, len) ||
	    nl_flag(sk, n->cap_ack, NETLINK_CAP_ACK, "NETLINK_CAP_ACK", what, err, len) ||
	    nl_flag(sk, n->ext_ack, NETLINK_EXT_ACK, "NETLINK_EXT_ACK", what, err, len) ||
	    nl_flag(sk, n->strict_chk, NETLINK_GET_STRICT_CHK, "NETLINK_GET_STRICT_CHK", what, err, len))
		goto fail;
	if (sk_opts_apply(sk, n->opts, oe, sizeof(oe))) {
		snprintf(err, len, "%s: %s", what, oe);
		goto fail;
	}
	memset(&a, 0, sizeof(a));
	a.nl_family = AF_NETLINK;
	a.nl_pid = n->portid;
	if (n->portid && bind(sk, (struct sockaddr *)&a, sizeof(a))) {
		snprintf(err, len, "%s: cannot bind to portid %u: %m%s", what, n->portid,
			 errno == EADDRINUSE ? " (another netlink socket of this protocol has it)" : "");
		goto fail;
	}
	/* group n is bit n-1 of the bitmap (netlink_group_mask) */
	for (size_t w = 0; w < n->n_groups; w++)
		for (unsigned b = 0; b < 32; b++) {
			unsigned g = w * 32 + b + 1;

			if (!(n->groups[w] & (1u << b)))
				continue;
			if (setsockopt(sk, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g, sizeof(g))) {
				snprintf(err, len, "%s: cannot join group %u (NETLINK_ADD_MEMBERSHIP): %m%s", what, g,
					 errno == EPERM ? " (needs CAP_NET_ADMIN for this protocol)" : "");
				goto fail;
			}
		}
	if (n->connected) {
		/* connect(2) takes a mask; the kernel keeps the lowest group of it */
		if (n->dst_group > 32) {
			snprintf(err, len, "%s: malformed destination group %u", what, n->dst_group);
			goto fail;
		}
		a.nl_pid = n->dst_portid;
		a.nl_groups = n->dst_group ? 1u << (n->dst_group - 1) : 0;
		if (connect(sk, (struct sockaddr *)&a, sizeof(a))) {
			snprintf(err, len, "%s: cannot connect to portid %u group %u: %m", what, n->dst_portid,
				 n->dst_group);
			goto fail;
		}
	}
	return sk;
fail:
	close(sk);
	return -1;
}

int check_netlink(const FdEntry *e)
{
	char msg[400];
	int sk = netlink_make(e, msg, sizeof(msg));

	if (sk < 0)
		return pr_err("%s", msg);
	close(sk);
	return 0;
}
