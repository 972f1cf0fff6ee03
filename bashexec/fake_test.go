package bashexec

import (
	"context"
	"errors"
	"testing"
)

func TestFake(t *testing.T) {
	boom := errors.New("boom")
	f := &Fake{Handler: func(c Command) (Result, error) {
		if c.Args[1] == "fail" {
			return Result{ExitCode: 1}, boom
		}
		return Result{Stdout: "ok"}, nil
	}}
	var r Runner = f
	if res, err := r.Run(context.Background(), Command{Args: []string{"docker", "ps"}}); err != nil || res.Stdout != "ok" {
		t.Errorf("got %+v, %v", res, err)
	}
	if _, err := r.Run(context.Background(), Command{Args: []string{"docker", "fail"}}); !errors.Is(err, boom) {
		t.Errorf("error = %v, want boom", err)
	}
	if len(f.Calls) != 2 || f.Calls[1].Args[1] != "fail" {
		t.Errorf("Calls = %+v", f.Calls)
	}

	var zero Fake
	if res, err := zero.Run(context.Background(), Command{Args: []string{"x"}}); err != nil || res != (Result{}) || len(zero.Calls) != 1 {
		t.Errorf("nil Handler: got %+v, %v, calls %d", res, err, len(zero.Calls))
	}
}
