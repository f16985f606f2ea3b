// Command mcclient loads, checks and stresses a memcached server over the
// memcached text protocol (standard library only). The t800 tests use it to
// verify that a checkpointed/restored memcached still holds every item.
//
// Actions (any combination, run in this order):
//
//	-set N        set P-0..P-(N-1) (P is -prefix), flags = i % 65536,
//	              values from valueFor(seed, i, -value-size)
//	-check N      get P-0..P-(N-1) in multi-gets of 100 keys and compare
//	              every value and its flags; a missing key is a mismatch
//	-load DUR     for DUR, -conns connections each: set L-C-K (L is
//	              -load-prefix, C the connection, K = 0, 1, 2, ... in order)
//	              and get a random P-i (i < -check-range) and compare it.
//	              An I/O error or a reply slower than -op-timeout drops the
//	              connection and dials again, and K is set again: a server
//	              that goes away and comes back is expected. At the end,
//	              one line "acked C K" per connection (the first K keys
//	              were acknowledged), then a summary line.
//	-check-acked FILE
//	              read the "acked C K" lines of FILE and check L-C-0..L-C-(K-1)
//	-stats        print the server's STAT lines as one line of name=value
//
// Exit status: 0 all good, 1 mismatches, 2 usage or connection/protocol errors.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

var (
	addr      = flag.String("addr", "127.0.0.1:11211", "server address")
	timeout   = flag.Duration("timeout", 10*time.Second, "keep retrying to dial for this long; also the I/O deadline of -set/-check/-stats")
	prefix    = flag.String("prefix", "key", "key prefix of -set/-check/-load's gets")
	loadPfx   = flag.String("load-prefix", "load", "key prefix of -load's sets and -check-acked")
	valueSize = flag.Int("value-size", 100, "value size in bytes")
	seed      = flag.Int64("seed", 1, "value seed")
	conns     = flag.Int("conns", 4, "connections of -load")
	checkRng  = flag.Int("check-range", 0, "-load reads P-0..P-(this-1) (0: no reads)")
	opTimeout = flag.Duration("op-timeout", time.Second, "-load: a reply slower than this drops the connection")
)

// maxShown is how many mismatches are printed.
const maxShown = 10

// splitmix64 advances *state and returns the next pseudo-random value.
func splitmix64(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	z := *state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// valueFor returns the deterministic printable value of item i.
func valueFor(seed int64, i int, size int) []byte {
	state := uint64(seed*1000003 + int64(i))
	v := make([]byte, size)
	var r uint64
	for j := range v {
		if j%10 == 0 {
			r = splitmix64(&state)
		}
		v[j] = alphabet[r&63]
		r >>= 6
	}
	return v
}

type mc struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
}

func fatal(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "mcclient: error: "+format+"\n", args...)
	os.Exit(2)
}

// dial connects, retrying every 50 ms until the deadline.
func dial(deadline time.Time) (*mc, error) {
	for {
		conn, err := net.DialTimeout("tcp", *addr, time.Second)
		if err == nil {
			return &mc{conn, bufio.NewReaderSize(conn, 64<<10), bufio.NewWriterSize(conn, 64<<10)}, nil
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustDial() *mc {
	m, err := dial(time.Now().Add(*timeout))
	if err != nil {
		fatal("dial %s: %v", *addr, err)
	}
	m.conn.SetDeadline(time.Now().Add(*timeout))
	return m
}

// line reads one reply line without its "\r\n".
func (m *mc) line() ([]byte, error) {
	l, err := m.r.ReadSlice('\n')
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return bytes.TrimSuffix(bytes.TrimSuffix(l, []byte("\n")), []byte("\r")), nil
}

func (m *mc) writeSet(key string, flags int, v []byte) {
	fmt.Fprintf(m.w, "set %s %d 0 %d\r\n", key, flags, len(v))
	m.w.Write(v)
	m.w.WriteString("\r\n")
}

// item is one VALUE of a get reply.
type item struct {
	flags int
	data  []byte
}

// getMulti sends one get for keys and returns the items found.
func (m *mc) getMulti(keys []string) (map[string]item, error) {
	m.w.WriteString("get " + strings.Join(keys, " ") + "\r\n")
	if err := m.w.Flush(); err != nil {
		return nil, err
	}
	got := make(map[string]item, len(keys))
	for {
		l, err := m.line()
		if err != nil {
			return nil, err
		}
		if string(l) == "END" {
			return got, nil
		}
		f := strings.Fields(string(l))
		if len(f) != 4 || f[0] != "VALUE" {
			return nil, fmt.Errorf("unexpected reply %q to a get", l)
		}
		flags, _ := strconv.Atoi(f[2])
		n, err := strconv.Atoi(f[3])
		if err != nil || n < 0 || n > 1<<20 {
			return nil, fmt.Errorf("bad length in %q", l)
		}
		data := make([]byte, n+2)
		if _, err := io.ReadFull(m.r, data); err != nil {
			return nil, err
		}
		got[f[1]] = item{flags, data[:n]}
	}
}

// set stores P-0..P-(n-1), 1000 pipelined sets at a time.
func set(n int) bool {
	m := mustDial()
	defer m.conn.Close()
	bad := 0
	for lo := 0; lo < n; lo += 1000 {
		hi := lo + 1000
		if hi > n {
			hi = n
		}
		for i := lo; i < hi; i++ {
			m.writeSet(*prefix+"-"+strconv.Itoa(i), i%65536, valueFor(*seed, i, *valueSize))
		}
		if err := m.w.Flush(); err != nil {
			fatal("set: %v", err)
		}
		for i := lo; i < hi; i++ {
			l, err := m.line()
			if err != nil {
				fatal("set %s-%d: %v", *prefix, i, err)
			}
			if string(l) != "STORED" {
				if bad++; bad <= maxShown {
					fmt.Printf("set %s-%d: got %q, want STORED\n", *prefix, i, l)
				}
			}
		}
	}
	fmt.Printf("mcclient: set %d items %s-*, %d failures\n", n, *prefix, bad)
	return bad > 0
}

// check gets pfx-0..pfx-(n-1) and compares them with valueFor(sd, i), and
// with wantFlags their flags with i % 65536.
func check(pfx string, sd int64, n int, wantFlags bool) bool {
	m := mustDial()
	defer m.conn.Close()
	bad := 0
	report := func(format string, args ...interface{}) {
		if bad++; bad <= maxShown {
			fmt.Printf(format+"\n", args...)
		}
	}
	keys := make([]string, 0, 100)
	for lo := 0; lo < n; lo += 100 {
		keys = keys[:0]
		for i := lo; i < lo+100 && i < n; i++ {
			keys = append(keys, pfx+"-"+strconv.Itoa(i))
		}
		got, err := m.getMulti(keys)
		if err != nil {
			fatal("get %s..: %v", keys[0], err)
		}
		for j, k := range keys {
			i := lo + j
			it, ok := got[k]
			want := valueFor(sd, i, *valueSize)
			switch {
			case !ok:
				report("%s: missing (item differs)", k)
			case !bytes.Equal(it.data, want):
				report("%s: value differs: got %.30q... want %.30q...", k, it.data, want)
			case wantFlags && it.flags != i%65536:
				report("%s: flags differ: got %d want %d", k, it.flags, i%65536)
			}
		}
	}
	if bad > maxShown {
		fmt.Printf("... and %d more\n", bad-maxShown)
	}
	fmt.Printf("mcclient: checked %d items %s-*, %d differ\n", n, pfx, bad)
	return bad > 0
}

// loadSeed is the value seed of connection c's -load keys.
func loadSeed(c int) int64 {
	return *seed*7919 + int64(c) + 1
}

type loadStats struct {
	acked, ops, mismatches, redials int
}

// loadConn runs one -load connection until the deadline.
func loadConn(c int, end time.Time, st *loadStats) {
	rng := rand.New(rand.NewSource(int64(c) + *seed))
	var m *mc
	drop := func() {
		if m != nil {
			m.conn.Close()
			m = nil
		}
		st.redials++
	}
	for time.Now().Before(end) {
		if m == nil {
			var err error
			if m, err = dial(end); err != nil {
				return
			}
		}
		m.conn.SetDeadline(time.Now().Add(*opTimeout))
		k := st.acked
		m.writeSet(*loadPfx+"-"+strconv.Itoa(c)+"-"+strconv.Itoa(k), 0, valueFor(loadSeed(c), k, *valueSize))
		if m.w.Flush() != nil {
			drop()
			continue
		}
		l, err := m.line()
		if err != nil {
			drop()
			continue
		}
		if string(l) != "STORED" {
			fatal("load: set %s-%d-%d: got %q", *loadPfx, c, k, l)
		}
		st.acked++
		st.ops++
		if *checkRng <= 0 {
			continue
		}
		i := rng.Intn(*checkRng)
		key := *prefix + "-" + strconv.Itoa(i)
		got, err := m.getMulti([]string{key})
		if err != nil {
			drop()
			continue
		}
		st.ops++
		if it, ok := got[key]; !ok || !bytes.Equal(it.data, valueFor(*seed, i, *valueSize)) {
			if st.mismatches++; st.mismatches <= maxShown {
				fmt.Printf("load: %s differs\n", key)
			}
		}
	}
	if m != nil {
		m.conn.Close()
	}
}

func load(d time.Duration) bool {
	end := time.Now().Add(d)
	sts := make([]loadStats, *conns)
	var wg sync.WaitGroup
	for c := range sts {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			loadConn(c, end, &sts[c])
		}(c)
	}
	wg.Wait()
	var tot loadStats
	for c, s := range sts {
		fmt.Printf("acked %d %d\n", c, s.acked)
		tot.ops += s.ops
		tot.mismatches += s.mismatches
		tot.redials += s.redials
	}
	fmt.Printf("mcclient: load ops=%d mismatches=%d redials=%d\n", tot.ops, tot.mismatches, tot.redials)
	return tot.mismatches > 0
}

// checkAcked verifies the keys that a -load run reported as acknowledged.
func checkAcked(file string) bool {
	data, err := os.ReadFile(file)
	if err != nil {
		fatal("%v", err)
	}
	bad, n := false, 0
	for _, l := range strings.Split(string(data), "\n") {
		var c, k int
		if _, err := fmt.Sscanf(l, "acked %d %d", &c, &k); err != nil {
			continue
		}
		bad = check(*loadPfx+"-"+strconv.Itoa(c), loadSeed(c), k, false) || bad
		n++
	}
	if n == 0 {
		fatal("no \"acked C K\" line in %s", file)
	}
	return bad
}

func stats() {
	m := mustDial()
	defer m.conn.Close()
	m.w.WriteString("stats\r\n")
	if err := m.w.Flush(); err != nil {
		fatal("stats: %v", err)
	}
	var out []string
	for {
		l, err := m.line()
		if err != nil {
			fatal("stats: %v", err)
		}
		if string(l) == "END" {
			break
		}
		f := strings.Fields(string(l))
		if len(f) != 3 || f[0] != "STAT" {
			fatal("stats: unexpected line %q", l)
		}
		out = append(out, f[1]+"="+f[2])
	}
	fmt.Println(strings.Join(out, " "))
}

func main() {
	nSet := flag.Int("set", 0, "set P-0..P-(N-1)")
	nCheck := flag.Int("check", 0, "check P-0..P-(N-1)")
	loadFor := flag.Duration("load", 0, "run the load for this long")
	acked := flag.String("check-acked", "", "check the keys acknowledged in a -load output file")
	st := flag.Bool("stats", false, "print the server's stats")
	flag.Parse()
	if *nSet <= 0 && *nCheck <= 0 && *loadFor <= 0 && *acked == "" && !*st {
		fmt.Fprintln(os.Stderr, "mcclient: nothing to do (use -set, -check, -load, -check-acked or -stats)")
		flag.Usage()
		os.Exit(2)
	}
	if *valueSize < 1 || *conns < 1 {
		fatal("%v", errors.New("-value-size and -conns must be at least 1"))
	}
	failed := false
	if *nSet > 0 {
		failed = set(*nSet) || failed
	}
	if *nCheck > 0 {
		failed = check(*prefix, *seed, *nCheck, true) || failed
	}
	if *loadFor > 0 {
		failed = load(*loadFor) || failed
	}
	if *acked != "" {
		failed = checkAcked(*acked) || failed
	}
	if *st {
		stats()
	}
	if failed {
		os.Exit(1)
	}
}
