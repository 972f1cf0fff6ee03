package cli

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/lmittmann/tint"
)

// newLogger builds the handler for SWARM_UTILS_LOG_FORMAT: json for log collectors, text
// (logfmt), or auto: tint, with colour only when w is a terminal and NO_COLOR is unset.
func newLogger(w *os.File, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl})), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl})), nil
	case "auto":
		noColor := !isTerminal(w) || os.Getenv("NO_COLOR") != ""
		return slog.New(tint.NewHandler(w, &tint.Options{Level: lvl, NoColor: noColor,
			TimeFormat: "2006-01-02 15:04:05.000"})), nil
	default:
		return nil, fmt.Errorf("unknown log format %q", format)
	}
}
