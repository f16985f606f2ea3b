#!/usr/bin/env bats
# t610-go-runtime.bats - the safety test of issue 4, short version: the churn
# program (test/go/churn: a churning map of checkable values, 64 goroutines
# with deep stacks of checkable frames, large objects) is dumped with
# cs-dump -R at random moments, then every dump is restored in turn and the
# restored copy checks all its data, runs GCs, checks again and exits
# cleanly.  test/safety/runtime-safety.sh does the work; run it by hand with
# more dumps (and the default, larger churn) for the long version.

load helpers

teardown() {
	# runtime-safety.sh kills what it started; should it have been killed
	# itself, kill the churn processes whose command line names our $T
	# (their -ready file is under it), and nothing else
	local p cmdline
	if [ -n "${T:-}" ] && [ -d "$T" ]; then
		for p in /proc/[0-9]*; do
			cmdline=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
			case "$cmdline" in
			*"/churn -ready $T/"*) kill -KILL "${p#/proc/}" 2>/dev/null ;;
			esac
		done
	fi
	cs_teardown
}

@test "go runtime: churn dumped -R 8 times at random moments; every restored copy checks clean" {
	require_cs
	[ -x "$GO_BIN/churn" ] || skip "churn is not built in $GO_BIN (run test/go/build.sh $GO_BIN)"
	[ -x "$CS_SHOW" ] || skip "cs-show is not built in $CS_BUILDDIR"
	command -v jq >/dev/null 2>&1 || skip "jq is not installed"
	local st=0 summary
	# a smaller churn (about 150 MiB resident) with GOGC=25, so that GC
	# cycles are frequent and about a third of the dumps land during
	# marking; fewer of those wanted than the long run's 10: about 55 s
	# every other dump with --gc-align, so that several freeze right after
	# a mark phase and judge most spans by their mark bits (rule M); the
	# sweeper often finishes before the freeze (2 or 3 such dumps in 32
	# attempts on a quiet machine), so up to 56 attempts (about 100 s)
	TMPDIR=$T CHURN_ARGS="-keys 20000 -gogc 25" MIN_MARKING=2 MIN_UNSWEPT=1 MIN_MARKED=3 GC_ALIGN=3000 MAX_ATTEMPTS=56 \
		timeout -k 5 240 "$CS_SRCDIR/test/safety/runtime-safety.sh" 8 "$CS_BUILDDIR" \
		</dev/null >"$T/safety.out" 2>&1 3>&- || st=$?
	summary=$(grep '^runtime-safety: [0-9]* dumps (' "$T/safety.out" | tail -n 1)
	if [ $st != 0 ] || [ -z "$summary" ]; then
		echo "runtime-safety.sh 8 failed with status $st:" >&2
		cat "$T/safety.out" >&2
		return 1
	fi
	case "$summary" in
	*", 0 corrupt, 0 crashed") ;;
	*) echo "unexpected summary: $summary" >&2; cat "$T/safety.out" >&2; return 1 ;;
	esac
	echo "# ${summary#runtime-safety: }" >&3
}
