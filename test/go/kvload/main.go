// Command kvload is a closed-loop load generator for kvserver. It keeps
// going across server outages (e.g. a checkpoint/kill/restore cycle):
// failed connections are re-dialed every 20ms until the server is back.
//
// Each of -conns connections issues one request at a time: with
// probability -get-frac a GET of a random key-<i> (i < -keys), whose value
// must equal valueFor(seed, i, value-size), otherwise a SET of
// load-<conn>-<n> to a deterministic value, or with -overwrite a SET of a
// random key-<i> to its own value (the server's old copy becomes garbage;
// the keyspace and every value stay the same, so GETs and kvclient -check
// still hold).
//
// Each request must complete within -timeout (read and write deadline), so
// a connection that silently vanished (e.g. dropped by a checkpoint with
// --tcp-close, which sends no FIN or RST) is noticed and re-dialed.
//
// Counters: ops = completed requests; errors = failed requests (I/O error,
// timeout or unexpected response); reconnects = lost connections; mismatches =
// GETs that returned a wrong value or NOTFOUND. Exit status is 1 if there
// was any mismatch, else 0.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// BEGIN shared value generator (keep identical in kvserver, kvclient, kvload;
// build.sh checks this).

const valueAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// splitmix64 advances *state and returns the next pseudo-random value.
func splitmix64(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	z := *state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// binaryValues selects the value kind (the -binary flag): false for
// printable characters (6 bits of entropy per byte, zstd shrinks them to
// about 3/4), true for random bytes (every byte value but '\n' and '\r',
// which the line protocol cannot carry: incompressible).
var binaryValues bool

// valueFor returns the deterministic value of key i: size bytes drawn from
// splitmix64 seeded with seed*1000003+i, printable or binary (binaryValues).
func valueFor(seed int64, i int, size int) string {
	state := uint64(seed*1000003 + int64(i))
	var sb strings.Builder
	sb.Grow(size)
	var r uint64
	left := 0
	for j := 0; j < size; j++ {
		if left == 0 {
			r = splitmix64(&state)
			left = 10 // 10 x 6 bits per 64-bit draw
			if binaryValues {
				left = 8 // 8 x 8 bits
			}
		}
		if binaryValues {
			b := byte(r)
			if b == '\n' || b == '\r' {
				b |= 0x80
			}
			sb.WriteByte(b)
			r >>= 8
		} else {
			sb.WriteByte(valueAlphabet[r&63])
			r >>= 6
		}
		left--
	}
	return sb.String()
}

// prefixSeed derives the seed used for keys "<prefix>-<i>" (FNV-1a of the
// prefix mixed with seed), so that different prefixes get different values.
func prefixSeed(seed int64, prefix string) int64 {
	h := uint64(14695981039346656037)
	for k := 0; k < len(prefix); k++ {
		h ^= uint64(prefix[k])
		h *= 1099511628211
	}
	return int64(h ^ uint64(seed))
}

// END shared value generator

var (
	addr      = flag.String("addr", "127.0.0.1:7070", "server address")
	keys      = flag.Int("keys", 1000, "GET keyspace key-0..key-N-1 (must be preloaded)")
	getFrac   = flag.Float64("get-frac", 0.9, "fraction of requests that are GETs; the rest are SETs")
	valueSize = flag.Int("value-size", 128, "value size in bytes (must match the server's)")
	seed      = flag.Int64("seed", 1, "value seed (must match the server's)")
	overwrite = flag.Bool("overwrite", false, "SETs overwrite a random key-<i> (i < -keys) with its own value, a fresh copy each time (the old copy becomes garbage), instead of adding load-<conn>-<n> keys")
	timeout   = flag.Duration("timeout", 2*time.Second, "per-request read/write deadline (0 = none); a timeout counts as an error and a reconnect")

	ops, errs, reconnects, mismatches int64 // updated atomically

	firstMismatch sync.Once
)

func main() {
	nconns := flag.Int("conns", 4, "concurrent connections")
	duration := flag.Duration("duration", 10*time.Second, "run time (0 = until SIGTERM/SIGINT)")
	reportFile := flag.String("report", "", "also write the final summary line to this file")
	interval := flag.Duration("interval", time.Second, "progress report interval")
	flag.BoolVar(&binaryValues, "binary", false, "values of random bytes (all but \\n and \\r: incompressible) instead of printable characters; must match the server's")
	flag.Parse()
	if *keys < 1 || *nconns < 1 || *interval <= 0 || *timeout < 0 {
		fmt.Fprintln(os.Stderr, "kvload: -keys, -conns and -interval must be positive, -timeout not negative")
		os.Exit(2)
	}

	stop := make(chan struct{})
	workers := make([]*worker, *nconns)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range workers {
		workers[c] = &worker{id: c, stop: stop}
		wg.Add(1)
		go func(w *worker) {
			defer wg.Done()
			w.run()
		}(workers[c])
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	var timer <-chan time.Time
	if *duration > 0 {
		timer = time.After(*duration)
	}
	ticker := time.NewTicker(*interval)
	lastOps, lastT := int64(0), start
loop:
	for {
		select {
		case now := <-ticker.C:
			n := atomic.LoadInt64(&ops)
			fmt.Printf("kvload: t=%.1fs ops/s=%.0f errors=%d reconnects=%d mismatches=%d\n",
				now.Sub(start).Seconds(), float64(n-lastOps)/now.Sub(lastT).Seconds(),
				atomic.LoadInt64(&errs), atomic.LoadInt64(&reconnects), atomic.LoadInt64(&mismatches))
			lastOps, lastT = n, now
		case <-timer:
			break loop
		case <-sigs:
			break loop
		}
	}
	ticker.Stop()

	// Stop workers: closing their connections unblocks pending reads.
	close(stop)
	for _, w := range workers {
		w.shutdown()
	}
	wg.Wait()

	elapsed := time.Since(start).Seconds()
	summary := fmt.Sprintf("kvload: total ops=%d ops/s=%.0f reconnects=%d errors=%d mismatches=%d",
		ops, float64(ops)/elapsed, reconnects, errs, mismatches)
	fmt.Println(summary)
	if *reportFile != "" {
		if err := os.WriteFile(*reportFile, []byte(summary+"\n"), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "kvload: %v\n", err)
		}
	}
	if mismatches > 0 {
		os.Exit(1)
	}
}

// worker drives one connection in a closed loop.
type worker struct {
	id   int
	stop chan struct{}

	mu     sync.Mutex
	conn   net.Conn
	closed bool
}

// shutdown marks the worker stopped and closes its current connection.
func (w *worker) shutdown() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.conn != nil {
		w.conn.Close()
	}
}

// stopped reports whether shutdown was requested.
func (w *worker) stopped() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// dial connects, retrying every 20ms until success or stop. It returns nil
// if stopped.
func (w *worker) dial() net.Conn {
	for {
		conn, err := net.DialTimeout("tcp", *addr, time.Second)
		if err == nil {
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.closed {
				conn.Close()
				return nil
			}
			w.conn = conn
			return conn
		}
		select {
		case <-w.stop:
			return nil
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// run issues requests until stopped.
func (w *worker) run() {
	rng := uint64(*seed)*7919 + uint64(w.id) // per-connection request stream
	setSeed := prefixSeed(*seed, "load-"+strconv.Itoa(w.id))
	setPrefix := "SET load-" + strconv.Itoa(w.id) + "-"
	var buf []byte
	n := 0
	for first := true; ; first = false {
		// After a failure, pause before re-dialing so that a server that
		// accepts and immediately drops connections does not cause a spin.
		if !first {
			select {
			case <-w.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
		conn := w.dial()
		if conn == nil {
			return
		}
		r := bufio.NewReaderSize(conn, 64<<10)
		for {
			// Build the request.
			x := splitmix64(&rng)
			isGet := float64(x>>11)/(1<<53) < *getFrac
			var key int
			buf = buf[:0]
			if isGet {
				key = int(splitmix64(&rng) % uint64(*keys))
				buf = append(buf, "GET key-"...)
				buf = strconv.AppendInt(buf, int64(key), 10)
			} else if *overwrite {
				key = int(splitmix64(&rng) % uint64(*keys))
				buf = append(buf, "SET key-"...)
				buf = strconv.AppendInt(buf, int64(key), 10)
				buf = append(buf, ' ')
				buf = append(buf, valueFor(*seed, key, *valueSize)...)
			} else {
				buf = append(buf, setPrefix...)
				buf = strconv.AppendInt(buf, int64(n), 10)
				buf = append(buf, ' ')
				buf = append(buf, valueFor(setSeed, n, *valueSize)...)
				n++
			}
			buf = append(buf, '\n')

			// One round trip, bounded by -timeout.
			var err error
			if *timeout > 0 {
				err = conn.SetDeadline(time.Now().Add(*timeout))
			}
			if err == nil {
				_, err = conn.Write(buf)
			}
			var line []byte
			if err == nil {
				line, err = readLine(r)
			}
			if err != nil {
				conn.Close()
				if w.stopped() {
					return
				}
				atomic.AddInt64(&errs, 1)
				atomic.AddInt64(&reconnects, 1)
				break // re-dial
			}
			atomic.AddInt64(&ops, 1)

			// Check the response.
			if isGet {
				if !bytes.HasPrefix(line, []byte("VALUE ")) && !bytes.Equal(line, []byte("NOTFOUND")) {
					atomic.AddInt64(&errs, 1)
				} else if want := "VALUE " + valueFor(*seed, key, *valueSize); string(line) != want {
					atomic.AddInt64(&mismatches, 1)
					firstMismatch.Do(func() {
						fmt.Fprintf(os.Stderr, "kvload: mismatch key-%d: got %s want %s\n", key, trunc(string(line)), trunc(want))
					})
				}
			} else if string(line) != "OK" {
				atomic.AddInt64(&errs, 1)
			}
		}
	}
}

// trunc shortens long values for messages.
func trunc(s string) string {
	if len(s) <= 40 {
		return s
	}
	return s[:40] + "...(" + strconv.Itoa(len(s)) + " bytes)"
}

// readLine returns the next line without its "\n" or "\r\n". The result
// may alias the reader's buffer and is valid until the next read.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		buf := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			line, err = r.ReadSlice('\n')
			buf = append(buf, line...)
		}
		line = buf
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			return nil, io.ErrUnexpectedEOF // truncated response
		}
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return line, nil
}
