#!/usr/bin/env bats
# t910-ha-scripts.bats - the logic of the contrib HA scripts on one host:
# checksync-checkpoint (names, latest, chains of K, keeping N chains, a failed
# dump, two runs at once), checksync-ship (marker last, a failed shipment
# made good by the next run) and checksync-failover (only whole shipped
# chains are restored, and only once). t900-ha.bats runs them end to end
# between two network namespaces.
#
# The target is the regs test program: small, so a dump takes a few tens of
# milliseconds. Chains are exercised with a cs-dump wrapper that lists
# --track-mem in its --help, records the options it was given, checks that
# --prev-images-dir names a complete checkpoint, and runs the real cs-dump:
# with the options when it has them, else without (every checkpoint is then
# a full one, which the chain logic cannot tell from an incremental one).

load helpers

CKPT=$CS_SRCDIR/contrib/checksync-checkpoint
SHIP=$CS_SRCDIR/contrib/checksync-ship
FAILOVER=$CS_SRCDIR/contrib/checksync-failover
MAN=$CS_SRCDIR/man/checksync-ha.7

# A directory copy on this host standing in for rsync to the standby.
LOCAL_COPY='mkdir -p {dst} && cp -a {src}/. {dst}/'

setup() {
	cs_setup
	ROOT=$T/root
	STANDBY=$T/standby
	mkdir -p "$STANDBY"
}

# make_wrapper: $T/cs-dump-track, the cs-dump that claims --track-mem. Its
# record, one line per run, goes to $T/wrapper.log; WRAP_AFTER, if set, is
# run after the real dump (before the wrapper returns).
make_wrapper() {
	cat >"$T/cs-dump-track" <<EOF
#!/bin/bash
real=$CS_DUMP
log=$T/wrapper.log
EOF
	cat >>"$T/cs-dump-track" <<'EOF'
if [ "${1:-}" = --help ]; then
	"$real" --help
	echo "      --track-mem        (test wrapper: accepted and dropped)"
	exit 0
fi
# a cs-dump that has --track-mem gets the options; an older one does not
pass=0
"$real" --help | grep -q -e --track-mem && pass=1
args=() track=0 prev='' dir=''
while [ $# -gt 0 ]; do
	case $1 in
	--track-mem) track=1; [ $pass = 0 ] || args+=("$1") ;;
	--prev-images-dir) prev=$2; [ $pass = 0 ] || args+=("$1" "$2"); shift ;;
	-D) dir=$2; args+=("$1" "$2"); shift ;;
	*) args+=("$1") ;;
	esac
	shift
done
echo "begin=${EPOCHREALTIME//[!0-9]/} dir=${dir##*/} track=$track prev=$prev" >>"$log"
if [ -n "$prev" ] && [ ! -f "${dir%/*}/${prev#../}/checkpoint.info" ]; then
	echo "cs-dump: --prev-images-dir $prev is not a complete checkpoint" >&2
	exit 1
fi
st=0
if [ -n "${WRAP_FULL:-}" ]; then
	# as a cs-dump that lost the tracking: a full checkpoint, said in the statistics
	"$real" "${args[@]}" 2>"$dir.wrap-err" || st=$?
	sed 's/^cs-dump: freeze_us=.*/& checkpoint=full/' "$dir.wrap-err" >&2
	rm -f "$dir.wrap-err"
else
	"$real" "${args[@]}" || st=$?
fi
[ -z "${WRAP_AFTER:-}" ] || eval "$WRAP_AFTER"
echo "end=${EPOCHREALTIME//[!0-9]/} dir=${dir##*/} status=$st" >>"$log"
exit $st
EOF
	chmod +x "$T/cs-dump-track"
}

# ckpt ARGS...: one checksync-checkpoint run of $PID into $ROOT, log in
# $T/ckpt.log, cs-dump's log of the last run in $T/dump.log (shown when the
# test fails); sets ST, stderr in $T/ckpt.err.
ckpt() {
	ST=0
	"$CKPT" -t "$PID" -D "$ROOT" -l "$T/ckpt.log" --cs-dump "${CS_DUMP_BIN:-$CS_DUMP}" --dump-log "$T/dump.log" "$@" \
		</dev/null >"$T/ckpt.out" 2>"$T/ckpt.err" 3>&- || ST=$?
	cat "$T/ckpt.err" >>"$T/prog-ckpt.out"
}

ckpt_ok() {
	ckpt "$@"
	if [ "$ST" != 0 ]; then
		echo "checksync-checkpoint $* failed with status $ST: $(cat "$T/ckpt.err")" >&2
		return 1
	fi
}

# The checkpoint directories in $1 (default $ROOT), oldest first.
names() {
	local d
	for d in "${1:-$ROOT}"/2*Z; do
		[ -d "$d" ] && echo "${d##*/}"
	done
	return 0
}

latest() {
	readlink "$ROOT/latest"
}

# info NAME KEY: one field of NAME's checkpoint.info
info() {
	sed -n "s/^$2=//p" "$ROOT/$1/checkpoint.info"
}

# last_log KEY: the field KEY of the last line of $T/ckpt.log
last_log() {
	tail -n 1 "$T/ckpt.log" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

expect_count() {
	local n
	n=$(names "${2:-$ROOT}" | wc -l)
	if [ "$n" != "$1" ]; then
		echo "want $1 checkpoints in ${2:-$ROOT}, have $n: $(names "${2:-$ROOT}" | tr '\n' ' ')" >&2
		return 1
	fi
}

# Every incremental checkpoint's parent is there and complete.
chains_whole() {
	local n p
	for n in $(names); do
		p=$(info "$n" parent)
		[ -z "$p" ] || [ -f "$ROOT/${p#../}/checkpoint.info" ] || {
			echo "$n depends on $p, which is gone" >&2
			return 1
		}
	done
}

@test "ha: --help of the three scripts and checksync-ha(7) name the same options" {
	local s opt missing=
	[ -f "$MAN" ] || { echo "$MAN is missing" >&2; return 1; }
	sed 's/\\-/-/g' "$MAN" >"$T/man.txt"
	for s in "$CKPT" "$SHIP" "$FAILOVER"; do
		"$s" --help >"$T/help" || { echo "${s##*/} --help failed" >&2; return 1; }
		"$s" -h | cmp -s - "$T/help" || { echo "${s##*/} -h differs from --help" >&2; return 1; }
		grep -q "${s##*/}" "$T/man.txt" || missing="$missing ${s##*/}"
		for opt in $(grep -oE '(^|[ ,])--?[a-zA-Z][a-zA-Z-]*' "$T/help" | tr -d ' ,' | sort -u); do
			grep -qE -- "(^|[^[:alnum:]-])$opt([^[:alnum:]-]|\$)" "$T/man.txt" || missing="$missing ${s##*/}:$opt"
		done
	done
	[ -z "$missing" ] || { echo "not in checksync-ha(7):$missing" >&2; return 1; }
	# usage errors: status 2
	"$CKPT" -D "$ROOT" 2>/dev/null && return 1
	st=0; "$CKPT" -D "$ROOT" -t 1 --no-such-option 2>/dev/null || st=$?
	[ $st = 2 ]
	st=0; "$FAILOVER" -D "$STANDBY" 2>/dev/null || st=$?
	[ $st = 2 ]
}

@test "ha: checkpoint writes TIMESTAMP dirs, moves latest, keeps the newest N (full dumps, -K 1)" {
	require_cs
	start_prog regs
	local i prev='' n
	for i in 1 2 3 4; do
		ckpt_ok -K 1 -N 2
		n=$(latest)
		[[ $n =~ ^[0-9]{8}T[0-9]{6}\.[0-9]{6}Z$ ]] || { echo "latest -> '$n'" >&2; return 1; }
		[[ $n > $prev ]] || { echo "checkpoint $i ($n) does not sort after $prev" >&2; return 1; }
		prev=$n
		[ "$(info "$n" kind)" = full ]
		[ "$(last_log status)" = ok ]
		[ "$(last_log dir)" = "$ROOT/$n" ]
		[ "$(last_log kind)" = full ]
		[[ $(last_log frozen_us) =~ ^[0-9]+$ ]]
		[[ $(last_log bytes) =~ ^[0-9]+$ ]]
		[ -f "$ROOT/$n/inventory.img" ]
		expect_count $((i < 2 ? i : 2))
	done
	[ "$(wc -l <"$T/ckpt.log")" = 4 ]
	[ ! -s "$T/ckpt.err" ]
	# the newest survives; no leftovers
	[ "$(names | tail -n 1)" = "$(latest)" ]
	[ -z "$(find "$ROOT" -maxdepth 1 -name '.*partial*')" ]
	# the pidfile form, from a --config file; the lines after "--" go to cs-dump
	echo "$PID" >"$T/pidfile"
	printf '%s\n' "# a comment" "--pidfile=$T/pidfile" "  -D" "$ROOT" "" "--keep=2" "--full-every=1" "--log=$T/cfg.log" \
		"--cs-dump=$CS_DUMP" -- "--runtime=nonsense" >"$T/cfg"
	"$CKPT" --config "$T/cfg" 2>"$T/ckpt.err" && return 1
	grep -q 'runtime' "$T/cfg.log"
	[ "$(latest)" = "$prev" ]
	sed -i '$d' "$T/cfg"
	"$CKPT" --config "$T/cfg" --lock-wait 5 2>"$T/ckpt.err"
	[ "$(latest)" != "$prev" ]
	grep -q "pid=$PID .*status=ok" "$T/cfg.log"
	kill -0 "$PID"
}

@test "ha: chains of K (full, then K-1 incrementals on latest), N whole chains kept" {
	require_cs
	start_prog regs
	make_wrapper
	CS_DUMP_BIN=$T/cs-dump-track
	local i kinds='' want counts='' n p
	for i in 1 2 3 4 5 6 7 8; do
		p=$(latest 2>/dev/null) || p=''
		ckpt_ok -K 3 -N 2
		n=$(latest)
		kinds="$kinds $(info "$n" kind)"
		counts="$counts $(names | wc -l)"
		chains_whole
		# the wrapper saw --track-mem every time, and the parent as ../latest
		if [ "$(info "$n" kind)" = incremental ]; then
			[ "$(info "$n" parent)" = "../$p" ]
			grep -q "dir=$n track=1 prev=../$p\$" "$T/wrapper.log"
			[ "$(last_log parent)" = "$p" ]
		else
			grep -q "dir=$n track=1 prev=\$" "$T/wrapper.log"
			[ "$(info "$n" chain)" = "$n" ]
		fi
	done
	want=" full incremental incremental full incremental incremental full incremental"
	[ "$kinds" = "$want" ] || { echo "kinds:$kinds, want$want" >&2; return 1; }
	# chain 1 goes when chain 3 starts: 1 2 3 4 5 6 4 5
	[ "$counts" = " 1 2 3 4 5 6 4 5" ] || { echo "counts:$counts" >&2; return 1; }

	# N=1: the one chain kept is whole, incrementals included
	ROOT=$T/root1
	counts=''
	for i in 1 2 3 4 5; do
		ckpt_ok -K 3 -N 1
		counts="$counts $(names | wc -l)"
		chains_whole
	done
	[ "$counts" = " 1 2 3 1 2" ] || { echo "N=1 counts:$counts" >&2; return 1; }

	# cs-dump says it took a full checkpoint although asked for an
	# incremental one: a new chain starts there
	ckpt_ok -K 3 -N 1
	[ "$(info "$(latest)" kind)" = incremental ]
	WRAP_FULL=1 ckpt_ok -K 3 -N 1
	[ "$(info "$(latest)" kind)" = full ]
	[ "$(info "$(latest)" parent)" = "" ]
	[ "$(last_log kind)" = full ]
	expect_count 1

	# K=1: always full
	ROOT=$T/root2
	for i in 1 2; do
		ckpt_ok -K 1
		[ "$(info "$(latest)" kind)" = full ]
	done

	# another process: a new chain
	ROOT=$T/root1
	start_prog regs
	ckpt_ok -K 3 -N 1
	[ "$(info "$(latest)" kind)" = full ]
	[ "$(info "$(latest)" pid)" = "$PID" ]
}

@test "ha: latest moves only once the checkpoint is complete" {
	require_cs
	start_prog regs
	make_wrapper
	CS_DUMP_BIN=$T/cs-dump-track
	ckpt_ok
	local old new i
	old=$(latest)
	WRAP_AFTER="touch $T/dumped; sleep 1" ckpt &
	for ((i = 0; i < 100; i++)); do
		[ -e "$T/dumped" ] && break
		sleep 0.05
	done
	[ -e "$T/dumped" ]
	# cs-dump has renamed its directory into place, the script has not finished
	new=$(names | tail -n 1)
	[ "$new" != "$old" ]
	[ "$(latest)" = "$old" ]
	[ ! -e "$ROOT/$new/checkpoint.info" ]
	wait $!
	[ "$(latest)" = "$new" ]
	[ -f "$ROOT/$new/checkpoint.info" ]
	[ "$(info "$new" kind)" = incremental ]
}

@test "ha: a failed dump leaves latest as it was, logs one error, and the next one is full" {
	require_cs
	start_prog regs
	make_wrapper
	CS_DUMP_BIN=$T/cs-dump-track
	ckpt_ok -K 5
	ckpt_ok -K 5
	local old
	old=$(latest)
	[ "$(info "$old" kind)" = incremental ]

	CS_FAULT=write ckpt -K 5
	[ "$ST" = 1 ]
	[ "$(wc -l <"$T/ckpt.err")" = 1 ] || { cat "$T/ckpt.err" >&2; return 1; }
	grep -q 'cs-dump -t [0-9]* failed with status 1: .*fault injection: step write fails' "$T/ckpt.err"
	tail -n 1 "$T/ckpt.log" | grep -q 'status=error: cs-dump .* failed'
	[ "$(latest)" = "$old" ]
	expect_count 2
	[ -z "$(find "$ROOT" -maxdepth 1 -name '.*partial*')" ]
	kill -0 "$PID"

	# a cs-dump that dies half-way leaves its hidden partial directory: the
	# run removes it
	CS_FAULT=exit:write ckpt -K 5
	[ "$ST" = 1 ]
	grep -q 'failed with status 42' "$T/ckpt.err"
	[ "$(latest)" = "$old" ]
	[ -z "$(find "$ROOT" -maxdepth 1 -name '.*partial*')" ]
	# what a run killed with cs-dump leaves, the next run removes (even one
	# dated in the future: only complete checkpoints count for the order)
	mkdir "$ROOT/.20200101T000000.000000Z.partial-99999" "$ROOT/20200101T000001.000000Z" \
		"$ROOT/29990101T000000.000000Z"
	touch "$ROOT/.20200101T000000.000000Z.partial-99999/pages.img" "$ROOT/20200101T000001.000000Z/pages.img" \
		"$ROOT/29990101T000000.000000Z/pages.img"

	ckpt_ok -K 5
	[ "$(info "$(latest)" kind)" = full ]   # after a failure, never an incremental
	[ -z "$(find "$ROOT" -maxdepth 1 -name '.*partial*')" ]
	[ ! -e "$ROOT/20200101T000001.000000Z" ] && [ ! -e "$ROOT/29990101T000000.000000Z" ]
	ckpt_ok -K 5
	[ "$(info "$(latest)" kind)" = incremental ]

	# a process that is gone: one line, latest unchanged
	old=$(latest)
	"$CKPT" -t "$(absent_pid_here)" -D "$ROOT" --cs-dump "$CS_DUMP" 2>"$T/ckpt.err" && return 1
	[ "$(wc -l <"$T/ckpt.err")" = 1 ]
	grep -q 'no process with PID' "$T/ckpt.err"
	[ "$(latest)" = "$old" ]
}

absent_pid_here() {
	local p max
	max=$(cat /proc/sys/kernel/pid_max)
	for ((p = max - 1; p > max - 1000; p--)); do
		[ -e "/proc/$p" ] || { echo "$p"; return 0; }
	done
	return 1
}

@test "ha: two checkpoint runs at once are serialized" {
	require_cs
	start_prog regs
	make_wrapper
	CS_DUMP_BIN=$T/cs-dump-track
	local p1 p2 p3 st=0
	WRAP_AFTER="sleep 0.4" "$CKPT" -t "$PID" -D "$ROOT" -l "$T/ckpt.log" --cs-dump "$T/cs-dump-track" 2>"$T/e1" &
	p1=$!
	WRAP_AFTER="sleep 0.4" "$CKPT" -t "$PID" -D "$ROOT" -l "$T/ckpt.log" --cs-dump "$T/cs-dump-track" 2>"$T/e2" &
	p2=$!
	WRAP_AFTER="sleep 0.4" "$CKPT" -t "$PID" -D "$ROOT" -l "$T/ckpt.log" --cs-dump "$T/cs-dump-track" 2>"$T/e3" &
	p3=$!
	sleep 0.2
	# one that will not wait
	"$CKPT" -t "$PID" -D "$ROOT" --lock-wait 0 --cs-dump "$T/cs-dump-track" 2>"$T/e4" && return 1
	grep -q 'another checkpoint is running' "$T/e4"
	wait $p1 || st=1
	wait $p2 || st=1
	wait $p3 || st=1
	[ $st = 0 ] || { cat "$T"/e[123] >&2; return 1; }
	expect_count 3
	[ "$(grep -c 'status=ok' "$T/ckpt.log")" = 3 ]
	# in the wrapper's record, every begin follows the previous end
	awk '/^begin=/ { split($1, b, "="); if (b[2] < last) bad = 1 }
	     /^end=/ { split($1, e, "="); last = e[2] }
	     END { exit bad }' "$T/wrapper.log" || { cat "$T/wrapper.log" >&2; return 1; }
	# and they formed one chain
	[ "$(names | head -n 1)" = "$(info "$(latest)" chain)" ]
	[ "$(latest)" = "$(names | tail -n 1)" ]

	# a process that cs-dump leaves running (as the holder of the dirty-page
	# tracking will be) does not keep the lock: the next run goes at once
	WRAP_AFTER="bash -c 'sleep 5; : $T' </dev/null >/dev/null 2>&1 & echo \$! >>$T/pids" \
		"$CKPT" -t "$PID" -D "$ROOT" --cs-dump "$T/cs-dump-track" 2>"$T/e5"
	"$CKPT" -t "$PID" -D "$ROOT" --lock-wait 0 --cs-dump "$T/cs-dump-track" 2>"$T/e6" ||
		{ cat "$T/e6" >&2; return 1; }
}

@test "ha: shipping sends the marker last; a failed shipment is made good by the next run" {
	require_cs
	start_prog regs
	make_wrapper
	CS_DUMP_BIN=$T/cs-dump-track
	local a b c
	ckpt_ok --ship-cmd "$LOCAL_COPY" --ship-to "$STANDBY"
	a=$(latest)
	[ "$(last_log ship)" = ok ]
	diff -r "$ROOT/$a" "$STANDBY/$a"
	grep -qx "name=$a" "$STANDBY/$a.shipped/SHIPPED"
	"$FAILOVER" -D "$STANDBY" --list >"$T/list"
	grep -qx "restore: $a" "$T/list"

	# the marker fails: the checkpoint is taken (latest moves) but the run
	# fails, and the standby has the images without the marker
	ckpt --ship-cmd "case {name} in *.shipped) exit 3 ;; esac; $LOCAL_COPY" --ship-to "$STANDBY"
	[ "$ST" = 1 ]
	b=$(latest)
	[ "$b" != "$a" ]
	grep -q "checkpoint $b taken, but not shipped: .*marking $b shipped in $STANDBY failed" "$T/ckpt.err"
	[ "$(last_log ship)" = failed ]
	[ -d "$STANDBY/$b" ]
	[ ! -e "$STANDBY/$b.shipped" ]
	"$FAILOVER" -D "$STANDBY" --list >"$T/list"
	grep -q "^$b .*restorable=no (no marker $b.shipped/SHIPPED)" "$T/list"
	grep -qx "restore: $a" "$T/list"

	# the next run ships b, then c on top of it (its parent)
	ckpt_ok --ship-cmd "echo {name} >>$T/shipped; $LOCAL_COPY" --ship-to "$STANDBY"
	c=$(latest)
	[ "$(info "$c" parent)" = "../$b" ]
	printf '%s\n' "$b" "$b.shipped" "$c" "$c.shipped" | diff - "$T/shipped"
	"$FAILOVER" -D "$STANDBY" --list >"$T/list"
	grep -qx "restore: $c" "$T/list"
}

@test "ha: failover restores only a whole shipped chain, and only once" {
	require_cs
	start_prog regs
	make_wrapper
	CS_DUMP_BIN=$T/cs-dump-track
	local a b c d
	ckpt_ok -K 3 --ship-cmd "$LOCAL_COPY" --ship-to "$STANDBY"; a=$(latest)
	ckpt_ok -K 3 --ship-cmd "$LOCAL_COPY" --ship-to "$STANDBY"; b=$(latest)
	ckpt_ok -K 3 --ship-cmd "$LOCAL_COPY" --ship-to "$STANDBY"; c=$(latest)
	# d arrives cut short: half of its files, no marker
	ckpt_ok -K 3; d=$(latest)
	mkdir "$STANDBY/$d"
	cp "$ROOT/$d/inventory.img" "$STANDBY/$d/"
	"$FAILOVER" -D "$STANDBY" --list >"$T/list"
	grep -qx "restore: $c" "$T/list"
	grep -q "^$d kind=- .*restorable=no (no complete checkpoint.info)" "$T/list"

	# b's images shrank after the marker: b and c (its child) are out
	truncate -s -1 "$STANDBY/$b/pages.img"
	"$FAILOVER" -D "$STANDBY" --list >"$T/list"
	grep -q "^$b .*restorable=no (.*the marker says" "$T/list"
	grep -q "^$c .*restorable=no (parent $b cannot be restored)" "$T/list"
	grep -qx "restore: $a" "$T/list"
	# a marker without its "end" line does not count either
	head -n 1 "$STANDBY/$a.shipped/SHIPPED" >"$T/m" && cp "$STANDBY/$a.shipped/SHIPPED" "$T/m.good"
	cp "$T/m" "$STANDBY/$a.shipped/SHIPPED"
	"$FAILOVER" -D "$STANDBY" --list >"$T/list" && return 1
	grep -qx "restore: none" "$T/list"
	cp "$T/m.good" "$STANDBY/$a.shipped/SHIPPED"

	# the failover itself, with a cs-restore that only records what it got
	printf '#!/bin/sh\necho "$@" >>%s\n' "$T/restored" >"$T/cs-restore-rec"
	chmod +x "$T/cs-restore-rec"
	"$FAILOVER" -D "$STANDBY" -c false -i 0.05 -f 3 --probe-cmd true --cs-restore "$T/cs-restore-rec" \
		--pre-restore "touch $T/pre" -l "$T/failover.log" -- --file-validation=none 2>"$T/fo.err"
	[ "$(cat "$T/restored")" = "-D $STANDBY/$a -d --file-validation=none" ]
	[ -e "$T/pre" ]
	grep -q "dir=$STANDBY/$a kind=full .* answer_ms=[0-9]* .*status=ok" "$T/failover.log"
	# never twice
	"$FAILOVER" -D "$STANDBY" -c false -i 0.05 -f 1 --probe-cmd true --cs-restore "$T/cs-restore-rec" \
		2>"$T/fo.err" && return 1
	grep -q 'already failed over' "$T/fo.err"
	[ "$(wc -l <"$T/fo.err")" = 1 ]
	[ "$(wc -l <"$T/restored")" = 1 ]
}

@test "ha: failover does not restore when the pre-restore command fails; it prunes old chains while watching" {
	require_cs
	start_prog regs
	local i
	for i in 1 2 3 4; do
		ckpt_ok -K 1 -N 4 --ship-cmd "$LOCAL_COPY" --ship-to "$STANDBY"
	done
	expect_count 4 "$STANDBY"
	printf '#!/bin/sh\necho "$@" >>%s\n' "$T/restored" >"$T/cs-restore-rec"
	chmod +x "$T/cs-restore-rec"
	# healthy for 3 checks (the first one prunes to 2 chains), then down
	"$FAILOVER" -D "$STANDBY" -N 2 -c "[ \$(cat $T/n 2>/dev/null | wc -c) -lt 3 ] && echo >>$T/n" -i 0.05 -f 2 \
		--probe-cmd true --pre-restore 'echo no address >&2; exit 4' --cs-restore "$T/cs-restore-rec" \
		2>"$T/fo.err" && return 1
	grep -q 'the pre-restore command failed with status 4: no address' "$T/fo.err"
	[ ! -e "$T/restored" ]
	expect_count 2 "$STANDBY"
	[ "$(names "$STANDBY" | tail -n 1)" = "$(latest)" ]
	[ -z "$(find "$STANDBY" -maxdepth 1 -name '*.shipped' | grep -v -e "$(names "$STANDBY" | head -n 1)" -e "$(latest)")" ]
	grep -q '^failed' "$STANDBY/.failover"
}
