package bashexec

import (
	"bytes"
	"io"
)

// lineWatch passes a stream on to its capture and closes seen once a whole line equal to want
// went through. It holds at most the current line's first len(want)+1 bytes: a longer line
// cannot be want, so memory stays bounded whatever the stream.
type lineWatch struct {
	next io.Writer
	want []byte
	cur  []byte // the current line so far, while it can still be want
	long bool   // the current line is already longer than want
	seen chan struct{}
	done bool
}

func newLineWatch(next io.Writer, want string) *lineWatch {
	return &lineWatch{next: next, want: []byte(want), cur: make([]byte, 0, len(want)+1), seen: make(chan struct{})}
}

func (w *lineWatch) Write(p []byte) (int, error) {
	n, err := w.next.Write(p)
	for rest := p; len(rest) > 0 && !w.done; {
		i := bytes.IndexByte(rest, '\n')
		part := rest
		if i >= 0 {
			part = rest[:i]
		}
		if !w.long {
			if len(w.cur)+len(part) > len(w.want)+1 {
				w.long, w.cur = true, w.cur[:0]
			} else {
				w.cur = append(w.cur, part...)
			}
		}
		if i < 0 {
			break
		}
		if !w.long && bytes.Equal(bytes.TrimSuffix(w.cur, []byte("\r")), w.want) {
			w.done = true
			close(w.seen)
		}
		w.cur, w.long = w.cur[:0], false
		rest = rest[i+1:]
	}
	return n, err
}
