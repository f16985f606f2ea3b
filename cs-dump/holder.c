/*
 * The holder: a small process that keeps a target's userfaultfd open
 * between the checkpoints of a --track-mem series (closing its last
 * reference would unregister every VMA and forget what was written).
 *
 * The first --track-mem dump that leaves its target running starts it as
 * `cs-dump --holder` (a double fork, so init is its parent, then exec of
 * our own executable with the fds it needs), and it answers on a unix
 * seqpacket socket RUN_DIR/PID-STARTTIME.sock (RUN_DIR: $CS_RUN_DIR, else
 * /run/checksync). The start time (clock ticks after boot, /proc/PID/stat
 * field 22) keeps a reused PID from ever reaching the wrong holder.
 *
 * Each later dump connects, sends BEGIN, and gets the uffd (SCM_RIGHTS,
 * unix(7)) with the last complete checkpoint of the series; from then on
 * the holder's state is invalid, because the dump's scan resets what the
 * kernel remembers. Only a COMMIT sent after the image directory was
 * renamed into place makes it valid again, naming the new checkpoint. A
 * dump that fails or dies in between leaves it invalid: the next
 * checkpoint is full. A COMMIT may carry a new uffd, which replaces the
 * holder's: after an execve(2) the old one tracks an address space that
 * is gone. The holder watches the target with a pidfd and exits
 * when it exits, or on SIGTERM/SIGINT, removing its socket.
 * CRIU has no such process: its pre-dumps rely on soft-dirty bits, which
 * live in the page tables and need no one to hold them.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#define LOG_PREFIX "holder: "
#include "log.h"
#include "util.h"
#include "dump.h"

#define HOLD_MAGIC 0x43534844u
#define HOLD_TIMEOUT_S 10
enum { HOLD_BEGIN = 1, HOLD_STATE, HOLD_COMMIT, HOLD_OK };

/* fds of the holder after exec */
enum { HFD_UFFD = 3, HFD_PIDFD, HFD_LISTEN, HFD_READY, HFD_FIRST_FREE };

struct hold_msg {
	uint32_t magic, op;
	int32_t pid;
	uint32_t valid;
	uint64_t start_time;
	uint32_t seq;
	int32_t holder;
	char series[SERIES_LEN];
};

static const char *run_dir(void)
{
	const char *d = getenv("CS_RUN_DIR");

	return d && *d ? d : "/run/checksync";
}

/* RUN_DIR/PID-START.EXT; -1 when it does not fit a sockaddr_un. */
static int run_path(char *buf, size_t len, pid_t pid, uint64_t start_time, const char *ext)
{
	size_t n = snprintf(buf, len, "%s/%d-%llu.%s", run_dir(), pid, (unsigned long long)start_time, ext);

	if (n >= len || n >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return pr_err("run directory %s: path too long for a unix socket", run_dir());
	return 0;
}

static int send_msg(int s, struct hold_msg *m, int fd)
{
	union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
	struct iovec iov = { m, sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	m->magic = HOLD_MAGIC;
	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	return sendmsg(s, &mh, MSG_NOSIGNAL) == sizeof(*m) ? 0 : -1;
}

/* One message; *fd gets a passed fd (or -1). Returns 1, 0 at EOF, -1 on error or a bad message. */
static int recv_msg(int s, struct hold_msg *m, int *fd)
{
	union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
	struct iovec iov = { m, sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	ssize_t r;

	if (fd)
		*fd = -1;
	r = recvmsg(s, &mh, MSG_CMSG_CLOEXEC);
	if (r == 0)
		return 0;
	for (cm = CMSG_FIRSTHDR(&mh); r > 0 && cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			int got;

			memcpy(&got, CMSG_DATA(cm), sizeof(int));
			if (fd && *fd < 0)
				*fd = got;
			else
				close(got);
		}
	if (r != sizeof(*m) || m->magic != HOLD_MAGIC || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		if (fd && *fd >= 0)
			close(*fd);
		if (r >= 0)
			errno = EPROTO;
		return -1;
	}
	m->series[SERIES_LEN - 1] = 0;
	return 1;
}

/* ------------------------------------------------------------------ */
/* the dump's side */

int holder_begin(pid_t pid, uint64_t start_time, int *sock, int *uffd, struct hold_state *hs)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct timeval tv = { HOLD_TIMEOUT_S, 0 };
	struct hold_msg m = { .op = HOLD_BEGIN, .pid = pid, .start_time = start_time };
	struct stat st;
	int s, fd = -1;

	if (run_path(a.sun_path, sizeof(a.sun_path), pid, start_time, "sock"))
		return -1;
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return pr_perror("cannot create a unix socket");
	if (connect(s, (struct sockaddr *)&a, sizeof(a))) {
		int e = errno;

		close(s);
		if (e == ENOENT)
			return 0;
		if (e == ECONNREFUSED && lstat(a.sun_path, &st) == 0 && S_ISSOCK(st.st_mode)) {
			/* its holder is gone (killed): nothing tracks any more */
			pr_info("removing the stale holder socket %s", a.sun_path);
			unlink(a.sun_path);
			return 0;
		}
		errno = e;
		return pr_perror("cannot connect to the holder at %s", a.sun_path);
	}
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (send_msg(s, &m, -1) || recv_msg(s, &m, &fd) != 1 || m.op != HOLD_STATE || fd < 0) {
		pr_perror("the holder at %s does not answer", a.sun_path);
		if (fd >= 0)
			close(fd);
		close(s);
		return -1;
	}
	hs->valid = m.valid;
	hs->seq = m.seq;
	hs->holder = m.holder;
	snprintf(hs->series, sizeof(hs->series), "%s", m.series);
	*sock = s;
	*uffd = fd;
	pr_info("holder %d at %s: last checkpoint %s/%u%s", m.holder, a.sun_path, m.series, m.seq,
		m.valid ? "" : " (invalid: an interrupted checkpoint followed)");
	return 1;
}

int holder_commit(int sock, const char *series, uint32_t seq, int uffd)
{
	struct hold_msg m = { .op = HOLD_COMMIT, .seq = seq };

	snprintf(m.series, sizeof(m.series), "%s", series);
	if (send_msg(sock, &m, uffd) || recv_msg(sock, &m, NULL) != 1 || m.op != HOLD_OK)
		return pr_perror("the holder did not confirm checkpoint %s/%u", series, seq);
	return 0;
}

/* In the grandchild: put fd at number want (without FD_CLOEXEC). */
static void move_fd(int *fd, int want)
{
	if (*fd == want) {
		fcntl(want, F_SETFD, 0);
		return;
	}
	dup2(*fd, want);
	*fd = want;
}

int holder_start(pid_t pid, uint64_t start_time, int uffd, const char *series, uint32_t seq)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char path[sizeof(a.sun_path)], pid_s[16], start_s[24], seq_s[16], lvl_s[8];
	int ls = -1, pidfd = -1, ready[2] = { -1, -1 }, ret = -1;
	struct pollfd pfd;
	int32_t hpid = 0;
	pid_t child;

	if (run_path(path, sizeof(path), pid, start_time, "sock") ||
	    run_path(a.sun_path, sizeof(a.sun_path), pid, start_time, "sock.new"))
		return -1;
	if (mkdir(run_dir(), 0700) && errno != EEXIST)
		return pr_perror("cannot create the run directory %s", run_dir());
	ls = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (ls < 0 || pidfd < 0 || pipe2(ready, O_CLOEXEC)) {
		pr_perror("cannot set up the holder");
		goto out;
	}
	unlink(a.sun_path);
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 16)) {
		pr_perror("cannot listen on %s", a.sun_path);
		goto out;
	}
	snprintf(pid_s, sizeof(pid_s), "%d", pid);
	snprintf(start_s, sizeof(start_s), "%llu", (unsigned long long)start_time);
	snprintf(seq_s, sizeof(seq_s), "%u", seq);
	snprintf(lvl_s, sizeof(lvl_s), "%d", log_level());
	child = fork();
	if (child < 0) {
		pr_perror("cannot fork the holder");
		goto unlink;
	}
	if (child == 0) {
		int fds[4] = { uffd, pidfd, ls, ready[1] }, nul;

		setsid();
		if (fork())
			_exit(0);	/* the holder is reparented: never our zombie */
		cs_undefer_signals();	/* SIGTERM ends the holder at once */
		/* above every number it will use, then into place */
		for (int i = 0; i < 4; i++)
			fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 64);
		for (int i = 0; i < 4; i++)
			move_fd(&fds[i], HFD_UFFD + i);
		syscall(SYS_close_range, HFD_FIRST_FREE, ~0U, 0);
		nul = open("/dev/null", O_RDWR);
		for (int i = 0; i < 3 && nul >= 0; i++)
			dup2(nul, i);
		if (nul > 2)
			close(nul);
		execl("/proc/self/exe", "cs-dump", "--holder", pid_s, start_s, series, seq_s, path, lvl_s, (char *)NULL);
		_exit(127);
	}
	close(ready[1]);
	ready[1] = -1;
	waitpid(child, NULL, 0);
	/* the holder writes its PID once it serves, and the pipe closes on exec failure */
	pfd = (struct pollfd){ ready[0], POLLIN, 0 };
	if (poll(&pfd, 1, HOLD_TIMEOUT_S * 1000) != 1 || read(ready[0], &hpid, sizeof(hpid)) != sizeof(hpid)) {
		pr_err("the holder did not start");
		goto unlink;
	}
	if (rename(a.sun_path, path)) {
		pr_perror("cannot rename %s to %s", a.sun_path, path);
		kill(hpid, SIGTERM);
		goto unlink;
	}
	pr_info("holder %d keeps the memory tracking of %d at %s", hpid, pid, path);
	ret = 0;
	goto out;
unlink:
	unlink(a.sun_path);
out:
	for (int i = 0; i < 2; i++)
		if (ready[i] >= 0)
			close(ready[i]);
	if (ls >= 0)
		close(ls);
	if (pidfd >= 0)
		close(pidfd);
	return ret;
}

/* ------------------------------------------------------------------ */
/* the holder itself: cs-dump --holder PID START SERIES SEQ SOCKET LEVEL */

/* One request of the connected dump. Returns 1, or 0 when the connection is done. */
static int serve(int c, pid_t pid, uint64_t start_time, struct hold_msg *state, int *valid)
{
	struct hold_msg m;
	int fd, r = recv_msg(c, &m, &fd);

	if (r <= 0)
		return 0;
	if (fd >= 0 && m.op != HOLD_COMMIT) {
		close(fd);
		fd = -1;
	}
	if (m.op == HOLD_BEGIN && m.pid == pid && m.start_time == start_time) {
		state->op = HOLD_STATE;
		state->valid = *valid;
		state->holder = getpid();
		if (send_msg(c, state, HFD_UFFD) == 0) {
			/* the dump scans from here on: what the kernel remembers is reset */
			*valid = 0;
			pr_info("checkpoint after %s/%u begins", state->series, state->seq);
		}
	} else if (m.op == HOLD_COMMIT) {
		/* a new uffd: the process called execve, the old one tracks nothing */
		if (fd >= 0) {
			dup2(fd, HFD_UFFD);
			close(fd);
			pr_info("took a new userfaultfd");
		}
		snprintf(state->series, sizeof(state->series), "%s", m.series);
		state->seq = m.seq;
		*valid = 1;
		m.op = HOLD_OK;
		send_msg(c, &m, -1);
		pr_info("checkpoint %s/%u complete", m.series, m.seq);
	} else {
		pr_warn("unexpected request %u (pid %d)", m.op, m.pid);
		return 0;
	}
	return 1;
}

int holder_main(int argc, char **argv)
{
	struct hold_msg state = { 0 };
	char base[128], file[160];
	const char *sock;
	uint64_t start_time;
	int valid = 1, client = -1, sfd, level;
	pid_t pid, me = getpid();
	sigset_t ss;
	FILE *f;

	if (argc != 8)
		return fprintf(stderr, "cs-dump --holder is started by cs-dump --track-mem, not by hand\n"), 1;
	pid = parse_pid(argv[2]);
	start_time = strtoull(argv[3], NULL, 10);
	snprintf(state.series, sizeof(state.series), "%s", argv[4]);
	state.seq = strtoul(argv[5], NULL, 10);
	sock = argv[6];
	level = atoi(argv[7]);
	snprintf(base, sizeof(base), "%.*s", (int)(strlen(sock) - 5), sock);	/* without ".sock" */
	snprintf(file, sizeof(file), "%s.log", base);
	if (log_init(level, file))
		log_init(level, NULL);
	if (chdir("/"))
		pr_perror("chdir /");
	pr_info("holder %d for process %d (start time %llu), checkpoint %s/%u", me, pid,
		(unsigned long long)start_time, state.series, state.seq);
	snprintf(file, sizeof(file), "%s.pid", base);
	f = fopen(file, "we");
	if (f) {
		fprintf(f, "%d\n", me);
		fclose(f);
	}
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &ss, SFD_CLOEXEC);
	if (write(HFD_READY, &me, sizeof(me)) != sizeof(me))
		return 1;
	close(HFD_READY);

	for (;;) {
		struct pollfd p[3] = { { HFD_PIDFD, POLLIN, 0 }, { sfd, POLLIN, 0 },
				       { client >= 0 ? client : HFD_LISTEN, POLLIN, 0 } };

		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			pr_perror("poll");
			break;
		}
		if (p[0].revents) {
			pr_info("process %d exited", pid);
			break;
		}
		if (p[1].revents) {
			pr_info("stopped by a signal");
			break;
		}
		if (!p[2].revents)
			continue;
		if (client < 0) {
			struct ucred cr;
			socklen_t l = sizeof(cr);

			client = accept4(HFD_LISTEN, NULL, NULL, SOCK_CLOEXEC);
			if (client >= 0 && (getsockopt(client, SOL_SOCKET, SO_PEERCRED, &cr, &l) ||
					    (cr.uid != 0 && cr.uid != geteuid()))) {
				pr_warn("refusing a connection from uid %u", cr.uid);
				close(client);
				client = -1;
			}
			continue;
		}
		if (!serve(client, pid, start_time, &state, &valid)) {
			close(client);
			client = -1;
		}
	}
	/* a reused PID gets a new start time, so the name is ours alone */
	unlink(sock);
	snprintf(file, sizeof(file), "%s.pid", base);
	unlink(file);
	snprintf(file, sizeof(file), "%s.log", base);
	unlink(file);
	return 0;
}
