// Package procstat reads this process's memory figures from /proc/self/status, for the
// benchmarks that report RSS (VmRSS, and the peak VmHWM).
package procstat

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"testing"
)

// Bytes is the value of a "Field: N kB" line of /proc/self/status (VmRSS, VmHWM), in bytes.
func Bytes(field string) (int64, error) {
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("read /proc/self/status: %w", err)
	}
	for line := range bytes.Lines(st) {
		if v, ok := bytes.CutPrefix(line, []byte(field+":")); ok {
			f := bytes.Fields(v)
			if len(f) == 0 {
				break
			}
			kib, err := strconv.ParseInt(string(f[0]), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/self/status %s: %w", field, err)
			}
			return kib << 10, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/self/status", field)
}

// MustBytes is Bytes for benchmarks and tests: it fails tb when the figure cannot be read.
func MustBytes(tb testing.TB, field string) int64 {
	tb.Helper()
	n, err := Bytes(field)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
