#!/usr/bin/env bats
# t000-cli.bats - the command lines of cs-dump, cs-restore and cs-show, and
# the bad input both tools must refuse without harm: usage errors, a PID
# that does not exist or may not be traced, a non-empty images directory, a
# corrupt image, a PID taken at restore, a missing images directory.
#
# The refusal of an image whose saved xsave feature mask this CPU lacks needs
# an image editor that reseals the checksum; that test lives elsewhere.
#
# The target is the Go key/value server (test/go) with a small preload: it
# answers over TCP, so "still running" also means "still working".

load helpers

CS_DUMP_OPTS=(-t --tree -p --pid -D --images-dir -R --leave-running --tcp-close
	--tcp-established --network-lock --ext-unix-sk -j --shell-job --file-locks --ghost-limit --link-remap --display-stats --runtime --gc-align
	--track-mem --prev-images-dir -v --verbosity -o --log-file -h --help -V --version)
CS_RESTORE_OPTS=(-D --images-dir -d --restore-detached -j --shell-job --file-locks --file-validation --pidfile
	--tcp-established --network-lock --timens --no-timens --lower-rlimits --inherit-fd --manage-cgroups --cgroup-root
	-v --verbosity -o --log-file -h --help -V --version)
CS_SHOW_OPTS=(-h --help -V --version --no-verify)

# run_tool BIN ARGS...: run it with stdout and stderr in $T/out and $T/err;
# sets ST.
run_tool() {
	ST=0
	"$@" </dev/null >"$T/out" 2>"$T/err" 3>&- || ST=$?
	{ echo "\$ $*  (status $ST)"; sed 's/^/  stdout: /' "$T/out"; sed 's/^/  stderr: /' "$T/err"; } \
		>>"$T/prog-cli.out"
}

# expect_fail_one_line BIN ARGS...: status 1, nothing on stdout, exactly one
# line on stderr.
expect_fail_one_line() {
	run_tool "$@"
	if [ "$ST" != 1 ]; then
		echo "$*: exit status $ST, want 1" >&2
		return 1
	fi
	if [ -s "$T/out" ]; then
		echo "$*: wrote to stdout: $(head -n 3 "$T/out")" >&2
		return 1
	fi
	if [ "$(wc -l <"$T/err")" != 1 ]; then
		echo "$*: want one line on stderr, got $(wc -l <"$T/err"):" >&2
		cat "$T/err" >&2
		return 1
	fi
}

# check_help NAME OPTS...: NAME --help and -h exit 0 and mention every option.
check_help() {
	local bin=$1 name=${1##*/} opt flag missing=
	shift
	for flag in --help -h; do
		run_tool "$bin" "$flag"
		[ "$ST" = 0 ] || { echo "$name $flag: exit status $ST, want 0" >&2; return 1; }
		for opt in "$@"; do
			grep -qE -- "(^|[^[:alnum:]-])$opt([^[:alnum:]-]|\$)" "$T/out" || missing="$missing $opt"
		done
		if [ -n "$missing" ]; then
			echo "$name $flag does not mention:$missing" >&2
			return 1
		fi
	done
}

# check_version NAME: --version and -V exit 0 and print "NAME VERSION".
check_version() {
	local bin=$1 name=${1##*/} flag
	for flag in --version -V; do
		run_tool "$bin" "$flag"
		[ "$ST" = 0 ] || { echo "$name $flag: exit status $ST, want 0" >&2; return 1; }
		grep -qE "^$name [0-9]+\.[0-9]+" "$T/out" || {
			echo "$name $flag printed: $(cat "$T/out")" >&2
			return 1
		}
	done
}

# No hidden partial directory (.NAME.partial-*) in directory $1.
no_partial_dir() {
	local left
	left=$(find "$1" -maxdepth 1 -name '.*.partial-*' 2>/dev/null)
	if [ -n "$left" ]; then
		echo "partial directory left behind: $left" >&2
		return 1
	fi
}

# The target kept running (not stopped, not traced) and still serves.
target_unharmed() {
	local st tracer
	st=$(proc_state "$PID") || { echo "process $PID is gone" >&2; return 1; }
	case $st in
	S|R) ;;
	*) echo "process $PID is in state $st" >&2; return 1 ;;
	esac
	tracer=$(awk '/^TracerPid:/ { print $2 }' "/proc/$PID/status")
	[ "$tracer" = 0 ] || { echo "process $PID is still traced by $tracer" >&2; return 1; }
	kv_answers
	kvc -check 1000
}

# A PID that exists nowhere right now.
absent_pid() {
	local p max
	max=$(cat /proc/sys/kernel/pid_max)
	for ((p = max - 1; p > max - 1000; p--)); do
		[ -e "/proc/$p" ] || { echo "$p"; return 0; }
	done
	return 1
}

@test "cli: --help and --version of cs-dump, cs-restore and cs-show" {
	[ -x "$CS_SHOW" ] || skip "cs-show is not built in $CS_BUILDDIR"
	require_cs
	check_help "$CS_DUMP" "${CS_DUMP_OPTS[@]}"
	check_help "$CS_RESTORE" "${CS_RESTORE_OPTS[@]}"
	check_help "$CS_SHOW" "${CS_SHOW_OPTS[@]}"
	check_version "$CS_DUMP"
	check_version "$CS_RESTORE"
	check_version "$CS_SHOW"
}

@test "cli: usage errors exit 1 with one line on stderr and create nothing" {
	require_cs
	local d=$T/img bad=0
	# every case is tried, then the test fails if any was wrong
	expect_fail_one_line "$CS_DUMP" --no-such-option -t 1 -D "$d" || bad=1
	expect_fail_one_line "$CS_DUMP" -t 1 || bad=1
	expect_fail_one_line "$CS_DUMP" -D "$d" || bad=1
	expect_fail_one_line "$CS_DUMP" -t abc -D "$d" || bad=1
	expect_fail_one_line "$CS_DUMP" -t 0 -D "$d" || bad=1
	expect_fail_one_line "$CS_DUMP" -t -5 -D "$d" || bad=1
	expect_fail_one_line "$CS_DUMP" -p 12x -D "$d" || bad=1
	expect_fail_one_line "$CS_DUMP" -t 99999999999999 -D "$d" || bad=1
	expect_fail_one_line "$CS_DUMP" -t 1 -D "$d" stray-argument || bad=1
	expect_fail_one_line "$CS_DUMP" -t 1 -D "$d" --runtime=java || bad=1
	expect_fail_one_line "$CS_DUMP" -t 1 -D "$d" --gc-align=0 || bad=1
	expect_fail_one_line "$CS_DUMP" -t 1 -D "$d" --gc-align=60001 || bad=1
	expect_fail_one_line "$CS_DUMP" -t 1 -D "$d" --gc-align=5s || bad=1
	expect_fail_one_line "$CS_DUMP" -t 1 -D "$d" --gc-align=-1 || bad=1
	expect_fail_one_line "$CS_DUMP" -t 1 -D "$d" --gc-align=100 --runtime=none || bad=1
	expect_fail_one_line "$CS_DUMP" -t 1 -D "$d" --network-lock=iptables || bad=1
	expect_fail_one_line "$CS_DUMP" -t 1 -D "$d" --network-lock || bad=1
	expect_fail_one_line "$CS_RESTORE" --no-such-option -D "$d" || bad=1
	expect_fail_one_line "$CS_RESTORE" -D "$d" --network-lock=none || bad=1
	expect_fail_one_line "$CS_RESTORE" || bad=1
	expect_fail_one_line "$CS_RESTORE" -d || bad=1
	expect_fail_one_line "$CS_RESTORE" -D "$d" stray-argument || bad=1
	[ ! -e "$d" ] || { echo "$d was created" >&2; bad=1; }
	no_partial_dir "$T" || bad=1
	if [ -x "$CS_SHOW" ]; then
		run_tool "$CS_SHOW" --no-such-option
		[ "$ST" = 1 ] || { echo "cs-show --no-such-option: status $ST, want 1" >&2; bad=1; }
		run_tool "$CS_SHOW"
		[ "$ST" = 1 ] || { echo "cs-show without DIR: status $ST, want 1" >&2; bad=1; }
	fi
	[ $bad = 0 ]
}

@test "cli: cs-dump of a nonexistent PID fails with \"no process\"" {
	require_cs
	local p
	p=$(absent_pid)
	expect_fail_one_line "$CS_DUMP" -t "$p" -D "$T/img"
	grep -q "no process" "$T/err" || { echo "no \"no process\" in: $(cat "$T/err")" >&2; return 1; }
	grep -qw "$p" "$T/err" || { echo "the error does not name PID $p" >&2; return 1; }
	[ ! -e "$T/img" ]
	no_partial_dir "$T"
}

@test "cli: cs-dump refuses an existing non-empty images dir and leaves it untouched" {
	require_cs
	require_go
	start_kvserver -preload 1000
	mkdir "$T/img"
	echo "an earlier checkpoint" >"$T/img/inventory.img"
	echo keep >"$T/img/notes"
	local before after
	before=$(cd "$T/img" && stat -c '%n %F %s %y %z' . * && md5sum inventory.img notes)
	run_tool "$CS_DUMP" -t "$PID" -D "$T/img"
	[ "$ST" = 1 ] || { echo "status $ST, want 1" >&2; return 1; }
	grep -qi "not empty" "$T/err" || { echo "no \"not empty\" in: $(cat "$T/err")" >&2; return 1; }
	after=$(cd "$T/img" && stat -c '%n %F %s %y %z' . * && md5sum inventory.img notes)
	[ "$before" = "$after" ] || { echo "the images dir changed:"; diff <(echo "$before") <(echo "$after"); } >&2
	[ "$before" = "$after" ]
	no_partial_dir "$T"
	# a regular file where the directory should be
	echo x >"$T/file"
	run_tool "$CS_DUMP" -t "$PID" -D "$T/file"
	[ "$ST" = 1 ] || { echo "-D a regular file: status $ST, want 1" >&2; return 1; }
	[ "$(cat "$T/file")" = x ]
	no_partial_dir "$T"
	target_unharmed
}

@test "cli: cs-dump run as an unprivileged user cannot dump a root process, which keeps running" {
	require_cs
	require_go
	[ "$(id -u)" = 0 ] || skip "needs root to run a root-owned target and setpriv"
	command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
	local nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	"${nobody[@]}" test -x "$CS_DUMP" ||
		skip "user 65534 cannot execute $CS_DUMP (a parent directory is not searchable)"
	start_kvserver -preload 1000
	# a directory the unprivileged user may write into, so that the ptrace
	# refusal is what is tested, not the images directory
	chmod o+x "$T"
	mkdir "$T/nobody"
	chown 65534 "$T/nobody"
	run_tool "${nobody[@]}" "$CS_DUMP" -t "$PID" -D "$T/nobody/img"
	[ "$ST" = 1 ] || { echo "status $ST, want 1" >&2; return 1; }
	grep -qw "$PID" "$T/err" || { echo "the error does not name PID $PID: $(cat "$T/err")" >&2; return 1; }
	[ ! -e "$T/nobody/img" ] || { echo "$T/nobody/img was created" >&2; return 1; }
	no_partial_dir "$T/nobody"
	target_unharmed
}

@test "cli: cs-restore refuses an image with a flipped byte in any file, leaving no process" {
	require_cs
	require_go
	start_kvserver -preload 1000
	dump_killed
	local f name size off n=0
	for f in "$T"/img/*.img; do
		name=${f##*/}
		size=$(stat -c %s "$f")
		for off in 0 $((size / 2)) $((size - 1)); do
			rm -rf "$T/bad"
			cp -a "$T/img" "$T/bad"
			flip_byte "$T/bad/$name" "$off"
			run_tool "$CS_RESTORE" -D "$T/bad" -d
			if [ "$ST" != 1 ]; then
				echo "$name with byte $off flipped: cs-restore status $ST, want 1" >&2
				return 1
			fi
			if ! grep -qiE "checksum|corrupt" "$T/err"; then
				echo "$name with byte $off flipped: no checksum/corrupt error in: $(cat "$T/err")" >&2
				return 1
			fi
			if [ -e "/proc/$PID" ]; then
				echo "$name with byte $off flipped: PID $PID exists after the refused restore" >&2
				return 1
			fi
			n=$((n + 1))
		done
	done
	[ $n -ge 18 ] || { echo "only $((n / 3)) image files in $T/img" >&2; return 1; }
	# the unflipped images restore: the refusals were due to the flips
	kv_restore_d "$T/img"
	kv_answers
	kvc -check 1000
}

@test "cli: cs-restore refuses while the PID is taken, naming it; the original keeps running" {
	require_cs
	require_go
	start_kvserver -preload 1000
	kv_dump "$T/img" -R
	[ "$DUMP_ST" = 0 ] || { echo "cs-dump -R failed with status $DUMP_ST" >&2; return 1; }
	run_tool "$CS_RESTORE" -D "$T/img" -d
	[ "$ST" = 1 ] || { echo "status $ST, want 1" >&2; return 1; }
	grep -qw "$PID" "$T/err" || { echo "the error does not name PID $PID: $(cat "$T/err")" >&2; return 1; }
	target_unharmed
}

@test "cli: cs-restore of a missing images dir exits 1" {
	require_cs
	expect_fail_one_line "$CS_RESTORE" -D "$T/no-such-dir"
	grep -qF "$T/no-such-dir" "$T/err" || { echo "the error does not name the directory: $(cat "$T/err")" >&2; return 1; }
	[ ! -e "$T/no-such-dir" ]
	run_tool "$CS_RESTORE" -D "$T/no-such-dir" -d
	[ "$ST" = 1 ]
}

@test "cli: cs-restore refuses an image whose xsave features this CPU lacks, creating nothing" {
	require_cs
	require_go
	command -v jq >/dev/null || skip "jq is not installed"
	local edit=$CS_BUILDDIR/test/c/img-edit saved missing= bit
	[ -x "$edit" ] || skip "img-edit is not built"
	start_kvserver -preload 1000
	kv_dump "$T/img"
	[ "$DUMP_ST" = 0 ] || { echo "cs-dump failed with status $DUMP_ST" >&2; return 1; }
	wait_pid_gone "$PID"
	# the dumping kernel's XCR0 is saved per thread: add a bit outside it
	saved=$("$CS_SHOW" "$T/img" | jq ".images[\"core-$PID.img\"][0].xfeatures")
	for bit in 18 17 12 11 7 6 5; do
		if [ $(( saved & (1 << bit) )) = 0 ]; then missing=$((1 << bit)); break; fi
	done
	[ -n "$missing" ] || skip "every xsave feature bit tried is enabled on this CPU"
	"$edit" "$T/img" or-xfeatures "$PID" "$missing"
	"$CS_SHOW" "$T/img" >/dev/null || { echo "the edited image does not verify" >&2; return 1; }
	run_tool "$CS_RESTORE" -D "$T/img" -d
	[ "$ST" = 1 ] || { echo "status $ST, want 1" >&2; return 1; }
	grep -q "xsave features" "$T/err" || { echo "unexpected error: $(cat "$T/err")" >&2; return 1; }
	[ "$(wc -l < "$T/err")" = 1 ] || { echo "more than one line: $(cat "$T/err")" >&2; return 1; }
	[ ! -e "/proc/$PID" ] || { echo "a process $PID exists after the refused restore" >&2; return 1; }
}
