package operation

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestLocksSerialiseOneKeyAndTimeOut(t *testing.T) {
	l := NewLocks()
	release, err := l.Acquire(context.Background(), "service:a", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(context.Background(), "service:a", 50*time.Millisecond); KindOf(err) != KindBusy {
		t.Fatalf("second acquire of a held key: %v, want busy", err)
	}
	other, err := l.Acquire(context.Background(), "service:b", 50*time.Millisecond)
	if err != nil {
		t.Fatalf("another key must not wait: %v", err)
	}
	other()
	got := make(chan error, 1)
	go func() {
		r, err := l.Acquire(context.Background(), "service:a", 5*time.Second)
		if err == nil {
			r()
		}
		got <- err
	}()
	release()
	if err := <-got; err != nil {
		t.Fatalf("waiter did not get the released lock: %v", err)
	}
}

func TestLocksNeverHeldTwice(t *testing.T) {
	l := NewLocks()
	var inside, max atomic.Int32
	done := make(chan struct{})
	for range 20 {
		go func() {
			defer func() { done <- struct{}{} }()
			r, err := l.Acquire(context.Background(), "node:x", 10*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			if n := inside.Add(1); n > max.Load() {
				max.Store(n)
			}
			time.Sleep(time.Millisecond)
			inside.Add(-1)
			r()
		}()
	}
	for range 20 {
		<-done
	}
	if max.Load() != 1 {
		t.Fatalf("%d holders at once", max.Load())
	}
}
