/*
 * Multicast group memberships of UDP sockets (ip(7) IP_ADD_MEMBERSHIP,
 * ipv6(7) IPV6_ADD_MEMBERSHIP, MCAST_JOIN_GROUP of RFC 3678) are not saved:
 * a socket with one is refused, naming the group and the interface.
 *
 * No kernel interface lists the groups of one socket: sock_diag
 * (inet_diag) reports none, and /proc/net/igmp and /proc/net/igmp6 list
 * the groups of each interface with a count of users, not the sockets.
 * But getsockopt(MCAST_MSFILTER) on a socket, for a group and an
 * interface, answers EADDRNOTAVAIL unless that socket joined that group
 * on that interface (net/ipv4/igmp.c ip_mc_gsfget, net/ipv6/mcast.c
 * ip6_mc_msfget: "must have a prior join"). Every join of a socket adds
 * the group to its interface's list (ip_mc_inc_group,
 * __ipv6_dev_mc_inc), so asking the socket about each (interface, group)
 * of the target's network namespace (/proc/PID/net/igmp, igmp6) finds
 * all of its memberships.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define LOG_PREFIX "udp: "
#include "log.h"
#include "util.h"
#include "sockets.h"

/* The groups of every interface of a network namespace, read once per process of the tree. */
struct group {
	unsigned ifindex;
	char dev[IFNAMSIZ + 1];
	struct sockaddr_storage g;
};

static struct group *groups;
static size_t nr_groups;
static pid_t groups_pid;

static int add_group(unsigned idx, const char *dev, const struct sockaddr_storage *g)
{
	struct group *n = realloc(groups, (nr_groups + 1) * sizeof(*n));

	if (!n)
		return pr_err("out of memory");
	groups = n;
	n[nr_groups].ifindex = idx;
	snprintf(n[nr_groups].dev, sizeof(n[nr_groups].dev), "%s", dev);
	n[nr_groups++].g = *g;
	return 0;
}

/* The IPv4 groups: "IDX\tDEV : COUNT ..." lines, each followed by "\t\t\t\tGROUP USERS ..." ones
 * (GROUP: the __be32 printed with %08X, net/ipv4/igmp.c igmp_mc_seq_show). */
static int load_v4(pid_t pid)
{
	char path[64], line[256], dev[IFNAMSIZ + 1] = "?";
	unsigned idx = 0;
	int ret = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/net/igmp", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : pr_perror("cannot read %s", path);
	while (!ret && fgets(line, sizeof(line), f)) {
		struct sockaddr_storage g;
		struct sockaddr_in *in = (struct sockaddr_in *)&g;
		unsigned grp;

		if (isdigit((unsigned char)line[0])) {
			if (sscanf(line, "%u %16s", &idx, dev) != 2)
				idx = 0;
			continue;
		}
		if (!idx || sscanf(line, " %x", &grp) != 1)
			continue;
		memset(&g, 0, sizeof(g));
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = grp;
		ret = add_group(idx, dev, &g);
	}
	fclose(f);
	return ret;
}

/* The IPv6 groups: "IDX DEV GROUP(32 hex digits) USERS FLAGS TIMER" (net/ipv6/mcast.c igmp6_mc_seq_show). */
static int load_v6(pid_t pid)
{
	char path[64], line[256], dev[IFNAMSIZ + 1], hex[33];
	int ret = 0;
	unsigned idx;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/net/igmp6", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : pr_perror("cannot read %s", path);
	while (!ret && fgets(line, sizeof(line), f)) {
		struct sockaddr_storage g;
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&g;

		if (sscanf(line, "%u %16s %32[0-9a-fA-F]", &idx, dev, hex) != 3 || strlen(hex) != 32)
			continue;
		memset(&g, 0, sizeof(g));
		in6->sin6_family = AF_INET6;
		for (int i = 0; i < 16; i++) {
			char b[3] = { hex[2 * i], hex[2 * i + 1], 0 };

			in6->sin6_addr.s6_addr[i] = strtoul(b, NULL, 16);
		}
		ret = add_group(idx, dev, &g);
	}
	fclose(f);
	return ret;
}

/* Whether sk joined group g (a sockaddr_in/in6) on interface ifindex; level IPPROTO_IP or IPPROTO_IPV6. */
static int joined(int sk, int level, unsigned ifindex, const struct sockaddr_storage *g)
{
	struct group_filter gf;
	socklen_t l = sizeof(gf);

	memset(&gf, 0, sizeof(gf));
	gf.gf_interface = ifindex;
	memcpy(&gf.gf_group, g, sizeof(*g));
	return getsockopt(sk, level, MCAST_MSFILTER, &gf, &l) == 0;
}

int udp_check_mcast(int sk, pid_t pid, int family, const char *what)
{
	if (groups_pid != pid) {
		free(groups);
		groups = NULL;
		nr_groups = 0;
		groups_pid = 0;
		if (load_v4(pid) || load_v6(pid))
			return pr_err("%s: cannot list the multicast groups of its network namespace", what);
		groups_pid = pid;
	}
	for (size_t i = 0; i < nr_groups; i++) {
		const struct group *g = &groups[i];
		int v6 = g->g.ss_family == AF_INET6;
		char a[INET6_ADDRSTRLEN] = "?";

		/* an IPv6 socket can join IPv4 groups too (MCAST_JOIN_GROUP at the IP level) */
		if (v6 && family != AF_INET6)
			continue;
		if (!joined(sk, v6 ? IPPROTO_IPV6 : IPPROTO_IP, g->ifindex, &g->g))
			continue;
		if (v6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&g->g)->sin6_addr, a, sizeof(a));
		else
			inet_ntop(AF_INET, &((const struct sockaddr_in *)&g->g)->sin_addr, a, sizeof(a));
		return pr_err("%s is a member of multicast group %s on %s (%s): memberships cannot be restored yet",
			      what, a, g->dev, v6 ? "IPV6_ADD_MEMBERSHIP" : "IP_ADD_MEMBERSHIP");
	}
	return 0;
}
