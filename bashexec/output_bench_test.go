package bashexec

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"

	"github.com/swarm-utils/swarm-utils/internal/procstat"
)

// BenchmarkOutput40MB reports what commands printing 40 MB each cost this
// process: the peak RSS growth over the run (target ≤ 64 MiB) and the bytes
// allocated per command. "8 at once" keeps all eight results, as a job store would.
//
//	go test -bench Output -run '^$' ./bashexec/
func BenchmarkOutput40MB(b *testing.B) {
	const printed = 40_000_000
	tests := []struct {
		name     string
		parallel int
		cmd      Command
		wantErr  error
	}{
		{name: "task tail 64KiB", parallel: 1, cmd: Command{KeepTail: TaskOutputTail}},
		{name: "task tail 64KiB, 8 at once", parallel: 8, cmd: Command{KeepTail: TaskOutputTail}},
		{name: "default 16MiB head", parallel: 1, cmd: Command{}, wantErr: ErrOutputTooLarge},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			e := New(Options{Logger: slog.New(slog.DiscardHandler)})
			tt.cmd.Args = []string{"sh", "-c", printScript(printed, 1)}
			runtime.GC()
			debug.FreeOSMemory()
			before := procstat.MustBytes(b, "VmRSS")
			// "5" resets the peak (VmHWM) to the current RSS; without it the peak covers the whole process.
			_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			results := make([]Result, tt.parallel)
			for b.Loop() {
				var wg sync.WaitGroup
				for i := range tt.parallel {
					wg.Go(func() {
						res, err := e.Run(context.Background(), tt.cmd)
						if !errors.Is(err, tt.wantErr) || (err == nil && res.StdoutCut == 0) || res.StdoutCut+int64(len(res.Stdout)) < printed {
							b.Errorf("got %d bytes, %d cut, error %v; want the output bounded", len(res.Stdout), res.StdoutCut, err)
						}
						results[i] = res
					})
				}
				wg.Wait()
			}
			runtime.ReadMemStats(&m1)
			growth := procstat.MustBytes(b, "VmHWM") - before
			runs := float64(b.N * tt.parallel)
			b.ReportMetric(float64(growth)/(1<<20), "peak-RSS-growth-MiB")
			b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/runs/(1<<20), "alloc-MiB/cmd")
			if growth > 64<<20 {
				b.Errorf("peak RSS grew by %d MiB, target ≤ 64 MiB", growth>>20)
			}
			runtime.KeepAlive(results)
		})
	}
}
