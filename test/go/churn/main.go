// Command churn is the safety workload for checksync's Go runtime
// integration (issue 4): a Go process whose heap and goroutine stacks are
// full of data it can check, and that keeps creating garbage so that the
// garbage collector runs all the time.  Dump it at random moments (cs-dump
// -R), restore the images, and ask the restored copies to check themselves:
// any page cs-dump wrongly left out (or restored wrongly) shows up as a
// CORRUPT line or a crash.
//
// State
//
//   - A map[int]*entry of -keys keys (0..keys-1).  An entry holds a version
//     and a []byte value of a random size in [-value-min, -value-max] whose
//     content is a function of (key, version): the little-endian splitmix64
//     stream seeded with key*1e9+version.  Entries are never modified in
//     place.  -churners goroutines (default 3) each own the keys k with
//     k % churners == their id; they keep picking one of their keys at
//     random, check its current value, and replace it with version+1 (a new
//     random size), or delete it (1 in 32); a deleted key is remembered with
//     its version in a second map and re-added, version+1, when next picked.
//     Both maps are guarded by one RWMutex.
//   - -large large objects ([]byte of 1-4 MiB, content from the same
//     generator seeded with 1<<62 + id*1e9 + version); one goroutine
//     replaces one of them every 100-300 ms, checking the old one first.
//   - -goroutines goroutines each recurse -depth frames deep.  Each frame
//     holds a [64]uint64 on the stack filled with a pattern of (goroutine,
//     depth, round) and a pointer to a small heap object with its own
//     pattern.  At the bottom a goroutine waits (a random 2-5 s, or until a
//     check is requested), then returns up the stack checking every frame,
//     parks at the top for 0-100 ms (its stack pages below are now unused)
//     and descends again with round+1.
//   - -finalizers objects a second (default 2000, in bursts every 10 ms) are
//     made with a pattern of their own and a finalizer, and dropped at once:
//     they become garbage with a finalizer, which the sweeper resurrects
//     until the finalizer has run.  The finalizer checks the pattern, so an
//     unmarked object with a finalizer wrongly left out of a checkpoint shows
//     up as CORRUPT in the restored copy.
//
// Protocol (usage: churn -ready FILE [-log FILE] [options])
//
//   - Once set up (map filled, every goroutine at the bottom of its stack,
//     churners started) it prints "churn: ready pid=P ..." and writes its
//     PID to FILE.tmp, then renames that to FILE.
//   - SIGUSR1: full check, with the churners paused.  Every map entry (and
//     that every key is either in the map or deleted, not both), every large
//     object, every goroutine's stack (each unwinds, checking its frames, and
//     answers), then runtime.GC() twice.  Prints
//     "churn: check ok keys=N gcs=G ms=M/L/S/C" (N keys in the map, G =
//     NumGC after the GCs, then how many ms the map, large object and stack
//     checks and the two GCs took).
//   - SIGTERM (or SIGINT): a final full check, then
//     "churn: exit ok keys=N gcs=G ms=... replaced=R deleted=D readded=A"
//     and exit status 0.
//   - Any mismatch, anywhere, any time: "churn: CORRUPT <what>" on stderr
//     and exit status 3.  <what> names the key and version, large object or
//     goroutine/depth, the first bad byte's offset and address, and how many
//     zero bytes follow it (a page restored as zeros looks like that).  A
//     goroutine that does not answer a stack check in 20 s counts as
//     corrupt too.  A bad flag: status 2.  A crash is the Go runtime's own
//     "fatal error"/"panic" output on stderr, status 2.
//
// Every line is printed on stdout (CORRUPT lines on stderr) and, with -log
// FILE, appended to FILE as well, always as one write starting "churn: ".
//
// Other flags: -value-min/-value-max (64/4096 bytes), -seed S (random
// choices; the contents do not depend on it), -churners C (3), -gogc P
// (GOGC percentage; default: the environment's, i.e. 100).
//
// Standard library only; built by test/go/build.sh in GOPATH mode.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// The flags' values live in global variables, not on the heap, so that the
// parameters of the checks do not depend on the heap being intact.
var (
	fReady, fLog                                          string
	fKeys, fVMin, fVMax, fGoroutines, fDepth, fLarge, fCh int
	fGogc, fFinal                                         int
	fSeed                                                 int64
)

var (
	readyFile  = &fReady
	nkeys      = &fKeys
	valueMin   = &fVMin
	valueMax   = &fVMax
	ngoroutine = &fGoroutines
	depth      = &fDepth
	nlarge     = &fLarge
	seed       = &fSeed
	logPath    = &fLog
	nchurners  = &fCh
	gogc       = &fGogc
	nfinal     = &fFinal
)

func init() {
	flag.StringVar(readyFile, "ready", "", "write the PID to this file once set up")
	flag.IntVar(nkeys, "keys", 200000, "number of map keys")
	flag.IntVar(valueMin, "value-min", 64, "smallest value size in bytes")
	flag.IntVar(valueMax, "value-max", 4096, "largest value size in bytes")
	flag.IntVar(ngoroutine, "goroutines", 64, "goroutines with deep stacks")
	flag.IntVar(depth, "depth", 40, "recursion depth of each goroutine's stack")
	flag.IntVar(nlarge, "large", 16, "large objects of 1-4 MiB")
	flag.Int64Var(seed, "seed", 1, "seed of the random choices")
	flag.StringVar(logPath, "log", "", "also append every line to this file")
	flag.IntVar(nchurners, "churners", 3, "goroutines churning the map")
	flag.IntVar(gogc, "gogc", 0, "GOGC percentage (0: leave as is)")
	flag.IntVar(nfinal, "finalizers", 2000, "objects with a finalizer made (and dropped) a second")
}

// ---------------------------------------------------------------------------
// Output

var (
	outMu   sync.Mutex
	logFile *os.File
)

func say(f *os.File, format string, args ...interface{}) {
	line := []byte(fmt.Sprintf("churn: "+format+"\n", args...))
	outMu.Lock()
	defer outMu.Unlock()
	f.Write(line)
	if logFile != nil {
		logFile.Write(line)
	}
}

// corrupt reports a mismatch and exits with status 3.
func corrupt(format string, args ...interface{}) {
	say(os.Stderr, "CORRUPT "+format, args...)
	outMu.Lock() // nobody prints after this line
	os.Exit(3)
}

// ---------------------------------------------------------------------------
// Content generator

func splitmix64(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	z := *state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// fillStream fills b with the splitmix64 stream seeded with s.
func fillStream(b []byte, s uint64) {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], splitmix64(&s))
	}
	if i < len(b) {
		var t [8]byte
		binary.LittleEndian.PutUint64(t[:], splitmix64(&s))
		copy(b[i:], t[:])
	}
}

// checkStream returns the offset of the first byte of b that differs from
// the splitmix64 stream seeded with s, or -1.
func checkStream(b []byte, s uint64) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:]) != splitmix64(&s) {
			return firstDiff(b, i, s)
		}
	}
	if i < len(b) {
		var t [8]byte
		binary.LittleEndian.PutUint64(t[:], splitmix64(&s))
		for j := 0; i+j < len(b); j++ {
			if b[i+j] != t[j] {
				return i + j
			}
		}
	}
	return -1
}

// firstDiff: the word at offset i differs; s is the state after drawing it.
func firstDiff(b []byte, i int, s uint64) int {
	s -= 0x9e3779b97f4a7c15 // back to the state before that draw
	var t [8]byte
	binary.LittleEndian.PutUint64(t[:], splitmix64(&s))
	for j := 0; j < 8; j++ {
		if b[i+j] != t[j] {
			return i + j
		}
	}
	return i
}

func valueSeed(key int, version uint64) uint64 {
	return uint64(key)*1000000000 + version
}

func largeSeed(id int, version uint64) uint64 {
	return 1<<62 + uint64(id)*1000000000 + version
}

// describe a bad byte for a CORRUPT line: offset, and how much of the rest
// is zero (a page restored as zeros looks like that).
func describe(b []byte, off int) string {
	zeros := 0
	for j := off; j < len(b) && b[j] == 0; j++ {
		zeros++
	}
	return fmt.Sprintf("len=%d first bad byte at %d (addr %p), %d zero bytes from there",
		len(b), off, &b[off], zeros)
}

// ---------------------------------------------------------------------------
// The map

type entry struct {
	version uint64
	val     []byte
}

var (
	mapMu   sync.RWMutex
	kv      map[int]*entry
	deleted map[int]uint64 // key -> version it had when deleted
)

var (
	replaced  int64 // atomic counters, for the log only
	deletions int64
	readds    int64
)

func newEntry(rng *rand.Rand, key int, version uint64) *entry {
	size := *valueMin
	if *valueMax > *valueMin {
		size += rng.Intn(*valueMax - *valueMin + 1)
	}
	e := &entry{version: version, val: make([]byte, size)}
	fillStream(e.val, valueSeed(key, version))
	return e
}

func checkEntry(key int, e *entry, where string) {
	if e == nil {
		corrupt("%s: key %d: nil entry", where, key)
	}
	if len(e.val) < *valueMin || len(e.val) > *valueMax {
		corrupt("%s: key %d version %d: value length %d outside [%d,%d]",
			where, key, e.version, len(e.val), *valueMin, *valueMax)
	}
	if off := checkStream(e.val, valueSeed(key, e.version)); off >= 0 {
		corrupt("%s: key %d version %d: value %s", where, key, e.version, describe(e.val, off))
	}
}

// churner w owns the keys k with k % nchurners == w.
func churner(w int) {
	rng := rand.New(rand.NewSource(*seed*7919 + int64(w)))
	n := (*nkeys - w + *nchurners - 1) / *nchurners
	if n <= 0 {
		return
	}
	for {
		key := w + *nchurners*rng.Intn(n)
		mapMu.RLock()
		e, present := kv[key]
		dv, isDel := deleted[key]
		mapMu.RUnlock()
		switch {
		case present && isDel:
			corrupt("churner: key %d both present (version %d) and deleted (version %d)", key, e.version, dv)
		case present:
			checkEntry(key, e, "churner")
			if rng.Intn(32) == 0 {
				mapMu.Lock()
				delete(kv, key)
				deleted[key] = e.version
				mapMu.Unlock()
				atomic.AddInt64(&deletions, 1)
			} else {
				ne := newEntry(rng, key, e.version+1)
				mapMu.Lock()
				kv[key] = ne
				mapMu.Unlock()
				atomic.AddInt64(&replaced, 1)
			}
		case isDel:
			ne := newEntry(rng, key, dv+1)
			mapMu.Lock()
			delete(deleted, key)
			kv[key] = ne
			mapMu.Unlock()
			atomic.AddInt64(&readds, 1)
		default:
			corrupt("churner: key %d is neither in the map nor deleted", key)
		}
	}
}

func fillMap() {
	kv = make(map[int]*entry, *nkeys)
	deleted = make(map[int]uint64)
	var wg sync.WaitGroup
	const parts = 4
	ents := make([]*entry, *nkeys)
	for p := 0; p < parts; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(*seed*104729 + int64(p)))
			for k := p; k < *nkeys; k += parts {
				ents[k] = newEntry(rng, k, 1)
			}
		}(p)
	}
	wg.Wait()
	for k, e := range ents {
		kv[k] = e
	}
}

// checkMap checks every entry, on every CPU; returns the number of keys in
// the map.  The caller holds mapMu.
func checkMap() int {
	if len(kv)+len(deleted) != *nkeys {
		corrupt("check: %d keys in the map + %d deleted != %d", len(kv), len(deleted), *nkeys)
	}
	keys := make([]int, 0, len(kv))
	ents := make([]*entry, 0, len(kv))
	for k, e := range kv {
		if k < 0 || k >= *nkeys {
			corrupt("check: unknown key %d in the map", k)
		}
		if _, isDel := deleted[k]; isDel {
			corrupt("check: key %d both present and deleted", k)
		}
		keys = append(keys, k)
		ents = append(ents, e)
	}
	for k := range deleted {
		if k < 0 || k >= *nkeys {
			corrupt("check: unknown key %d among the deleted", k)
		}
	}
	var wg sync.WaitGroup
	nw := runtime.GOMAXPROCS(0)
	for w := 0; w < nw; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(ents); i += nw {
				checkEntry(keys[i], ents[i], "check")
			}
		}(w)
	}
	wg.Wait()
	return len(kv)
}

// ---------------------------------------------------------------------------
// Large objects

type large struct {
	version uint64
	b       []byte
}

var (
	largeMu sync.Mutex
	larges  []*large
)

func newLarge(rng *rand.Rand, id int, version uint64) *large {
	size := 1<<20 + rng.Intn(3<<20+1)
	l := &large{version: version, b: make([]byte, size)}
	fillStream(l.b, largeSeed(id, version))
	return l
}

func checkLarge(id int, l *large, where string) {
	if l == nil {
		corrupt("%s: large object %d: nil", where, id)
	}
	if len(l.b) < 1<<20 || len(l.b) > 4<<20 {
		corrupt("%s: large object %d version %d: length %d outside [1,4] MiB", where, id, l.version, len(l.b))
	}
	if off := checkStream(l.b, largeSeed(id, l.version)); off >= 0 {
		corrupt("%s: large object %d version %d: %s", where, id, l.version, describe(l.b, off))
	}
}

func largeChurner() {
	rng := rand.New(rand.NewSource(*seed*15485863 + 1))
	for {
		time.Sleep(time.Duration(100+rng.Intn(201)) * time.Millisecond)
		id := rng.Intn(len(larges))
		largeMu.Lock()
		old := larges[id]
		largeMu.Unlock()
		checkLarge(id, old, "replace")
		nl := newLarge(rng, id, old.version+1)
		largeMu.Lock()
		larges[id] = nl
		largeMu.Unlock()
	}
}

// checkLarges checks every large object.  The caller holds largeMu.
func checkLarges() {
	for id, l := range larges {
		checkLarge(id, l, "check")
	}
}

// ---------------------------------------------------------------------------
// Garbage with finalizers

// finObj is dropped as soon as it is made; its finalizer checks its words.
type finObj struct {
	seed  uint64
	words [13]uint64
}

var finalized, finMade int64 // atomically

func checkFin(o *finObj) {
	st := o.seed
	for i := range o.words {
		if w := splitmix64(&st); o.words[i] != w {
			corrupt("finalizer object seed %#x at %p: word %d is %#x, want %#x", o.seed, o, i, o.words[i], w)
			return
		}
	}
	atomic.AddInt64(&finalized, 1)
}

func finalizerChurner() {
	per := *nfinal / 100
	if per < 1 {
		per = 1
	}
	n := uint64(0)
	for {
		time.Sleep(10 * time.Millisecond)
		for i := 0; i < per; i++ {
			n++
			o := &finObj{seed: uint64(*seed)<<40 + n}
			st := o.seed
			for j := range o.words {
				o.words[j] = splitmix64(&st)
			}
			runtime.SetFinalizer(o, checkFin)
		}
		atomic.AddInt64(&finMade, int64(per))
	}
}

// ---------------------------------------------------------------------------
// Deep stacks

const frameWords = 64

type stackG struct {
	id    int
	round uint64
	wake  chan chan bool // stack check requests; answer on the channel
	reply chan bool      // the request being answered, if any
	rng   *rand.Rand
	first sync.Once
}

var (
	stackGs    []*stackG
	stacksDown sync.WaitGroup // every goroutine reached its bottom once
)

func framePattern(g *stackG, d int) uint64 {
	return uint64(g.id)<<48 ^ uint64(d)<<32 ^ g.round*0x9e3779b97f4a7c15 ^ 0x5a5a5a5a
}

//go:noinline
func fillFrame(a *[frameWords]uint64, s uint64) {
	for i := range a {
		a[i] = splitmix64(&s)
	}
}

//go:noinline
func checkFrame(a *[frameWords]uint64, s uint64) int {
	for i := range a {
		if a[i] != splitmix64(&s) {
			return i
		}
	}
	return -1
}

// newSmall returns a small heap object (48 bytes) filled from seed s.
//
//go:noinline
func newSmall(s uint64) *[6]uint64 {
	p := new([6]uint64)
	for i := range p {
		p[i] = splitmix64(&s)
	}
	return p
}

//go:noinline
func checkSmall(p *[6]uint64, s uint64) int {
	for i := range p {
		if p[i] != splitmix64(&s) {
			return i
		}
	}
	return -1
}

// addrOf gives an address for a CORRUPT line without making the array
// escape to the heap (as passing &a[i] to Sprintf would).
//
//go:noinline
func addrOf(p *uint64) uintptr {
	return uintptr(unsafe.Pointer(p))
}

// descend recurses d more frames.  Each frame holds a [64]uint64 on the
// stack and the only pointer to a small heap object; it checks both once
// the frames below it have returned.
//
//go:noinline
func (g *stackG) descend(d int) {
	var a [frameWords]uint64
	s := framePattern(g, d)
	fillFrame(&a, s)
	h := newSmall(^s)
	if d > 0 {
		g.descend(d - 1)
	} else {
		g.bottom()
	}
	if i := checkFrame(&a, s); i >= 0 {
		corrupt("stack: goroutine %d round %d depth %d: word %d of the frame's array (at %#x) is %#x",
			g.id, g.round, d, i, addrOf(&a[i]), a[i])
	}
	if h == nil {
		corrupt("stack: goroutine %d round %d depth %d: the frame's heap pointer is nil", g.id, g.round, d)
	}
	if i := checkSmall(h, ^s); i >= 0 {
		corrupt("stack: goroutine %d round %d depth %d: word %d of the frame's heap object (at %p) is %#x",
			g.id, g.round, d, i, &h[i], h[i])
	}
}

// bottom parks a random 2-5 s, or until a check is requested.
func (g *stackG) bottom() {
	g.first.Do(stacksDown.Done)
	t := time.NewTimer(time.Duration(2000+g.rng.Intn(3001)) * time.Millisecond)
	select {
	case r := <-g.wake:
		g.reply = r
	case <-t.C:
	}
	t.Stop()
}

func (g *stackG) run() {
	for {
		g.descend(*depth)
		// every frame checked on the way up
		if g.reply != nil {
			g.reply <- true
			g.reply = nil
		}
		g.round++
		// park at the top a moment: the pages the deep frames used are
		// below SP now
		time.Sleep(time.Duration(g.rng.Intn(101)) * time.Millisecond)
	}
}

// checkStacks asks every goroutine to unwind and check its frames.
func checkStacks() {
	replies := make([]chan bool, len(stackGs))
	for i, g := range stackGs {
		replies[i] = make(chan bool, 1)
		g.wake <- replies[i]
	}
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for i := range replies {
		select {
		case <-replies[i]:
		case <-deadline.C:
			corrupt("stack: goroutine %d did not answer a stack check in 20 s", i)
		}
	}
}

// ---------------------------------------------------------------------------

var checkMu sync.Mutex

// fullCheck checks everything and runs two GCs; returns the number of keys
// in the map and how long the parts took ("ms=map/large/stacks/gc").  The
// churners wait meanwhile (it holds the map's and the large objects'
// locks), so that a check takes about the same time on a loaded machine.
func fullCheck() (int, string) {
	checkMu.Lock()
	defer checkMu.Unlock()
	mapMu.Lock()
	defer mapMu.Unlock()
	largeMu.Lock()
	defer largeMu.Unlock()
	t0 := time.Now()
	n := checkMap()
	t1 := time.Now()
	checkLarges()
	t2 := time.Now()
	checkStacks()
	t3 := time.Now()
	runtime.GC()
	runtime.GC()
	t4 := time.Now()
	ms := func(a, b time.Time) int64 { return b.Sub(a).Milliseconds() }
	return n, fmt.Sprintf("ms=%d/%d/%d/%d", ms(t0, t1), ms(t1, t2), ms(t2, t3), ms(t3, t4))
}

func numGC() uint32 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.NumGC
}

func writeReady(path string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func usage(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "churn: "+format+"\n", args...)
	os.Exit(2)
}

func main() {
	flag.Parse()
	if flag.NArg() != 0 {
		usage("unexpected argument %q", flag.Arg(0))
	}
	switch {
	case *nkeys < 1:
		usage("-keys must be at least 1")
	case *valueMin < 1 || *valueMax < *valueMin:
		usage("need 1 <= -value-min <= -value-max")
	case *ngoroutine < 0 || *depth < 0 || *nlarge < 0 || *nfinal < 0:
		usage("-goroutines, -depth, -large and -finalizers must not be negative")
	case *nchurners < 1:
		usage("-churners must be at least 1")
	}
	if *gogc > 0 {
		debug.SetGCPercent(*gogc)
	}
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0644)
		if err != nil {
			usage("%v", err)
		}
		logFile = f
	}
	// before the first check, so that a signal never kills us
	sigc := make(chan os.Signal, 8)
	signal.Notify(sigc, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)

	fillMap()
	rng := rand.New(rand.NewSource(*seed))
	larges = make([]*large, *nlarge)
	for id := range larges {
		larges[id] = newLarge(rng, id, 1)
	}
	stackGs = make([]*stackG, *ngoroutine)
	stacksDown.Add(*ngoroutine)
	for i := range stackGs {
		g := &stackG{id: i, wake: make(chan chan bool, 1), rng: rand.New(rand.NewSource(*seed*31 + int64(i)))}
		stackGs[i] = g
		go g.run()
	}
	stacksDown.Wait()
	for w := 0; w < *nchurners; w++ {
		go churner(w)
	}
	if *nlarge > 0 {
		go largeChurner()
	}
	if *nfinal > 0 {
		go finalizerChurner()
	}

	say(os.Stdout, "ready pid=%d keys=%d goroutines=%d depth=%d large=%d churners=%d",
		os.Getpid(), *nkeys, *ngoroutine, *depth, *nlarge, *nchurners)
	if *readyFile != "" {
		if err := writeReady(*readyFile); err != nil {
			usage("ready file: %v", err)
		}
	}

	for sig := range sigc {
		n, times := fullCheck()
		if sig == syscall.SIGUSR1 {
			say(os.Stdout, "check ok keys=%d gcs=%d %s", n, numGC(), times)
			continue
		}
		say(os.Stdout, "exit ok keys=%d gcs=%d %s replaced=%d deleted=%d readded=%d finalizers=%d/%d",
			n, numGC(), times, atomic.LoadInt64(&replaced), atomic.LoadInt64(&deletions), atomic.LoadInt64(&readds),
			atomic.LoadInt64(&finalized), atomic.LoadInt64(&finMade))
		os.Exit(0)
	}
}
