package statuspage

import (
	"fmt"
	"html/template"
	"time"
)

// timeLayout is how the server writes a time; the page's script adds "5 min ago" beside it.
const timeLayout = "2006-01-02 15:04 UTC"

var funcs = template.FuncMap{
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"at":    func(t time.Time) string { return t.UTC().Format(timeLayout) },
	"dur":   duration,
	"bytes": size,
}

// duration is short and human: 850 ms, 4.2 s, 3 min 5 s, 2 h 10 min.
func duration(d time.Duration) string {
	switch {
	case d <= 0:
		return "–"
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%d min %d s", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
}

// size is in binary units: 512 B, 3.4 KiB, 12.0 MiB.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
