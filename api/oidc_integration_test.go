//go:build integration

package api

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/api/authz/oidctest"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/internal/testbed"
)

// TestAPIOIDCAndHashedTokensOnTheCluster: a service labelled for a repository is cleaned through
// the real API with a locally signed CI identity token (issuer on 127.0.0.1); another
// repository's token is 403; a hashed label token works and its digest does not.
func TestAPIOIDCAndHashedTokensOnTheCluster(t *testing.T) {
	tb := testbed.Get(t)
	id := randID()
	k1, _, _, _ := oidctest.Keys(t)
	iss := oidctest.NewIssuer(t, k1)
	cfg := tb.Config()
	cfg.AdminTokens = []string{itAdmin}
	cfg.OIDC = config.OIDC{Issuers: []string{iss.URL}, Audience: "swarm-utils", JWKSCache: 10 * time.Minute}
	a := startAPI(t, cfg, "127.0.0.1:0")

	svc, hashed := "it-api-"+id+"-oidc", "it-api-hashed-"+id
	sum := sha256.Sum256([]byte(hashed))
	a.secrets = append(a.secrets, hashed)
	tb.Service(t, svc,
		"--label", "swarm-utils.clean.enable=true", "--label", "swarm-utils.clean.exec=echo cleaned-by-oidc",
		"--label", "swarm-utils.clean.oidc.repository=org/app", "--label", "swarm-utils.clean.oidc.ref=refs/heads/main",
		"--label", "swarm-utils.backup.token=sha256:"+hex.EncodeToString(sum[:]),
		tb.WorkloadImage)

	good := k1.Sign(t, oidctest.GitHubClaims(iss.URL, "org/app", "refs/heads/main"), nil)
	other := k1.Sign(t, oidctest.GitHubClaims(iss.URL, "org/other", "refs/heads/main"), nil)
	for _, tok := range []string{good, other} {
		a.secrets = append(a.secrets, tok[strings.LastIndexByte(tok, '.')+1:])
	}
	r := a.call(t, "POST", "/api/clean/service", good, jsonBody(map[string]any{"serviceName": svc}))
	expect(t, "clean-service with a CI identity token", r, 200, "cleaned-by-oidc")
	expect(t, "another repository's token", a.call(t, "POST", "/api/clean/service", other, jsonBody(map[string]any{"serviceName": svc})),
		403, `repository \"org/other\"`)
	expect(t, "the token's repository, another action", a.call(t, "POST", "/api/backup/service", good, jsonBody(map[string]any{"serviceName": svc})),
		403, "may not run backup-service")
	// The hashed backup token is authorised; backup itself is not enabled on this service (404 from the operation).
	expect(t, "hashed label token", a.call(t, "POST", "/api/backup/service", hashed, jsonBody(map[string]any{"serviceName": svc})),
		404, "not enabled for backup")
	expect(t, "the digest is no token", a.call(t, "POST", "/api/backup/service", "sha256:"+hex.EncodeToString(sum[:]), jsonBody(map[string]any{"serviceName": svc})),
		401, "unknown token")
	if n := iss.JWKSFetches.Load(); n != 1 {
		t.Errorf("%d JWKS fetches, want 1", n)
	}
	assertNoHelpersFor(t, tb, id)
}
