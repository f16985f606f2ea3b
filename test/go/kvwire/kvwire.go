// Package kvwire is what kvserver, kvclient and kvload share: the
// deterministic value generator (the server preloads the values the clients
// check) and the line protocol's reader.
//
// The programs import it as "../kvwire": test/go builds in GOPATH mode
// outside any GOPATH (build.sh), where relative imports are allowed.
package kvwire

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
)

const valueAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// Splitmix64 advances *state and returns the next pseudo-random value.
func Splitmix64(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	z := *state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// BinaryValues selects the value kind (each program's -binary flag): false
// for printable characters (6 bits of entropy per byte, zstd shrinks them to
// about 3/4), true for random bytes (every byte value but '\n' and '\r',
// which the line protocol cannot carry: incompressible).
var BinaryValues bool

// ValueFor returns the deterministic value of key i: size bytes drawn from
// Splitmix64 seeded with seed*1000003+i, printable or binary (BinaryValues).
func ValueFor(seed int64, i int, size int) string {
	state := uint64(seed*1000003 + int64(i))
	var sb strings.Builder
	sb.Grow(size)
	var r uint64
	left := 0
	for j := 0; j < size; j++ {
		if left == 0 {
			r = Splitmix64(&state)
			left = 10 // 10 x 6 bits per 64-bit draw
			if BinaryValues {
				left = 8 // 8 x 8 bits
			}
		}
		if BinaryValues {
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

// PrefixSeed derives the seed used for keys "<prefix>-<i>" (FNV-1a of the
// prefix mixed with seed), so that different prefixes get different values.
func PrefixSeed(seed int64, prefix string) int64 {
	h := uint64(14695981039346656037)
	for k := 0; k < len(prefix); k++ {
		h ^= uint64(prefix[k])
		h *= 1099511628211
	}
	return int64(h ^ uint64(seed))
}

// ReadLine returns the next line without its "\n" or "\r\n". The result
// may alias the reader's buffer and is valid until the next read. A last
// line without a newline is returned with io.ErrUnexpectedEOF (a client
// takes it for a truncated response, the server serves it); any other
// error comes with a nil line.
func ReadLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// Line longer than the buffer: accumulate a private copy.
		buf := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			line, err = r.ReadSlice('\n')
			buf = append(buf, line...)
		}
		line = buf
	}
	if err != nil {
		if err != io.EOF || len(line) == 0 {
			return nil, err
		}
		err = io.ErrUnexpectedEOF
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return line, err
}

// Trunc shortens long values for messages.
func Trunc(s string) string {
	if len(s) <= 40 {
		return s
	}
	return s[:40] + "...(" + strconv.Itoa(len(s)) + " bytes)"
}
