// Command kvclient checks and writes data in a kvserver. It is used to
// verify that a checkpointed/restored kvserver still holds the right data.
//
// Actions (any combination, run in this order):
//
//	-check N                      GET key-0..key-N-1, compare with kvwire.ValueFor
//	-set-prefix P -set-count M    SET P-0..P-(M-1), then verify them by GET
//	-expect-prefix P -expect-count M
//	                              verify keys written earlier with -set-prefix
//	-gc                           send GC and print the response
//	-stats                        send STATS and print the response
//
// Exit status: 0 all good, 1 mismatches (a missing key is a mismatch),
// 2 usage or connection/protocol errors.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"../kvwire"
)

var (
	addr    = flag.String("addr", "127.0.0.1:7070", "server address")
	conns   = flag.Int("conns", 4, "parallel connections for -check/-set/-expect")
	timeout = flag.Duration("timeout", 30*time.Second, "keep retrying to dial for this long (every 50ms); also the I/O deadline of each phase")
)

// maxShown is how many mismatches are printed.
const maxShown = 10

// mismatch describes one wrong or missing key.
type mismatch struct {
	i   int
	msg string
}

func main() {
	check := flag.Int("check", 0, "check keys key-0..key-N-1")
	valueSize := flag.Int("value-size", 128, "value size in bytes")
	seed := flag.Int64("seed", 1, "value seed (must match the server's / the writer's)")
	setPrefix := flag.String("set-prefix", "", "SET keys P-0..P-(M-1), then verify them")
	setCount := flag.Int("set-count", 0, "number of keys for -set-prefix")
	expPrefix := flag.String("expect-prefix", "", "verify keys P-0..P-(M-1) written by -set-prefix")
	expCount := flag.Int("expect-count", 0, "number of keys for -expect-prefix")
	stats := flag.Bool("stats", false, "print the server's STATS line")
	gc := flag.Bool("gc", false, "run GC in the server and print the result")
	flag.BoolVar(&kvwire.BinaryValues, "binary", false, "values of random bytes (all but \\n and \\r: incompressible) instead of printable characters; must match the server's")
	flag.Parse()

	if *check <= 0 && *setPrefix == "" && *expPrefix == "" && !*stats && !*gc {
		fmt.Fprintln(os.Stderr, "kvclient: nothing to do (use -check, -set-prefix, -expect-prefix, -stats or -gc)")
		flag.Usage()
		os.Exit(2)
	}
	if *conns < 1 {
		*conns = 1
	}

	failed := false
	if *check > 0 {
		failed = verify("keys", "key", *seed, *check, *valueSize) || failed
	}
	if *setPrefix != "" {
		failed = set(*setPrefix, *seed, *setCount, *valueSize) || failed
		failed = verify("keys prefix "+*setPrefix, *setPrefix, kvwire.PrefixSeed(*seed, *setPrefix), *setCount, *valueSize) || failed
	}
	if *expPrefix != "" {
		failed = verify("keys prefix "+*expPrefix, *expPrefix, kvwire.PrefixSeed(*seed, *expPrefix), *expCount, *valueSize) || failed
	}
	if *gc {
		fmt.Println(command("GC"))
	}
	if *stats {
		fmt.Println(command("STATS"))
	}
	if failed {
		os.Exit(1)
	}
}

// fatal reports a connection or protocol error and exits with status 2.
func fatal(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "kvclient: error: "+format+"\n", args...)
	os.Exit(2)
}

// dial connects to the server, retrying every 50ms until -timeout.
func dial() net.Conn {
	deadline := time.Now().Add(*timeout)
	for {
		conn, err := net.DialTimeout("tcp", *addr, time.Second)
		if err == nil {
			conn.SetDeadline(time.Now().Add(*timeout))
			return conn
		}
		if time.Now().After(deadline) {
			fatal("dial %s: %v", *addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// command sends one request on a fresh connection and returns the response.
func command(req string) string {
	conn := dial()
	defer conn.Close()
	if _, err := io.WriteString(conn, req+"\n"); err != nil {
		fatal("%s: %v", req, err)
	}
	line, err := kvwire.ReadLine(bufio.NewReader(conn))
	if err != nil {
		fatal("%s: %v", req, err)
	}
	return string(line)
}

// pipeline runs requests 0..n-1 over -conns connections. Each connection
// gets a contiguous range; a writer goroutine streams all its requests while
// the reader checks the responses in order (no per-request round trip).
// check returns "" for a good response, else a mismatch description.
func pipeline(n int, request func(w *bufio.Writer, i int), check func(i int, resp []byte) string) (int, []mismatch) {
	nc := *conns
	if nc > n {
		nc = n
	}
	var (
		mu    sync.Mutex
		count int
		shown []mismatch
		wg    sync.WaitGroup
	)
	for c := 0; c < nc; c++ {
		lo, hi := n*c/nc, n*(c+1)/nc
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn := dial()
			defer conn.Close()
			werr := make(chan error, 1)
			go func() {
				w := bufio.NewWriterSize(conn, 64<<10)
				for i := lo; i < hi; i++ {
					request(w, i)
				}
				werr <- w.Flush()
			}()
			r := bufio.NewReaderSize(conn, 64<<10)
			var local []mismatch
			bad := 0
			for i := lo; i < hi; i++ {
				line, err := kvwire.ReadLine(r)
				if err != nil {
					fatal("reading response %d: %v", i, err)
				}
				if msg := check(i, line); msg != "" {
					bad++
					if len(local) < maxShown {
						local = append(local, mismatch{i, msg})
					}
				}
			}
			if err := <-werr; err != nil {
				fatal("writing requests: %v", err)
			}
			mu.Lock()
			count += bad
			shown = append(shown, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(shown, func(a, b int) bool { return shown[a].i < shown[b].i })
	if len(shown) > maxShown {
		shown = shown[:maxShown]
	}
	return count, shown
}

// report prints mismatches and returns true if there were any.
func report(count int, shown []mismatch) bool {
	for _, m := range shown {
		fmt.Println(m.msg)
	}
	if count > len(shown) {
		fmt.Printf("... and %d more mismatches\n", count-len(shown))
	}
	return count > 0
}

// verify GETs keys "<prefix>-<i>" for i < n and compares them with
// kvwire.ValueFor(seed, i, size). It returns true on any mismatch.
func verify(what, prefix string, seed int64, n, size int) bool {
	start := time.Now()
	count, shown := pipeline(n,
		func(w *bufio.Writer, i int) {
			w.WriteString("GET " + prefix + "-" + strconv.Itoa(i) + "\n")
		},
		func(i int, resp []byte) string {
			want := "VALUE " + kvwire.ValueFor(seed, i, size)
			if string(resp) == want {
				return ""
			}
			return fmt.Sprintf("%s-%d: got %s want %s", prefix, i, kvwire.Trunc(string(resp)), kvwire.Trunc(want))
		})
	bad := report(count, shown)
	fmt.Printf("kvclient: checked %d %s, %d mismatches in %.3fs\n", n, what, count, time.Since(start).Seconds())
	return bad
}

// set writes keys "<prefix>-<i>" for i < n with values derived from
// kvwire.PrefixSeed(seed, prefix). It returns true if any SET was not acknowledged.
func set(prefix string, seed int64, n, size int) bool {
	start := time.Now()
	ps := kvwire.PrefixSeed(seed, prefix)
	count, shown := pipeline(n,
		func(w *bufio.Writer, i int) {
			w.WriteString("SET " + prefix + "-" + strconv.Itoa(i) + " " + kvwire.ValueFor(ps, i, size) + "\n")
		},
		func(i int, resp []byte) string {
			if string(resp) == "OK" {
				return ""
			}
			return fmt.Sprintf("SET %s-%d: got %s want OK", prefix, i, kvwire.Trunc(string(resp)))
		})
	bad := report(count, shown)
	fmt.Printf("kvclient: set %d keys prefix %s, %d failures in %.3fs\n", n, prefix, count, time.Since(start).Seconds())
	return bad
}
