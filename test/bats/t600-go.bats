#!/usr/bin/env bats
# t600-go.bats - the Go key/value server (test/go/kvserver, on go-cache):
# a multi-threaded Go process with a large heap, a janitor goroutine, the
# netpoller's epoll instance and TCP sockets.  Dumped (killed) and restored
# it must come back with its PID, its thread IDs and every key, serve new
# connections, run its garbage collector and take writes; dumped five times
# in a chain; dumped with -R under load without a client noticing; dumped
# with --tcp-close while a client holds an idle connection, which the
# restored server must close by itself; and its images must decode with
# cs-show.

load helpers

# task_list_is TIDS: the process's thread IDs are exactly TIDS.
task_list_is() {
	local now
	now=$(task_list "$PID")
	if [ "$now" != "$1" ]; then
		echo "thread IDs after the restore: $now; before the dump: $1" >&2
		return 1
	fi
}

# check_keys N: kvclient -check N finds all of them, exactly.
check_keys() {
	kvc -check "$1"
	grep -q "checked $1 keys, 0 mismatches" <<<"$KV_OUT" || {
		echo "kvclient -check $1 said: $KV_OUT" >&2
		return 1
	}
}

@test "go: kvserver with 100k keys: dump, restore, same PID and TIDs, every key, GC and writes work" {
	require_cs
	require_go
	start_kvserver -preload 100000 -value-size 128
	kvc -set-prefix before -set-count 1000
	local tids exe gc1 gc2
	tids=$(task_list "$PID")
	exe=$(readlink "/proc/$PID/exe")
	dump_killed
	kv_restore_d
	# before any client makes the runtime start another thread
	task_list_is "$tids"
	[ "$(readlink "/proc/$PID/exe")" = "$exe" ] || { echo "exe is $(readlink "/proc/$PID/exe"), want $exe" >&2; return 1; }
	check_keys 100000
	kvc -expect-prefix before -expect-count 1000
	kv_answers
	# the garbage collector still works: a forced GC completes and counts
	gc1=$(kv_stat num_gc)
	kvc -gc
	gc2=$(kv_stat num_gc)
	if ! [ "$gc2" -gt "$gc1" ]; then
		echo "NumGC did not grow after a GC request: $gc1 then $gc2" >&2
		return 1
	fi
	kvc -set-prefix after -set-count 1000
	check_keys 100000
}

@test "go: kvserver survives 5 dump/restore cycles in a chain with its data" {
	require_cs
	require_go
	start_kvserver -preload 100000 -value-size 128
	local i j tids
	for ((i = 1; i <= 5; i++)); do
		kvc -set-prefix "cycle$i" -set-count 300
		tids=$(task_list "$PID")
		dump_killed || { echo "cycle $i: the dump failed" >&2; return 1; }
		kv_restore_d || { echo "cycle $i: the restore failed" >&2; return 1; }
		task_list_is "$tids" || { echo "cycle $i: thread IDs changed" >&2; return 1; }
		check_keys 100000 || { echo "cycle $i: the preloaded keys are not all there" >&2; return 1; }
		for ((j = 1; j <= i; j++)); do
			kvc -expect-prefix "cycle$j" -expect-count 300 ||
				{ echo "cycle $i: keys written in cycle $j are not all there" >&2; return 1; }
		done
		kv_answers
		# the next dump writes a fresh $T/img
		rm -rf "$T/img"
	done
	kvc -gc
}

@test "go: cs-dump -R --tcp-close under load: no client sees an error, the server keeps serving" {
	require_cs
	require_go
	start_kvserver -preload 100000 -value-size 128
	# wait until the load is flowing
	start_kvload -keys 100000 -conns 4 -interval 250ms
	kv_dump "$T/img" -R --tcp-close
	[ "$DUMP_ST" = 0 ] || { echo "cs-dump -R --tcp-close failed with status $DUMP_ST" >&2; return 1; }
	[ -s "$T/img/inventory.img" ] || { echo "no inventory.img in $T/img" >&2; return 1; }
	# and it keeps flowing after the dump
	kvload_flows 1 "the second after the dump"
	stop_kvload
	case "$KVLOAD_SUMMARY" in
	*" reconnects=0 errors=0 mismatches=0"*) ;;
	*) echo "kvload saw trouble: $KVLOAD_SUMMARY" >&2; return 1 ;;
	esac
	case "$KVLOAD_SUMMARY" in
	*" ops=0 "*) echo "kvload made no requests: $KVLOAD_SUMMARY" >&2; return 1 ;;
	esac
	kv_answers
	check_keys 100000
}

@test "go: an idle client connection: refused without --tcp-close, closed by the restored server with it" {
	require_cs
	require_go
	start_kvserver -preload 1000
	local base basefds hpid i connfd now
	basefds=$(ls "/proc/$PID/fd" | sort -n | tr '\n' ' ')
	base=$(nfds "$PID")
	# a client that connects and then holds the connection, idle; it would
	# exit if a FIN or RST reached it
	(close_fds; exec bash -c 'exec 3<>"/dev/tcp/${0%:*}/${0#*:}" || exit 1
		echo connected >"$1/holder.ready"
		read -r -t 300 line <&3
		echo "holder: read returned $? (${line:-no data})"' "$KV_ADDR" "$T") \
		</dev/null >"$T/prog-holder.out" 2>&1 &
	hpid=$!
	record_pid "$hpid"
	for ((i = 0; i < 50; i++)); do
		[ -s "$T/holder.ready" ] && [ "$(nfds "$PID")" = $((base + 1)) ] && break
		sleep 0.1
	done
	[ "$(nfds "$PID")" = $((base + 1)) ] || { echo "the server has $(nfds "$PID") fds, want $((base + 1)) with the client connected" >&2; return 1; }
	connfd=$(comm -13 <(tr ' ' '\n' <<<"$basefds" | sort) <(ls "/proc/$PID/fd" | sort))
	[[ $connfd =~ ^[0-9]+$ ]] || { echo "cannot tell the connection's fd: '$connfd'" >&2; return 1; }

	# without --tcp-close: refused, naming the connection; nothing changes
	kv_dump "$T/img-refused"
	[ "$DUMP_ST" = 1 ] || { echo "cs-dump with a live connection: status $DUMP_ST, want 1" >&2; return 1; }
	grep -q "fd $connfd " "$T/dump.err" && grep -qi "tcp" "$T/dump.err" ||
		{ echo "the refusal does not name fd $connfd as a TCP connection: $(cat "$T/dump.err")" >&2; return 1; }
	grep -q -- "--tcp-close" "$T/dump.err" ||
		{ echo "the refusal does not point to --tcp-close: $(cat "$T/dump.err")" >&2; return 1; }
	[ ! -e "$T/img-refused" ] || { echo "$T/img-refused was created" >&2; return 1; }
	[ "$(nfds "$PID")" = $((base + 1)) ] || { echo "the server has $(nfds "$PID") fds after the refused dump, want $((base + 1))" >&2; return 1; }
	[ -z "$(awk '/^TracerPid:/ && $2 != 0' "/proc/$PID/status")" ] || { echo "the server is still traced" >&2; return 1; }
	kv_answers
	kill -0 "$hpid" || { echo "the client lost its connection after the refused dump: $(cat "$T/prog-holder.out")" >&2; return 1; }

	# with --tcp-close: the connection is dropped without a packet, and the
	# restored server finds a dead socket at fd $connfd and closes it itself
	dump_killed --tcp-close
	kv_restore_d
	for ((i = 0; i < 50; i++)); do
		now=$(nfds "$PID")
		[ "$now" = "$base" ] && break
		sleep 0.1
	done
	if [ "$now" != "$base" ]; then
		echo "5 s after the restore the server still has $now fds, want $base: $(ls -l "/proc/$PID/fd" | tail -n +2)" >&2
		return 1
	fi
	[ "$(ls "/proc/$PID/fd" | sort -n | tr '\n' ' ')" = "$basefds" ] ||
		{ echo "fds after the restore: $(ls "/proc/$PID/fd" | sort -n | tr '\n' ' '), want $basefds" >&2; return 1; }
	kill -0 "$hpid" || { echo "a FIN or RST reached the client: $(cat "$T/prog-holder.out")" >&2; return 1; }
	kv_answers
	kvc -check 1000
}

@test "go: cs-show decodes every image kind, and the stats add up" {
	require_cs
	require_go
	[ -x "$CS_SHOW" ] || skip "cs-show is not built in $CS_BUILDDIR"
	command -v jq >/dev/null || skip "jq is not installed (contrib/install-deps.sh installs it)"
	start_kvserver -preload 10000
	local tids st=0 statline check expr desc bad=0 f
	tids=$(task_list "$PID")
	kv_dump "$T/img" -R --display-stats
	[ "$DUMP_ST" = 0 ] || { echo "cs-dump -R --display-stats failed with status $DUMP_ST" >&2; return 1; }
	statline=$(grep 'freeze_us=' "$T/dump.err") || true
	if [ "$(grep -c 'freeze_us=' "$T/dump.err")" != 1 ] ||
	   ! [[ $statline =~ freeze_us=[0-9]+.*frozen_us=[0-9]+.*dump_us=[0-9]+ ]] ||
	   ! [[ $statline =~ pages_present=[0-9]+ && $statline =~ pages_written=[0-9]+ && $statline =~ pages_zero=[0-9]+ ]] ||
	   ! [[ $statline =~ pages_dead=[0-9]+ && $statline =~ bytes_written=[0-9]+ ]]; then
		echo "--display-stats did not print one line with every figure on stderr: $(cat "$T/dump.err")" >&2
		return 1
	fi
	"$CS_SHOW" "$T/img" >"$T/show.json" 2>"$T/prog-cs-show.out" || st=$?
	[ $st = 0 ] || { echo "cs-show failed with status $st: $(cat "$T/prog-cs-show.out")" >&2; return 1; }
	jq empty "$T/show.json" 2>>"$T/prog-cs-show.out" || { echo "cs-show printed invalid JSON" >&2; return 1; }

	local files tidjson
	files=$(cd "$T/img" && ls *.img | jq -R . | jq -sc 'sort')
	tidjson=$(jq -nc --arg t "$tids" '$t | split(" ") | map(select(. != "") | tonumber)')
	local checks=(
		'inventory: format version|.inventory.format_version >= 1'
		'inventory: root PID|.inventory.root_pid == $pid'
		'inventory: lists every other image file|(.inventory.images | map(.name) | sort) == ($files - ["inventory.img"])'
		'inventory: sizes and checksums|all(.inventory.images[]; (.size | type) == "number" and (.crc32c | type) == "number")'
		'inventory: xfeatures|(.inventory.xfeatures | type) == "number" and .inventory.xfeatures > 0'
		'stats: every figure is a number|all(["freeze_us","frozen_us","dump_us","pages_present","pages_written","pages_dead","pages_zero","bytes_written"][]; ($root.stats[.] | type) == "number")'
		'stats: pages and bytes written|.stats.pages_present > 0 and .stats.pages_written > 0 and .stats.bytes_written > 0'
		'stats: freeze_us <= frozen_us <= dump_us|.stats.freeze_us <= .stats.frozen_us and .stats.frozen_us <= .stats.dump_us'
		'stats: present = written + zero + dead|.stats.pages_present == .stats.pages_written + .stats.pages_zero + .stats.pages_dead'
		'stats: as printed by --display-stats|.stats as $s | ($line | [scan("([a-z_]+)=([0-9]+)")] | map({(.[0]): (.[1] | tonumber)}) | add) as $p | all(($s | to_entries[] | select(.value | type == "number") | .key); $s[.] == $p[.])'
		'stats: the Go reader classified the pages|.stats.runtime == "go" and (.stats.go_version | startswith("go1.")) and (.stats.gc_phase | type) == "number"'
		'stats: dead pages by class|.stats.pages_heap_dead + .stats.pages_stack_dead == .stats.pages_dead'
		'stats: live heap, stacks and other runtime memory|.stats.pages_heap_live > 0 and .stats.pages_stack_live > 0 and .stats.pages_runtime_other > 0'
		'stats: spans judged by mark bits are unswept ones|(.stats.spans_marked | type) == "number" and .stats.spans_marked <= .stats.unswept_spans'
		'images: every image file is decoded|(.images | keys) + ["inventory.img", "stats-dump.img"] | sort == $files'
		'images: the kinds|all(["pstree.img","mm.img","pagemap.img","pages.img","files.img"][]; . as $k | $root.images | has($k))'
		'pstree.img: the process and its threads|.images["pstree.img"] | length == 1 and .[0].pid == $pid and (.[0].threads | sort) == $tids'
		'core-*.img: one per thread, each its TID|[.images | to_entries[] | select(.key | startswith("core-"))] | length == ($tids | length) and all(.[]; .key == "core-\(.value[0].tid).img")'
		'core-*.img: registers and xsave|all(.images | to_entries[] | select(.key | startswith("core-")) | .value[0]; .regs != null and .xfeatures != null and .xsave != null)'
		'mm.img: the executable and VMAs|.images["mm.img"][0] | (.exe | endswith("/kvserver")) and (.vmas | length) > 5'
		'pagemap.img: data pages = pages_written|([.images["pagemap.img"][] | select(.type == 1) | .nr_pages] | add) == .stats.pages_written'
		'pagemap.img: zero pages = pages_zero|([.images["pagemap.img"][] | select(.type == 2) | .nr_pages] | add // 0) == .stats.pages_zero'
		'pagemap.img: dead pages = pages_dead|([.images["pagemap.img"][] | select(.type == 3) | .nr_pages] | add // 0) == .stats.pages_dead'
		'pages.img: compressed pages|.images["pages.img"].bytes > 0'
		'files.img: stdio|[.images["files.img"][] | .fd] | contains([0, 1, 2])'
		'files.img: the listening socket|any(.images["files.img"][]; .sk != null and .sk.src_port == $port and .sk.state == 10)'
		'files.img: the epoll instance watches the listener|([.images["files.img"][] | select(.sk != null and .sk.src_port == $port) | .fd][0]) as $l | any(.images["files.img"][]; any(.tfds[]?; .tfd == $l))'
	)
	for check in "${checks[@]}"; do
		desc=${check%%|*}
		expr=${check#*|}
		if ! jq -e --argjson pid "$PID" --argjson port "$KV_PORT" --argjson files "$files" \
			--argjson tids "$tidjson" --arg line "$statline" ". as \$root | $expr" "$T/show.json" \
			>/dev/null 2>>"$T/prog-cs-show.out"; then
			echo "cs-show check failed: $desc  [$expr]" >&2
			bad=1
		fi
	done
	if [ $bad != 0 ]; then
		jq -c 'del(.images) | .inventory.images |= length' "$T/show.json" >&2
		return 1
	fi
	kv_answers
}
