// Command clockcheck checks that a Go program's timers keep their schedule
// across a checkpoint/restore, in particular one "on another host" whose
// CLOCK_MONOTONIC started at another time (cs-restore --timens).  The Go
// runtime schedules every timer on CLOCK_MONOTONIC (runtime.nanotime, read
// through the vDSO), so a restore that lets that clock jump makes timers
// fire at once (forward) or stall (backward).
//
// Usage: clockcheck READY_FILE [-period D] [-sleep D] [-tol D]
//
// Set-up: a time.Ticker every -period (200ms) and a goroutine that sleeps
// -sleep (3s) again and again.  Each tick and each sleep's start and end
// are recorded by CLOCK_MONOTONIC as Go reads it (time.Since, the vDSO), by
// CLOCK_MONOTONIC through the raw clock_gettime syscall, and by the wall
// clock (CLOCK_REALTIME, time.Now().UnixNano).  Then the PID goes to
// READY_FILE.tmp, renamed to READY_FILE, and it waits for SIGUSR2.
//
// Checks on SIGUSR2, over everything recorded since the start:
//
//   - monotonic: never goes back; Go's reading (vDSO) and the syscall's
//     agree within 5 ms at every record;
//   - ticker: consecutive ticks are between period/2 and period+tol apart
//     by CLOCK_MONOTONIC (no burst, no stall), and the last tick is less
//     than period+tol old by both clocks (no stall since the restore); a
//     gap under period/2 right after a longer one is a tick read late, not
//     a burst, when the two gaps make at least 1.5 periods;
//   - sleeper: every sleep took between sleep and sleep+tol by
//     CLOCK_MONOTONIC; by the wall clock, that plus the time the process was
//     frozen when the sleep spanned the freeze, else the same (100 ms
//     slack); the sleep in progress is not older than sleep+tol;
//   - the time frozen is the largest gap between the wall clock and
//     CLOCK_MONOTONIC over one tick (a reading's wall - monotonic is
//     larger by that after the freeze, which tells which readings came
//     after it); when there is one (over 300 ms), at least five ticks and
//     one whole sleep came after it (the test waited long enough for the
//     checks to mean something).
//
// With a time namespace that continues the clocks, the time frozen does not
// count on CLOCK_MONOTONIC: a restore that lets it count (the same host
// without --timens, frozen longer than -tol) is reported as a tick gap.
//
// It prints "clockcheck: ok ticks=N tick_ms=MIN..MAX sleeps=S
// sleep_ms=MIN..MAX frozen_ms=F" and exits 0, or one line per difference,
// "clockcheck: WHAT differs: ...", and exits 1.  Set-up failure: 2.
//
// Standard library only; built by test/go/build.sh in GOPATH mode.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

const clockMonotonic = 1 // CLOCK_MONOTONIC, linux/time.h

// stamp is one reading of the clocks, in ns.  mono is Go's own
// (runtime.nanotime through the vDSO) since base; raw is the syscall's
// since its reading at base; wall is the Unix time.
type stamp struct {
	mono, raw, wall int64
}

var (
	base    time.Time
	rawBase int64
)

func rawMonotonic() int64 {
	var ts syscall.Timespec
	_, _, e := syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0)
	if e != 0 {
		fail("clock_gettime(CLOCK_MONOTONIC): %v", e)
	}
	return ts.Nano()
}

// pair reads CLOCK_MONOTONIC through the syscall and time.Now() together:
// the syscall on both sides, the middle of the two taken; read again when
// the thread lost its CPU in between (the syscall's clock moved 1 ms or
// more), which would look like the two clocks disagreeing.
func pair() (int64, time.Time) {
	for i := 0; ; i++ {
		r1 := rawMonotonic()
		t := time.Now()
		r2 := rawMonotonic()
		if r2-r1 < 1e6 || i == 99 {
			return r1 + (r2-r1)/2, t
		}
	}
}

func now() stamp {
	r, t := pair()
	return stamp{mono: int64(t.Sub(base)), raw: r - rawBase, wall: t.UnixNano()}
}

type sleep struct {
	start, end stamp
	done       bool
}

var (
	mu     sync.Mutex
	ticks  []stamp
	sleeps []sleep
	ndiff  int
)

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "clockcheck: "+format+"\n", a...)
	fmt.Fprintf(os.Stderr, "clockcheck: set-up failed\n")
	os.Exit(2)
}

func differs(what, format string, a ...interface{}) {
	ndiff++
	if ndiff <= 40 {
		fmt.Fprintf(os.Stderr, "clockcheck: %s differs: %s\n", what, fmt.Sprintf(format, a...))
	}
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: clockcheck READY_FILE [-period D] [-sleep D] [-tol D]")
		os.Exit(2)
	}
	ready := os.Args[1]
	fs := flag.NewFlagSet("clockcheck", flag.ExitOnError)
	period := fs.Duration("period", 200*time.Millisecond, "ticker period")
	sleepFor := fs.Duration("sleep", 3*time.Second, "how long the sleeper sleeps each time")
	tol := fs.Duration("tol", 1500*time.Millisecond, "slack for scheduling and for the restore itself")
	fs.Parse(os.Args[2:])

	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr2, syscall.SIGUSR2)
	rawBase, base = pair()

	tk := time.NewTicker(*period)
	go func() {
		for range tk.C {
			s := now()
			mu.Lock()
			ticks = append(ticks, s)
			mu.Unlock()
		}
	}()
	go func() {
		for {
			mu.Lock()
			sleeps = append(sleeps, sleep{start: now()})
			mu.Unlock()
			time.Sleep(*sleepFor)
			e := now()
			mu.Lock()
			sleeps[len(sleeps)-1].end = e
			sleeps[len(sleeps)-1].done = true
			mu.Unlock()
		}
	}()
	// a few ticks before the ready file, so that the first checkpoint
	// already has a history to continue
	time.Sleep(3 * *period)
	tmp := ready + ".tmp"
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0644); err != nil {
		fail("%v", err)
	}
	if err := os.Rename(tmp, ready); err != nil {
		fail("%v", err)
	}
	<-usr2
	at := now()
	mu.Lock()
	defer mu.Unlock()
	check(*period, *sleepFor, *tol, at)
}

func check(period, sleepFor, tol time.Duration, at stamp) {
	p, sl, tl := int64(period), int64(sleepFor), int64(tol)

	// every reading in time order: ticks, sleep starts and ends, now
	var all []stamp
	all = append(all, ticks...)
	for _, s := range sleeps {
		all = append(all, s.start)
		if s.done {
			all = append(all, s.end)
		}
	}
	all = append(all, at)
	for _, s := range all {
		if d := s.mono - s.raw; d > 5e6 || d < -5e6 {
			differs("monotonic", "Go's CLOCK_MONOTONIC (vDSO) and the syscall's differ by %.3f ms at %.3f s",
				ms(d), float64(s.raw)/1e9)
		}
	}

	// the ticker; and the frozen time: the largest wall - monotonic gap
	var frozen int64
	minI, maxI := int64(1<<62), int64(0)
	for i := 1; i < len(ticks); i++ {
		a, b := ticks[i-1], ticks[i]
		dm, dw := b.mono-a.mono, b.wall-a.wall
		// a tick read late (this goroutine or the whole process waited
		// for a CPU) is followed by one read on time, sooner than a
		// period after it: the two gaps together still make up two
		// periods (the ticker started at base, mono 0). A burst is two
		// ticks closer than the schedule allows.
		var before int64
		if i >= 2 {
			before = ticks[i-2].mono
		}
		late := b.mono-before >= 2*p-p/2
		if dm < 0 {
			differs("monotonic", "went back %.3f s between ticks %d and %d", -float64(dm)/1e9, i-1, i)
		} else if dm < p/2 && !late {
			differs("ticker", "ticks %d and %d came %.1f ms apart by CLOCK_MONOTONIC (period %v): a burst",
				i-1, i, ms(dm), period)
		} else if dm > p+tl {
			differs("ticker", "ticks %d and %d came %.1f ms apart by CLOCK_MONOTONIC, %.1f ms by the wall clock (period %v)",
				i-1, i, ms(dm), ms(dw), period)
		}
		if dm < minI {
			minI = dm
		}
		if dm > maxI {
			maxI = dm
		}
		if dw-dm > frozen {
			frozen = dw - dm
		}
	}
	if len(ticks) < 2 {
		differs("ticker", "only %d ticks", len(ticks))
	} else {
		last := ticks[len(ticks)-1]
		if d := at.mono - last.mono; d > p+tl || d < 0 {
			differs("ticker", "the last tick is %.3f s old by CLOCK_MONOTONIC (period %v): stalled", float64(d)/1e9, period)
		}
		if d := at.wall - last.wall; d > p+tl {
			differs("ticker", "the last tick is %.3f s old by the wall clock (period %v): stalled", float64(d)/1e9, period)
		}
	}
	if frozen < 300e6 {
		frozen = 0
	}
	// a reading's wall - monotonic is the same before the freeze, and
	// larger by the time frozen after it
	off0 := base.UnixNano()
	afterFreeze := func(s stamp) bool { return frozen > 0 && s.wall-s.mono-off0 > frozen/2 }

	// the sleeper
	minS, maxS, nsl, after := int64(1<<62), int64(0), 0, 0
	for i, s := range sleeps {
		if !s.done {
			if d := at.mono - s.start.mono; d > sl+tl || d < 0 {
				differs("sleeper", "sleep %d of %v began %.3f s ago by CLOCK_MONOTONIC (%.3f s by the wall clock) and goes on",
					i, sleepFor, float64(d)/1e9, float64(at.wall-s.start.wall)/1e9)
			}
			continue
		}
		dm, dw := s.end.mono-s.start.mono, s.end.wall-s.start.wall
		var gap int64
		if afterFreeze(s.end) && !afterFreeze(s.start) {
			gap = frozen
		}
		if dm < sl || dm > sl+tl {
			differs("sleeper", "sleep %d of %v took %.3f s by CLOCK_MONOTONIC, %.3f s by the wall clock",
				i, sleepFor, float64(dm)/1e9, float64(dw)/1e9)
		} else if d := dw - dm - gap; d > 100e6 || d < -100e6 {
			differs("sleeper", "sleep %d of %v took %.3f s by CLOCK_MONOTONIC but %.3f s by the wall clock (%.3f s frozen)",
				i, sleepFor, float64(dm)/1e9, float64(dw)/1e9, float64(gap)/1e9)
		}
		nsl++
		if dm < minS {
			minS = dm
		}
		if dm > maxS {
			maxS = dm
		}
		if afterFreeze(s.end) {
			after++
		}
	}
	if frozen > 0 {
		n := 0
		for _, t := range ticks {
			if afterFreeze(t) {
				n++
			}
		}
		if n < 5 || after < 1 {
			differs("test", "only %d ticks and %d whole sleeps after the %.3f s frozen: SIGUSR2 came too early",
				n, after, float64(frozen)/1e9)
		}
	}
	if ndiff > 0 {
		fmt.Fprintf(os.Stderr, "clockcheck: FAIL: %d difference(s)\n", ndiff)
		os.Exit(1)
	}
	fmt.Printf("clockcheck: ok ticks=%d tick_ms=%.1f..%.1f sleeps=%d sleep_ms=%.1f..%.1f frozen_ms=%.1f\n",
		len(ticks), ms(minI), ms(maxI), nsl, ms(minS), ms(maxS), ms(frozen))
	os.Exit(0)
}
