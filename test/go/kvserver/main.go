// Command kvserver is a small line-protocol key/value server built on
// go-cache. It is a checkpoint/restore test workload: a multi-threaded Go
// process with a large heap, a background janitor goroutine and many TCP
// connections.
//
// Protocol (one request per line, one response line each):
//
//	SET key value  -> OK
//	GET key        -> VALUE value | NOTFOUND
//	DEL key        -> OK | NOTFOUND
//	STATS          -> STATS keys=N heap_alloc=B heap_inuse=B heap_sys=B num_gc=N goroutines=N pid=P
//	GC             -> OK num_gc=N
//	SAVE path      -> OK bytes=N us=T | ERR ... (go-cache's own SaveFile: the
//	                  application-level snapshot contrib/bench/ha-throughput.sh
//	                  compares checkpoints with)
//	PING           -> PONG
//
// Anything else gets "ERR ...".
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"runtime"
	"strconv"
	"time"

	cache "github.com/patrickmn/go-cache"

	"../kvwire"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7070", "listen address")
	preload := flag.Int("preload", 0, "preload keys key-0..key-N-1 (plus N/10 tmp-* keys expiring after 1s)")
	valueSize := flag.Int("value-size", 128, "size in bytes of preloaded values")
	ready := flag.String("ready", "", "write PID to this file once listening and preloaded")
	seed := flag.Int64("seed", 1, "seed for preloaded values")
	flag.BoolVar(&kvwire.BinaryValues, "binary", false, "values of random bytes (all but \\n and \\r: incompressible) instead of printable characters; must match the server's")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("kvserver: ")

	// Listen first (fail fast if the address is taken); connections made
	// during preloading wait in the backlog until the accept loop starts.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}

	// Items set with NoExpiration live forever; the janitor sweeps expired
	// items every second, which turns the tmp-* keys into heap garbage.
	c := cache.New(cache.NoExpiration, time.Second)
	for i := 0; i < *preload; i++ {
		c.Set("key-"+strconv.Itoa(i), kvwire.ValueFor(*seed, i, *valueSize), cache.NoExpiration)
	}
	for i := 0; i < *preload/10; i++ {
		c.Set("tmp-"+strconv.Itoa(i), kvwire.ValueFor(*seed, i, *valueSize), time.Second)
	}

	pid := os.Getpid()
	if *ready != "" {
		if err := writeReady(*ready, pid); err != nil {
			log.Fatal(err)
		}
	}
	log.Printf("listening on %s pid %d keys %d", ln.Addr(), pid, c.ItemCount())

	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Printf("accept: %v", err)
			time.Sleep(10 * time.Millisecond) // avoid spinning on e.g. EMFILE
			continue
		}
		go serve(conn, c)
	}
}

// writeReady atomically creates path containing pid.
func writeReady(path string, pid int) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// cut splits s at the first space.
func cut(s []byte) (head, rest []byte) {
	if i := bytes.IndexByte(s, ' '); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, nil
}

// serve handles one connection until it is closed or fails.
func serve(conn net.Conn, c *cache.Cache) {
	defer conn.Close()
	r := bufio.NewReaderSize(conn, 64<<10)
	w := bufio.NewWriterSize(conn, 64<<10)
	for {
		line, err := kvwire.ReadLine(r)
		if err != nil && err != io.ErrUnexpectedEOF {
			return // EOF, reset, ...: close quietly
		}
		// A last line without a newline is served; the next read ends.
		handle(w, c, line)
		// Flush only when no further pipelined request is already buffered.
		if r.Buffered() == 0 {
			if w.Flush() != nil {
				return
			}
		}
	}
}

// handle executes one request line and writes its response line to w.
func handle(w *bufio.Writer, c *cache.Cache, line []byte) {
	cmd, args := cut(line)
	switch string(cmd) {
	case "GET":
		if len(args) == 0 {
			w.WriteString("ERR usage: GET key\n")
			return
		}
		v, ok := c.Get(string(args))
		if !ok {
			w.WriteString("NOTFOUND\n")
			return
		}
		w.WriteString("VALUE ")
		w.WriteString(v.(string))
		w.WriteByte('\n')
	case "SET":
		key, val := cut(args)
		if len(key) == 0 || val == nil {
			w.WriteString("ERR usage: SET key value\n")
			return
		}
		c.Set(string(key), string(val), cache.NoExpiration)
		w.WriteString("OK\n")
	case "DEL":
		if len(args) == 0 {
			w.WriteString("ERR usage: DEL key\n")
			return
		}
		// go-cache's Delete does not report presence; check first.
		k := string(args)
		if _, ok := c.Get(k); !ok {
			w.WriteString("NOTFOUND\n")
			return
		}
		c.Delete(k)
		w.WriteString("OK\n")
	case "STATS":
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Fprintf(w, "STATS keys=%d heap_alloc=%d heap_inuse=%d heap_sys=%d num_gc=%d goroutines=%d pid=%d\n",
			c.ItemCount(), ms.HeapAlloc, ms.HeapInuse, ms.HeapSys, ms.NumGC,
			runtime.NumGoroutine(), os.Getpid())
	case "GC":
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Fprintf(w, "OK num_gc=%d\n", ms.NumGC)
	case "SAVE":
		// go-cache's SaveFile gob-encodes every item under the cache's
		// read lock: SETs wait until it is done.
		if len(args) == 0 {
			w.WriteString("ERR usage: SAVE path\n")
			return
		}
		t0 := time.Now()
		if err := c.SaveFile(string(args)); err != nil {
			fmt.Fprintf(w, "ERR save: %v\n", err)
			return
		}
		var size int64
		if fi, err := os.Stat(string(args)); err == nil {
			size = fi.Size()
		}
		fmt.Fprintf(w, "OK bytes=%d us=%d\n", size, time.Since(t0).Microseconds())
	case "PING":
		w.WriteString("PONG\n")
	default:
		w.WriteString("ERR unknown command\n")
	}
}
