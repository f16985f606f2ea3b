/* sock_diag through libnl: see sockdiag.h. */
#include <string.h>
#include <netinet/in.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netlink/netlink.h>
#include <netlink/msg.h>

#define LOG_PREFIX "sockdiag: "
#include "log.h"
#include "sockdiag.h"

struct lookup {
	uint64_t ino;
	struct sk_diag *out;
	int found;
};

static int on_msg(struct nl_msg *msg, void *arg)
{
	struct lookup *l = arg;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	struct inet_diag_msg *m = nlmsg_data(h);

	if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || nlmsg_datalen(h) < (int)sizeof(*m))
		return NL_OK;
	if (m->idiag_inode == l->ino) {
		l->out->state = m->idiag_state;
		l->out->rqueue = m->idiag_rqueue;
		l->out->wqueue = m->idiag_wqueue;
		l->found = 1;
	}
	return NL_OK;
}

int sockdiag_inet(int family, int proto, uint64_t ino, struct sk_diag *out)
{
	struct inet_diag_req_v2 req;
	struct lookup l = { ino, out, 0 };
	struct nl_sock *sk = nl_socket_alloc();
	struct nl_msg *msg = NULL;
	int ret = -1, err;

	if (!sk)
		return pr_err("cannot allocate a netlink socket");
	if ((err = nl_connect(sk, NETLINK_SOCK_DIAG)) < 0) {
		pr_err("cannot connect to sock_diag: %s", nl_geterror(err));
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.sdiag_family = family;
	req.sdiag_protocol = proto;
	req.idiag_states = ~0u;
	msg = nlmsg_alloc_simple(SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP);
	if (!msg || nlmsg_append(msg, &req, sizeof(req), NLMSG_ALIGNTO) < 0) {
		pr_err("cannot build a sock_diag request");
		goto out;
	}
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, on_msg, &l);
	if ((err = nl_send_auto(sk, msg)) < 0 || (err = nl_recvmsgs_default(sk)) < 0) {
		pr_err("sock_diag dump failed: %s", nl_geterror(err));
		goto out;
	}
	ret = l.found ? 0 : 1;
out:
	nlmsg_free(msg);
	nl_socket_free(sk);
	return ret;
}
