package jobs

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/config"
)

// A configured secret too short to be masked is said at start-up (never the value itself).
func TestNewDepsWarnsOfShortSecrets(t *testing.T) {
	for _, tc := range []struct {
		tokens []string
		warn   bool
	}{
		{[]string{"a-long-admin-token"}, false},
		{[]string{"a-long-admin-token", "abc"}, true},
	} {
		var buf bytes.Buffer
		NewDeps(config.Config{AdminTokens: tc.tokens}, nil, nil, slog.New(slog.NewTextHandler(&buf, nil)))
		if got := strings.Contains(buf.String(), "too short to be masked"); got != tc.warn || strings.Contains(buf.String(), "abc") {
			t.Errorf("tokens %q: log %q, want a warning: %v", tc.tokens, buf.String(), tc.warn)
		}
	}
}
