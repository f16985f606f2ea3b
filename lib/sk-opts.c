/* Simple socket options: see sk-opts.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#define LOG_PREFIX "sk-opts: "
#include "log.h"
#include "util.h"
#include "sk-opts.h"

#ifndef SO_PEEK_OFF
#define SO_PEEK_OFF 42
#endif

static int get_int(int sk, int name, int *v)
{
	socklen_t l = sizeof(*v);

	*v = 0;
	return getsockopt(sk, SOL_SOCKET, name, v, &l);
}

static int get_tv(int sk, int name, uint64_t *us)
{
	struct timeval tv = { 0, 0 };
	socklen_t l = sizeof(tv);

	if (getsockopt(sk, SOL_SOCKET, name, &tv, &l))
		return -1;
	*us = tv.tv_sec * 1000000ULL + tv.tv_usec;
	return 0;
}

int sk_opts_filter_refuse(int sk, const char *what)
{
	socklen_t l = 0;
	int locked;

	/* with no buffer, SO_GET_FILTER returns the filter's length in
	 * instructions (0: none); a filter attached with bpf(2) reads as
	 * EACCES, a filter all the same */
	if (getsockopt(sk, SOL_SOCKET, SO_GET_FILTER, NULL, &l) == 0 ? l != 0 : errno == EACCES)
		return pr_err("%s has a socket filter of its own (SO_ATTACH_FILTER/SO_ATTACH_BPF): "
			      "not supported (the restored socket would have none)", what);
	if (get_int(sk, SO_LOCK_FILTER, &locked) == 0 && locked)
		return pr_err("%s has its socket filter locked (SO_LOCK_FILTER): not supported", what);
	return 0;
}

SkOptsEntry *sk_opts_save(int sk, int inet)
{
	SkOptsEntry *o = xzalloc(sizeof(*o));
	int v[12];

	if (!o)
		return NULL;
	sk_opts_entry__init(o);
	/* SO_PASSCRED and SO_PASSSEC: unix sockets only (inet ones refuse them
	 * with EOPNOTSUPP since Linux 6.16) */
	if (get_int(sk, SO_SNDBUF, &v[0]) || get_int(sk, SO_RCVBUF, &v[1]) ||
	    (!inet && (get_int(sk, SO_PASSCRED, &v[2]) || get_int(sk, SO_PASSSEC, &v[3]))) ||
	    get_int(sk, SO_RCVLOWAT, &v[5]) ||
	    get_int(sk, SO_PRIORITY, &v[6]) || get_int(sk, SO_MARK, &v[7]) || get_int(sk, SO_TIMESTAMP, &v[8]) ||
	    get_tv(sk, SO_RCVTIMEO_OLD, &o->rcvtimeo_us) || get_tv(sk, SO_SNDTIMEO_OLD, &o->sndtimeo_us) ||
	    (inet && get_int(sk, SO_BROADCAST, &v[9]))) {
		pr_perror("cannot read the options of a socket");
		sk_opts_entry__free_unpacked(o, NULL);
		return NULL;
	}
	/* SO_PEEK_OFF: only where the protocol has it (EOPNOTSUPP otherwise) */
	o->has_peek_off = get_int(sk, SO_PEEK_OFF, &v[4]) == 0;
	o->has_sndbuf = o->has_rcvbuf = 1;
	o->has_passcred = o->has_passsec = !inet;
	o->has_rcvlowat = o->has_priority = o->has_mark = o->has_timestamp = 1;
	o->has_rcvtimeo_us = o->has_sndtimeo_us = 1;
	o->sndbuf = v[0];
	o->rcvbuf = v[1];
	o->passcred = !!v[2];
	o->passsec = !!v[3];
	o->peek_off = v[4];
	o->rcvlowat = v[5];
	o->priority = v[6];
	o->mark = v[7];
	o->timestamp = !!v[8];
	if (inet) {
		o->has_broadcast = 1;
		o->broadcast = !!v[9];
	}
	return o;
}

/* Set int option name to want unless sk has it already. */
static int put_int(int sk, int name, int want, const char *what, char *err, size_t len)
{
	int cur;

	if (get_int(sk, name, &cur) == 0 && cur == want)
		return 0;
	if (setsockopt(sk, SOL_SOCKET, name, &want, sizeof(want))) {
		snprintf(err, len, "cannot set %s to %d: %m", what, want);
		return -1;
	}
	return 0;
}

static int put_buf(int sk, int name, int force, uint32_t want, const char *what, char *err, size_t len)
{
	int cur, half = want / 2, e;

	if (get_int(sk, name, &cur) == 0 && (uint32_t)cur == want)
		return 0;
	if (setsockopt(sk, SOL_SOCKET, force, &half, sizeof(half)) == 0)
		return 0;
	e = errno;
	/* without CAP_NET_ADMIN: the plain option, capped at [rw]mem_max */
	if (e == EPERM && setsockopt(sk, SOL_SOCKET, name, &half, sizeof(half)) == 0 &&
	    get_int(sk, name, &cur) == 0 && (uint32_t)cur == want)
		return 0;
	errno = e;
	snprintf(err, len, "cannot set %s to %u: %m", what, want);
	return -1;
}

static int put_tv(int sk, int name, uint64_t us, const char *what, char *err, size_t len)
{
	struct timeval tv = { us / 1000000, us % 1000000 };
	uint64_t cur;

	if (get_tv(sk, name, &cur) == 0 && cur == us)
		return 0;
	if (setsockopt(sk, SOL_SOCKET, name, &tv, sizeof(tv))) {
		snprintf(err, len, "cannot set %s: %m", what);
		return -1;
	}
	return 0;
}

int sk_opts_apply(int sk, const SkOptsEntry *o, char *err, size_t len)
{
	if (!o)
		return 0;
	if ((o->has_sndbuf && put_buf(sk, SO_SNDBUF, SO_SNDBUFFORCE, o->sndbuf, "SO_SNDBUF", err, len)) ||
	    (o->has_rcvbuf && put_buf(sk, SO_RCVBUF, SO_RCVBUFFORCE, o->rcvbuf, "SO_RCVBUF", err, len)) ||
	    (o->has_passcred && put_int(sk, SO_PASSCRED, o->passcred, "SO_PASSCRED", err, len)) ||
	    (o->has_passsec && put_int(sk, SO_PASSSEC, o->passsec, "SO_PASSSEC", err, len)) ||
	    (o->has_rcvlowat && put_int(sk, SO_RCVLOWAT, o->rcvlowat, "SO_RCVLOWAT", err, len)) ||
	    (o->has_priority && put_int(sk, SO_PRIORITY, o->priority, "SO_PRIORITY", err, len)) ||
	    (o->has_mark && put_int(sk, SO_MARK, o->mark, "SO_MARK", err, len)) ||
	    (o->has_timestamp && put_int(sk, SO_TIMESTAMP, o->timestamp, "SO_TIMESTAMP", err, len)) ||
	    (o->has_broadcast && put_int(sk, SO_BROADCAST, o->broadcast, "SO_BROADCAST", err, len)) ||
	    (o->has_rcvtimeo_us && put_tv(sk, SO_RCVTIMEO_OLD, o->rcvtimeo_us, "SO_RCVTIMEO", err, len)) ||
	    (o->has_sndtimeo_us && put_tv(sk, SO_SNDTIMEO_OLD, o->sndtimeo_us, "SO_SNDTIMEO", err, len)))
		return -1;
	return 0;
}

int sk_opts_peek_off(int sk, const SkOptsEntry *o, char *err, size_t len)
{
	if (!o || !o->has_peek_off || o->peek_off < 0)
		return 0;
	return put_int(sk, SO_PEEK_OFF, o->peek_off, "SO_PEEK_OFF", err, len);
}
