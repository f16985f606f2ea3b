// Command kvload is a closed-loop load generator for kvserver. It keeps
// going across server outages (e.g. a checkpoint/kill/restore cycle):
// failed connections are re-dialed every 20ms until the server is back.
//
// Each of -conns connections issues one request at a time: with
// probability -get-frac a GET of a random key-<i> (i < -keys), whose value
// must equal kvwire.ValueFor(seed, i, value-size), otherwise a SET of
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
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"../kvwire"
)

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
	flag.BoolVar(&kvwire.BinaryValues, "binary", false, "values of random bytes (all but \\n and \\r: incompressible) instead of printable characters; must match the server's")
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
	setSeed := kvwire.PrefixSeed(*seed, "load-"+strconv.Itoa(w.id))
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
			x := kvwire.Splitmix64(&rng)
			isGet := float64(x>>11)/(1<<53) < *getFrac
			var key int
			buf = buf[:0]
			if isGet {
				key = int(kvwire.Splitmix64(&rng) % uint64(*keys))
				buf = append(buf, "GET key-"...)
				buf = strconv.AppendInt(buf, int64(key), 10)
			} else if *overwrite {
				key = int(kvwire.Splitmix64(&rng) % uint64(*keys))
				buf = append(buf, "SET key-"...)
				buf = strconv.AppendInt(buf, int64(key), 10)
				buf = append(buf, ' ')
				buf = append(buf, kvwire.ValueFor(*seed, key, *valueSize)...)
			} else {
				buf = append(buf, setPrefix...)
				buf = strconv.AppendInt(buf, int64(n), 10)
				buf = append(buf, ' ')
				buf = append(buf, kvwire.ValueFor(setSeed, n, *valueSize)...)
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
				line, err = kvwire.ReadLine(r)
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
				} else if want := "VALUE " + kvwire.ValueFor(*seed, key, *valueSize); string(line) != want {
					atomic.AddInt64(&mismatches, 1)
					firstMismatch.Do(func() {
						fmt.Fprintf(os.Stderr, "kvload: mismatch key-%d: got %s want %s\n", key, kvwire.Trunc(string(line)), kvwire.Trunc(want))
					})
				}
			} else if string(line) != "OK" {
				atomic.AddInt64(&errs, 1)
			}
		}
	}
}
