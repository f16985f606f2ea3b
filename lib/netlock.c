/*
 * The network lock through libnftables (see netlock.h for why). Commands
 * are built as nft(8) text and run with nft_run_cmd_from_buffer, one
 * buffer per transaction: a buffer's commands are applied together or
 * not at all (libnftables(3)).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <linux/capability.h>
#include <nftables/libnftables.h>

#define LOG_PREFIX "netlock: "
#include "log.h"
#include "util.h"
#include "netlock.h"

struct netlock {
	struct nft_ctx *nft;
	char name[NETLOCK_NAME_MAX + 1];
	size_t count;
};

static struct nft_ctx *ctx_new(void)
{
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);

	if (!nft) {
		pr_err("cannot set up libnftables (nft_ctx_new)");
		return NULL;
	}
	/* errors into a buffer: we print one line of our own */
	if (nft_ctx_buffer_error(nft) || nft_ctx_buffer_output(nft)) {
		nft_ctx_free(nft);
		pr_err("cannot set up libnftables (buffers)");
		return NULL;
	}
	return nft;
}

/* The first line of nft's error text, without "Error: ". */
static const char *nft_why(struct nft_ctx *nft, char *buf, size_t len)
{
	const char *e = nft_ctx_get_error_buffer(nft);
	const char *p, *q;

	if (!e || !*e)
		return "failed (no reason given)";
	p = strchr(e, '\n');
	/* "netlink: Error: cache initialization failed: ..." */
	if ((q = strstr(e, "Error: ")) && (!p || q < p))
		e = q + 7;
	snprintf(buf, len, "%.*s", p ? (int)(p - e) : (int)strlen(e), e);
	return buf;
}

static int run(struct nft_ctx *nft, const char *cmd, char *why, size_t len)
{
	int r = nft_run_cmd_from_buffer(nft, cmd);

	if (r)
		nft_why(nft, why, len);
	pr_debug("nft %s: %s", r ? "failed" : "ok", cmd);
	/* read, so the next command's text starts clean */
	nft_ctx_get_output_buffer(nft);
	nft_ctx_get_error_buffer(nft);
	return r ? -1 : 0;
}

int netlock_parse_mode(const char *tool, const char *arg, int *on)
{
	if (!strcmp(arg, "nftables"))
		*on = 1;
	else if (!strcmp(arg, "skip"))
		*on = 0;
	else {
		fprintf(stderr, "%s: invalid --network-lock '%s' (nftables or skip)\n", tool, arg);
		return -1;
	}
	return 0;
}

int netlock_name_ok(const char *name)
{
	size_t n = strlen(NETLOCK_PREFIX), l = strlen(name);

	if (l <= n || l > NETLOCK_NAME_MAX || strncmp(name, NETLOCK_PREFIX, n))
		return 0;
	if (name[n] != 'd' && name[n] != 'r')
		return 0;
	for (size_t i = n + 1; i < l; i++)
		if (!(name[i] >= '0' && name[i] <= '9') && !(name[i] >= 'a' && name[i] <= 'f') && name[i] != '-')
			return 0;
	return 1;
}

struct netlock *netlock_create(char kind)
{
	struct netlock *nl = xzalloc(sizeof(*nl));
	uint32_t rnd = 0;
	char cmd[512], why[256];

	if (!nl)
		return NULL;
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint32_t)now_us();
	snprintf(nl->name, sizeof(nl->name), NETLOCK_PREFIX "%c%d-%08x", kind, (int)getpid(), rnd);
	/* libnftables itself prints a line of its own on stderr when netlink
	 * says EPERM: say it first, in our one line */
	if (!cap_effective(CAP_NET_ADMIN)) {
		pr_err("--network-lock nftables: cannot create table inet %s: no CAP_NET_ADMIN "
		       "(--network-lock skip goes without)", nl->name);
		free(nl);
		return NULL;
	}
	nl->nft = ctx_new();
	if (!nl->nft) {
		free(nl);
		return NULL;
	}
	/* one transaction: the table with both chains, or nothing */
	snprintf(cmd, sizeof(cmd),
		 "add table inet %1$s { comment \"checksync %2$s: TCP connections held\"; }\n"
		 "add chain inet %1$s in { type filter hook input priority -300; policy accept; }\n"
		 "add chain inet %1$s out { type filter hook output priority -300; policy accept; }\n",
		 nl->name, kind == 'd' ? "cs-dump" : "cs-restore");
	if (run(nl->nft, cmd, why, sizeof(why))) {
		pr_err("--network-lock nftables: cannot create table inet %s: %s", nl->name, why);
		nft_ctx_free(nl->nft);
		free(nl);
		return NULL;
	}
	pr_info("table inet %s created", nl->name);
	return nl;
}

const char *netlock_name(const struct netlock *nl)
{
	return nl->name;
}

size_t netlock_count(const struct netlock *nl)
{
	return nl->count;
}

int netlock_add(struct netlock *nl, int family, const uint8_t *laddr, uint16_t lport, const uint8_t *raddr,
		uint16_t rport, const char *what)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	char la[INET6_ADDRSTRLEN], ra[INET6_ADDRSTRLEN], cmd[1024], why[256];
	const char *ip = "ip";

	if (family == AF_INET6 && !memcmp(laddr, v4mapped, 12) && !memcmp(raddr, v4mapped, 12)) {
		family = AF_INET;
		laddr += 12;
		raddr += 12;
	}
	if (family == AF_INET6)
		ip = "ip6";
	else if (family != AF_INET)
		return pr_err("%s: address family %d cannot be locked", what, family);
	if (!inet_ntop(family, laddr, la, sizeof(la)) || !inet_ntop(family, raddr, ra, sizeof(ra)))
		return pr_perror("%s: cannot print its addresses", what);
	snprintf(cmd, sizeof(cmd),
		 "add rule inet %1$s in %2$s saddr %5$s %2$s daddr %3$s tcp sport %6$u tcp dport %4$u drop\n"
		 "add rule inet %1$s out %2$s saddr %3$s %2$s daddr %5$s tcp sport %4$u tcp dport %6$u drop\n",
		 nl->name, ip, la, lport, ra, rport);
	if (run(nl->nft, cmd, why, sizeof(why)))
		return pr_err("%s: cannot lock it (table inet %s): %s", what, nl->name, why);
	nl->count++;
	return 0;
}

static int delete_table(struct nft_ctx *nft, const char *name)
{
	char cmd[128], why[256];

	snprintf(cmd, sizeof(cmd), "delete table inet %s\n", name);
	if (run(nft, cmd, why, sizeof(why))) {
		pr_warn("cannot remove table inet %s: %s (remove it with: nft delete table inet %s)", name, why, name);
		return -1;
	}
	pr_info("table inet %s removed", name);
	return 0;
}

int netlock_remove(struct netlock *nl)
{
	int r;

	if (!nl)
		return 0;
	r = delete_table(nl->nft, nl->name);
	nft_ctx_free(nl->nft);
	free(nl);
	return r;
}

int netlock_remove_with(struct netlock *nl, const char *other)
{
	char cmd[256], why[256];

	if (!nl || !netlock_name_ok(other))
		return -1;
	snprintf(cmd, sizeof(cmd), "delete table inet %s\ndelete table inet %s\n", nl->name, other);
	if (run(nl->nft, cmd, why, sizeof(why))) {
		pr_debug("tables inet %s and %s not removed together: %s", nl->name, other, why);
		return -1;
	}
	pr_info("table inet %s removed", nl->name);
	nft_ctx_free(nl->nft);
	free(nl);
	return 0;
}

void netlock_forget(struct netlock *nl)
{
	if (!nl)
		return;
	nft_ctx_free(nl->nft);
	free(nl);
}

/* Is "table inet NAME" in nft's listing? 1, 0, or -1 (logged). */
static int table_exists(struct nft_ctx *nft, const char *name)
{
	const char *out, *p;
	char why[256];
	size_t l = strlen(name);

	if (nft_run_cmd_from_buffer(nft, "list tables inet\n")) {
		pr_warn("cannot list the nftables tables: %s", nft_why(nft, why, sizeof(why)));
		return -1;
	}
	out = nft_ctx_get_output_buffer(nft);
	for (p = out; p && (p = strstr(p, "table inet ")); p += 11)
		if (!strncmp(p + 11, name, l) && (p[11 + l] == '\n' || p[11 + l] == 0))
			return 1;
	return 0;
}

int netlock_remove_named(const char *name)
{
	struct nft_ctx *nft;
	int r;

	if (!netlock_name_ok(name)) {
		pr_warn("the images name the network lock table \"%.64s\": not one of ours, left alone", name);
		return -1;
	}
	nft = ctx_new();
	if (!nft)
		return -1;
	r = table_exists(nft, name);
	if (r == 1)
		r = delete_table(nft, name) ? -1 : 1;
	nft_ctx_free(nft);
	return r;
}
