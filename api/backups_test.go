package api

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/jobs/restore"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
)

// fakeCatalogue answers with each service's archives and records which it listed.
type fakeCatalogue struct {
	mu       sync.Mutex
	archives map[string][]restore.Archive
	cut      map[string]string
	err      error
	listed   []string
}

func (c *fakeCatalogue) BackupsOf(_ context.Context, svc parse.Service) (restore.Listing, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.listed = append(c.listed, svc.Name)
	if c.err != nil {
		return restore.Listing{}, c.err
	}
	return restore.Listing{Archives: c.archives[svc.Name], Cut: c.cut[svc.Name]}, nil
}

func TestBackupsCatalogue(t *testing.T) {
	at := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	cat := &fakeCatalogue{archives: map[string][]restore.Archive{
		"shop_web": {{Key: "shop_web/shop_web_worker-1_2026-12-01T02-00-00.tar.gz", Node: "worker-1", Time: at, Size: 42}},
	}}
	for _, tc := range []struct {
		name, path, bearer string
		err                error
		status             int
		want               string // in the body
		listed             string // the service listed, "" none
	}{
		{"admin", "/api/backups?serviceName=shop_web", adminToken, nil, 200, `"key": "shop_web/shop_web_worker-1_2026-12-01T02-00-00.tar.gz"`, "shop_web"},
		{"the service's backup token", "/api/backups?serviceName=shop_web", webBackup, nil, 200, `"size": 42`, "shop_web"},
		{"its clean token is not a backup token", "/api/backups?serviceName=shop_web", webClean, nil, 401, "unknown token", ""},
		{"a backup token of another service", "/api/backups?serviceName=shop_db", webBackup, nil, 403, "may not run backups", ""},
		{"no token", "/api/backups?serviceName=shop_web", "", nil, 401, "no token", ""},
		{"unknown token", "/api/backups?serviceName=shop_web", "guess", nil, 401, "unknown token", ""},
		{"no service name", "/api/backups", adminToken, nil, 400, "serviceName", ""},
		{"token in the query", "/api/backups?serviceName=shop_web&token=" + webBackup, "", nil, 400, "Authorization header", ""},
		{"unknown service", "/api/backups?serviceName=nope", adminToken, nil, 404, "nope", ""},
		{"not enabled", "/api/backups?serviceName=plain", adminToken,
			operation.Errorf(operation.KindNotFound, "service plain is not enabled for backup"), 404, "not enabled for backup", "plain"},
		{"S3 down", "/api/backups?serviceName=shop_web", adminToken,
			operation.Errorf(operation.KindDocker, "list the archives: %w", fmt.Errorf("connection refused")), 502, "connection refused", "shop_web"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cat.mu.Lock()
			cat.err, cat.listed = tc.err, nil
			cat.mu.Unlock()
			h := newHarness(t, func(o *Options) { o.Backups = cat })
			res := h.do("GET", tc.path, "", tc.bearer)
			if res.Status != tc.status || !strings.Contains(string(res.Body), tc.want) {
				t.Fatalf("status %d, want %d with %q:\n%s", res.Status, tc.status, tc.want, res.Body)
			}
			cat.mu.Lock()
			defer cat.mu.Unlock()
			if got := strings.Join(cat.listed, ","); got != tc.listed {
				t.Errorf("listed %q, want %q", got, tc.listed)
			}
		})
	}
	t.Run("a cut listing says so", func(t *testing.T) {
		h := newHarness(t, func(o *Options) {
			o.Backups = &fakeCatalogue{archives: cat.archives, cut: map[string]string{"shop_web": "the newest 1000 of 1200 archives are listed"}}
		})
		res := h.do("GET", "/api/backups?serviceName=shop_web", "", adminToken)
		if res.Status != 200 || !strings.Contains(string(res.Body), `"cut": "the newest 1000 of 1200 archives are listed"`) {
			t.Errorf("status %d:\n%s", res.Status, res.Body)
		}
	})
	t.Run("empty is []", func(t *testing.T) {
		cat.err = nil
		h := newHarness(t, func(o *Options) { o.Backups = &fakeCatalogue{archives: map[string][]restore.Archive{"shop_web": {}}} })
		res := h.do("GET", "/api/backups?serviceName=shop_web", "", adminToken)
		if res.Status != 200 || !strings.Contains(string(res.Body), `"backups": []`) {
			t.Errorf("status %d:\n%s", res.Status, res.Body)
		}
	})
}
