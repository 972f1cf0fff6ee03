package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/swarm-utils/swarm-utils/schedule"
	"github.com/urfave/cli/v3"
	"golang.org/x/term"
)

// Output flags, on the root so that they work before or after the subcommand.
const (
	flagFormat = "format"
	flagQuiet  = "quiet"
	flagText   = "text" // the older spelling of --format text, kept for scripts
)

func outputFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagFormat, Usage: "how results are printed: `text` for people or json; default text on a terminal, json otherwise (pipes, scripts, CI)"},
		&cli.BoolFlag{Name: flagQuiet, Aliases: []string{"q"}, Usage: "print nothing when the operation succeeds (the exit code tells) and log only warnings and errors; a failure still prints its result"},
	}
}

// textOutput tells whether results go out as text: --format, else --text, else whether the
// output is a terminal. Scripts that read stdout through a pipe keep getting JSON.
func textOutput(cmd *cli.Command) (bool, error) {
	switch f := strings.ToLower(strings.TrimSpace(cmd.String(flagFormat))); f {
	case "text":
		return true, nil
	case "json":
		return false, nil
	case "":
		if cmd.Bool(flagText) {
			return true, nil
		}
		return isTerminal(cmd.Root().Writer), nil
	default:
		return false, fmt.Errorf("--format %q: want text or json", f)
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// printOut prints v as JSON or, for people, as text(); with --quiet nothing when ok. It
// returns an error naming what failed when !ok, so the exit code is non-zero.
func printOut(cmd *cli.Command, v any, text func() string, ok bool, what string) error {
	return render(cmd, v, text, ok, what, cmd.Bool(flagQuiet))
}

// printListing is printOut for a listing (volumes, backups): what it prints is the point, so
// --quiet only quiets the log.
func printListing(cmd *cli.Command, v interface{ Text() string }, ok bool, what string) error {
	return render(cmd, v, v.Text, ok, what, false)
}

func render(cmd *cli.Command, v any, text func() string, ok bool, what string, quiet bool) error {
	if !ok || !quiet {
		asText, err := textOutput(cmd)
		if err != nil {
			return err
		}
		out := ""
		if asText {
			out = text()
		} else {
			b, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				return fmt.Errorf("encode result: %w", err)
			}
			out = string(b) + "\n"
		}
		if _, err := fmt.Fprint(cmd.Root().Writer, out); err != nil {
			return err
		}
	}
	if !ok {
		return fmt.Errorf("%s failed", what)
	}
	return nil
}

// summaryText is a cron run for people: one line per phase, then each target's result.
func summaryText(s schedule.Summary) string {
	var b strings.Builder
	status := "OK"
	if !s.OK {
		status = fmt.Sprintf("%d of %d targets FAILED", s.Failures, s.Targets)
	}
	fmt.Fprintf(&b, "cron run at %s: %s  [%s]\n", s.StartedAt.Format(time.RFC3339), status, time.Duration(s.Duration).Round(time.Millisecond))
	for _, p := range s.Phases {
		if !p.Enabled {
			fmt.Fprintf(&b, "%s: off\n", p.Operation)
			continue
		}
		fmt.Fprintf(&b, "%s: %d targets, %d failed, %d skipped", p.Operation, p.Targets, p.Failures, p.Skipped)
		if p.Error != "" {
			fmt.Fprintf(&b, "  error: %s", p.Error)
		}
		b.WriteString("\n")
		for _, r := range p.Results {
			b.WriteString(indent(r.Text()))
		}
	}
	return b.String()
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ") + "\n"
}
