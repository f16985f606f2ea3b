// Command etcdload writes to an etcd server through its HTTP/JSON gateway
// (POST /v3/kv/put and /v3/kv/range, standard library only), keeping each
// connection open: etcd hands every request on to its own gRPC server
// over a loopback connection to itself, so the load goes through both the
// client connections and that one. The t810 tests use it to write while
// etcd is dumped and restored.
//
// Actions (one of):
//
//	-load DUR     for DUR, -conns connections each: put P-C-K (P is
//	              -prefix, C the connection, K = 0, 1, 2, ... in order) with
//	              the value valueFor(C, K). Each connection has its own HTTP
//	              client and keeps its TCP connection between requests. A
//	              request that fails or takes longer than -op-timeout is
//	              sent again on a new connection (a put of the same value is
//	              harmless); each new connection after the first prints a
//	              line on stderr saying how the one before it ended. At the
//	              end, one line "acked C K" per connection (the first K keys
//	              were acknowledged), then a summary line
//	              "puts=N errors=E redials=R slowest=D notreused=U": R new
//	              connections after one that broke (an error on it, a
//	              request on it that failed, an answer asking to close it),
//	              U after one net/http let go by itself (see why).
//	-check-acked FILE
//	              read the "acked C K" lines of FILE and compare every key
//	              under P- with them: P-C-0..P-C-(K-1) must hold their values,
//	              P-C-K may (a put sent but not acknowledged), nothing else
//	              may be there
//
// Exit status: 0 all good, 1 mismatches, 2 usage or connection/protocol errors.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	addr      = flag.String("addr", "127.0.0.1:2379", "etcd client address")
	prefix    = flag.String("prefix", "load", "key prefix")
	conns     = flag.Int("conns", 4, "connections of -load")
	load      = flag.Duration("load", 0, "write for this long")
	checkFile = flag.String("check-acked", "", "check the keys acknowledged in this file")
	opTimeout = flag.Duration("op-timeout", 30*time.Second, "-load: a request slower than this is sent again on a new connection")
)

// maxShown is how many mismatches are printed.
const maxShown = 10

// valueFor is the value of key K of connection C.
func valueFor(c, k int) string {
	return fmt.Sprintf("v-%d-%d-%d", c, k, (c*1000003+k*7919)%999983)
}

func keyFor(c, k int) string {
	return fmt.Sprintf("%s-%d-%d", *prefix, c, k)
}

func b64(s string) string {
	return base64.StdEncoding.EncodeToString([]byte(s))
}

// post sends one JSON request to the gateway and decodes the answer into
// out; closing: the answer asked to close the connection (Connection: close).
func post(ctx context.Context, cl *http.Client, path string, in, out interface{}) (closing bool, err error) {
	body, err := json.Marshal(in)
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+*addr+path, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := cl.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.Close, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.Close, fmt.Errorf("%s: HTTP %d: %s", path, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	return resp.Close, json.Unmarshal(data, out)
}

type putReq struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type putResp struct {
	Header struct {
		Revision string `json:"revision"`
	} `json:"header"`
}

type rangeReq struct {
	Key      string `json:"key"`
	RangeEnd string `json:"range_end"`
}

type rangeResp struct {
	Kvs []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"kvs"`
	Count string `json:"count"`
}

type counters struct {
	puts, errors int64
	redials      int64 // new connections after one that broke
	notReused    int64 // new connections after one the client let go
	slowest      int64 // ns
}

// writer is one connection of -load; returns how many keys were acknowledged.
func writer(c int, until time.Time, cnt *counters) int {
	var (
		dialMu sync.Mutex
		prev   *watchedConn
	)
	tr := &http.Transport{
		MaxIdleConnsPerHost: 1,
		MaxConnsPerHost:     1,
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			nc, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, network, a)
			if err != nil {
				return nil, err
			}
			// a new connection after the first: say how the one before
			// it ended (the test wants none broken; this line in its
			// log tells what broke it)
			w := &watchedConn{Conn: nc}
			dialMu.Lock()
			if prev != nil {
				why, broken := prev.why()
				if broken {
					atomic.AddInt64(&cnt.redials, 1)
				} else {
					atomic.AddInt64(&cnt.notReused, 1)
				}
				fmt.Fprintf(os.Stderr, "conn %d: new connection at %s: %s\n", c, time.Now().Format("15:04:05.000"), why)
			}
			prev = w
			dialMu.Unlock()
			return w, nil
		},
	}
	cl := &http.Client{Transport: tr}
	k := 0
	for time.Now().Before(until) {
		var used *watchedConn
		ctx, cancel := context.WithTimeout(context.Background(), *opTimeout)
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { used, _ = i.Conn.(*watchedConn) },
		})
		t0 := time.Now()
		var r putResp
		closing, err := post(ctx, cl, "/v3/kv/put", putReq{b64(keyFor(c, k)), b64(valueFor(c, k))}, &r)
		cancel()
		if d := int64(time.Since(t0)); d > atomic.LoadInt64(&cnt.slowest) {
			atomic.StoreInt64(&cnt.slowest, d)
		}
		if used != nil && closing {
			used.mark("the server's answer to put " + keyFor(c, k) + " asked to close it (Connection: close)")
		}
		if err != nil || r.Header.Revision == "" {
			n := atomic.AddInt64(&cnt.errors, 1)
			if n <= maxShown {
				fmt.Fprintf(os.Stderr, "conn %d: put %s: %v (revision %q)\n", c, keyFor(c, k), err, r.Header.Revision)
			}
			if used != nil {
				used.mark("put " + keyFor(c, k) + " on it failed")
			}
			// a new connection for the next attempt; a pause while the server is away
			tr.CloseIdleConnections()
			time.Sleep(50 * time.Millisecond)
			continue
		}
		atomic.AddInt64(&cnt.puts, 1)
		k++
	}
	tr.CloseIdleConnections()
	return k
}

func runLoad() int {
	var cnt counters
	var wg sync.WaitGroup
	acked := make([]int, *conns)
	until := time.Now().Add(*load)
	for c := 0; c < *conns; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			acked[c] = writer(c, until, &cnt)
		}(c)
	}
	wg.Wait()
	for c, k := range acked {
		fmt.Printf("acked %d %d\n", c, k)
	}
	fmt.Printf("puts=%d errors=%d redials=%d slowest=%v notreused=%d\n", cnt.puts, cnt.errors, cnt.redials,
		time.Duration(cnt.slowest).Round(time.Millisecond), cnt.notReused)
	return 0
}

func readAcked(path string) (map[int]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	acked := map[int]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 || fs[0] != "acked" {
			continue
		}
		c, err1 := strconv.Atoi(fs[1])
		k, err2 := strconv.Atoi(fs[2])
		if err1 != nil || err2 != nil || c < 0 || k < 0 {
			return nil, fmt.Errorf("%s: bad line %q", path, sc.Text())
		}
		acked[c] = k
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(acked) == 0 {
		return nil, fmt.Errorf("%s: no \"acked C K\" line", path)
	}
	return acked, nil
}

func checkAcked(path string) int {
	acked, err := readAcked(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "etcdload: %v\n", err)
		return 2
	}
	// every key under "P-": the range ["P-", "P." ) ('.' follows '-')
	var r rangeResp
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := post(ctx, http.DefaultClient, "/v3/kv/range", rangeReq{b64(*prefix + "-"), b64(*prefix + ".")}, &r); err != nil {
		fmt.Fprintf(os.Stderr, "etcdload: range %s-: %v\n", *prefix, err)
		return 2
	}
	got := map[string]string{}
	for _, kv := range r.Kvs {
		k, err1 := base64.StdEncoding.DecodeString(kv.Key)
		v, err2 := base64.StdEncoding.DecodeString(kv.Value)
		if err1 != nil || err2 != nil {
			fmt.Fprintf(os.Stderr, "etcdload: bad base64 in the range answer\n")
			return 2
		}
		got[string(k)] = string(v)
	}
	bad, want, extra := 0, 0, 0
	report := func(format string, a ...interface{}) {
		bad++
		if bad <= maxShown {
			fmt.Printf(format+"\n", a...)
		}
	}
	for c, n := range acked {
		for k := 0; k < n; k++ {
			want++
			v, ok := got[keyFor(c, k)]
			switch {
			case !ok:
				report("%s: missing (acknowledged)", keyFor(c, k))
			case v != valueFor(c, k):
				report("%s: value differs: %q, want %q", keyFor(c, k), v, valueFor(c, k))
			}
			delete(got, keyFor(c, k))
		}
		// the put in flight when the load stopped may have been applied
		if v, ok := got[keyFor(c, n)]; ok {
			extra++
			if v != valueFor(c, n) {
				report("%s: value differs: %q, want %q", keyFor(c, n), v, valueFor(c, n))
			}
			delete(got, keyFor(c, n))
		}
	}
	rest := make([]string, 0, len(got))
	for k := range got {
		rest = append(rest, k)
	}
	sort.Strings(rest)
	for _, k := range rest {
		report("%s: there, but never written", k)
	}
	fmt.Printf("checked %d acknowledged keys %s-*, %d more in flight, %d differ\n", want, *prefix, extra, bad)
	if bad > 0 {
		return 1
	}
	return 0
}

func main() {
	flag.Parse()
	if flag.NArg() != 0 || (*load > 0) == (*checkFile != "") || *conns < 1 {
		fmt.Fprintln(os.Stderr, "usage: etcdload -addr HOST:PORT [-prefix P] (-load DUR [-conns N] | -check-acked FILE)")
		os.Exit(2)
	}
	if *load > 0 {
		os.Exit(runLoad())
	}
	os.Exit(checkAcked(*checkFile))
}

// watchedConn is a connection of -load that remembers how it ended: its
// first read or write error, a request on it that failed or an answer that
// asked to close it (mark), or its close by this side, and when.
type watchedConn struct {
	net.Conn
	mu     sync.Mutex
	err    error
	marked string
	closed bool
	at     time.Time
}

func (w *watchedConn) note(err error, marked string, closed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil && w.marked == "" && !w.closed {
		w.at = time.Now()
	}
	if w.err == nil && err != nil {
		w.err = err
	}
	if w.marked == "" && marked != "" {
		w.marked = marked
	}
	w.closed = w.closed || closed
}

func (w *watchedConn) Read(b []byte) (int, error) {
	n, err := w.Conn.Read(b)
	if err != nil {
		w.note(err, "", false)
	}
	return n, err
}

func (w *watchedConn) Write(b []byte) (int, error) {
	n, err := w.Conn.Write(b)
	if err != nil {
		w.note(err, "", false)
	}
	return n, err
}

func (w *watchedConn) Close() error {
	w.note(nil, "", true)
	return w.Conn.Close()
}

func (w *watchedConn) mark(why string) {
	w.note(nil, why, false)
}

// why: "the previous connection, from LOCAL, ended: HOW, D ago", and whether
// it broke. One this side closed with no error on it, no failed request and
// no answer asking for it, was let go by net/http itself: its Transport
// does not reuse a connection whose request writer has not reported within
// 50 ms of the answer (persistConn.wroteRequest), which a loaded machine
// does; anything else broke.
func (w *watchedConn) why() (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	how, broken := "still open", true
	switch {
	case w.err != nil:
		how = w.err.Error()
	case w.marked != "":
		how = w.marked
	case w.closed:
		how, broken = "closed by this side after answers without error (not reused by net/http)", false
	}
	ago := ""
	if !w.at.IsZero() {
		ago = fmt.Sprintf(", %v ago", time.Since(w.at).Round(time.Millisecond))
	}
	return fmt.Sprintf("the previous connection, from %v, ended: %s%s", w.Conn.LocalAddr(), how, ago), broken
}
