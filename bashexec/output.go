package bashexec

import (
	"errors"
	"fmt"
	"unicode/utf8"
	"unsafe"
)

// Output limits. A process's stdout and stderr are copied from their pipes into bounded
// buffers while it runs, so memory stays bounded whatever a command prints.
const (
	// DefaultMaxOutput is the stdout kept whole when Command.MaxOutput is 0: big enough for
	// any docker inspect/ls JSON of a real cluster, small enough that 32 at once stay bounded.
	DefaultMaxOutput = 16 << 20
	// DefaultStderrTail is the stderr tail kept when Command.KeepTail is 0; stderr is read
	// for error messages and warnings, whose reason is at the end.
	DefaultStderrTail = 64 << 10
	// TaskOutputTail is the tail callers keep of task and helper output (Command.KeepTail).
	TaskOutputTail = 64 << 10
)

// overLimitHead is the start of stdout kept in the Result when it exceeded its limit.
const overLimitHead = 64 << 10

// ErrOutputTooLarge is wrapped by the error Run returns when stdout exceeded
// Command.MaxOutput: a JSON read gets an error, never a silently cut document.
var ErrOutputTooLarge = errors.New("output too large")

// capture is an io.Writer for one of a process's streams that keeps at most
// keep+margin bytes and counts the rest. os/exec writes to it from a single
// goroutine and Wait returns only after that goroutine finished, so it needs no lock.
//
// The margin holds bytes beyond the kept part so that a secret across the cut
// can be seen whole and left out entirely: a cut through a secret would
// otherwise leave a fragment that masking no longer recognises.
type capture struct {
	tail   bool // keep the last bytes (a ring), else the first
	keep   int  // bytes of the result
	margin int  // extra bytes kept to place the cut (see above)
	buf    []byte
	start  int // tail, once the ring is full: index of the oldest byte
	total  int64
}

func newCapture(tail bool, keep int, s *Secrets) *capture {
	// The cut moves past a whole secret (up to longest-1 bytes) and then past a
	// partial UTF-8 sequence (up to 3 bytes).
	return &capture{tail: tail, keep: keep, margin: s.longest() + utf8.UTFMax}
}

func (c *capture) size() int { return c.keep + c.margin }

func (c *capture) Write(p []byte) (int, error) {
	n := len(p)
	c.total += int64(n)
	size := c.size()
	if !c.tail {
		if room := size - len(c.buf); room > 0 {
			c.buf = c.grow(c.buf, p[:min(room, len(p))])
		}
		return n, nil
	}
	if len(p) >= size { // only the end of p survives
		p = p[len(p)-size:]
		if cap(c.buf) < size {
			c.buf = make([]byte, size)
		}
		c.buf = c.buf[:size]
		copy(c.buf, p)
		c.start = 0
		return n, nil
	}
	if room := size - len(c.buf); room > 0 { // still filling
		k := min(room, len(p))
		c.buf = c.grow(c.buf, p[:k])
		p = p[k:]
	}
	for len(p) > 0 { // full: overwrite the oldest bytes
		k := copy(c.buf[c.start:], p)
		p = p[k:]
		c.start = (c.start + k) % size
	}
	return n, nil
}

// grow appends p, doubling the capacity as append would but never past size,
// so a stream never costs more than size bytes of buffer. Past half of size
// it goes to size at once: a 16 MiB buffer then a 16 MiB+4 one would waste one.
func (c *capture) grow(buf, p []byte) []byte {
	if need := len(buf) + len(p); need > cap(buf) {
		newCap := max(2*cap(buf), need, 4<<10)
		if newCap > c.size()/2 {
			newCap = c.size()
		}
		nb := make([]byte, len(buf), newCap)
		copy(nb, buf)
		buf = nb
	}
	return append(buf, p...)
}

// window returns the bytes held, oldest first.
func (c *capture) window() []byte {
	if !c.tail || c.start == 0 {
		return c.buf
	}
	w := make([]byte, 0, len(c.buf))
	return append(append(w, c.buf[c.start:]...), c.buf[:c.start]...)
}

// result is what the stream produced and how many bytes were left out. A cut
// never splits a secret (s) or a UTF-8 sequence. A tail that was cut starts
// with a note saying how much: "[… 39.9 MB cut …]\n".
func (c *capture) result(s *Secrets) (out string, cut int64) {
	w := c.window()
	if c.total <= int64(c.keep) {
		return bytesString(w), 0
	}
	if !c.tail {
		// Over the limit is an error: only the start is worth keeping, to show
		// what it was, and the big buffer is let go at once.
		at := s.cutBefore(w, min(c.keep, overLimitHead))
		for i := 0; i < utf8.UTFMax-1 && at > 0 && !utf8.RuneStart(w[at]); i++ {
			at--
		}
		return string(w[:at]), c.total - int64(at)
	}
	at := s.cutAfter(w, len(w)-c.keep)
	for i := 0; i < utf8.UTFMax-1 && at < len(w) && !utf8.RuneStart(w[at]); i++ {
		at++
	}
	cut = c.total - int64(len(w)-at)
	return cutNote(cut) + string(w[at:]), cut
}

// bytesString avoids copying a buffer of up to DefaultMaxOutput: nothing
// writes to it once the process's output is complete. A buffer mostly unused
// is copied instead, so that a kept Result does not pin the spare capacity.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if cap(b)-len(b) > len(b)/8 {
		return string(b)
	}
	return unsafe.String(&b[0], len(b))
}

func cutNote(n int64) string { return "[… " + byteSize(n) + " cut …]\n" }

// byteSize is n in SI units with one decimal: "512 bytes", "65.5 kB", "39.9 MB".
func byteSize(n int64) string {
	if n < 1000 {
		return fmt.Sprintf("%d bytes", n)
	}
	v, unit := float64(n)/1000, "kB"
	for _, u := range []string{"MB", "GB", "TB"} {
		if v < 999.95 {
			break
		}
		v, unit = v/1000, u
	}
	return fmt.Sprintf("%.1f %s", v, unit)
}
