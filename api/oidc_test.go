package api

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/api/authz"
	"github.com/swarm-utils/swarm-utils/api/authz/oidctest"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/parse"
)

// newOIDCHarness is newHarness with OIDC on for issuers and extra targets labelled for it:
//   - app_web: clean by org/app on refs/heads/main; update by org/app; backup enabled, no OIDC
//   - app_db: clean by org/db
//   - gl_api: clean by GitLab's group/api on protected branch main
//   - node worker-1: clean-node by org/infra
func newOIDCHarness(t *testing.T, issuers ...string) *harness {
	t.Helper()
	h := newHarness(t)
	h.targets.services = append(h.targets.services,
		parse.Service{ID: "id-app-web", Name: "app_web", Image: "registry:5000/org/app:1", Mode: parse.ModeReplicated, Replicas: 1, Labels: map[string]string{
			parse.LabelCleanEnable: "true", parse.LabelCleanExec: "true",
			authz.LabelCleanOIDCRepository: "org/app", "swarm-utils.clean.oidc.ref": "refs/heads/main",
			parse.LabelUpdateEnable: "true", authz.LabelUpdateOIDCRepository: "org/app",
			parse.LabelBackupEnable: "true", parse.LabelBackupVolumes: "data",
		}},
		parse.Service{ID: "id-app-db", Name: "app_db", Image: "postgres:16", Mode: parse.ModeReplicated, Replicas: 1, Labels: map[string]string{
			parse.LabelCleanEnable: "true", parse.LabelCleanExec: "true", authz.LabelCleanOIDCRepository: "org/db",
		}},
		parse.Service{ID: "id-gl-api", Name: "gl_api", Image: "registry:5000/group/api:1", Mode: parse.ModeReplicated, Replicas: 1, Labels: map[string]string{
			parse.LabelCleanEnable: "true", parse.LabelCleanExec: "true", authz.LabelCleanOIDCRepository: "group/api",
			"swarm-utils.clean.oidc.ref": "main", "swarm-utils.clean.oidc.ref-protected": "true",
		}},
	)
	h.targets.nodes[1].Labels[authz.LabelCleanOIDCRepository] = "org/infra"

	cfg := fixtureConfig()
	cfg.OIDC = config.OIDC{Issuers: issuers, Audience: "swarm-utils", JWKSCache: 10 * time.Minute}
	h.server = New(Options{Ops: Instrumented{Ops: h.ops, Metrics: h.metrics}, Targets: h.targets, Config: cfg,
		Log: slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug})), Metrics: h.metrics})
	h.handler = h.server.Handler()
	return h
}

// assertTokenHidden fails when a JWT, or its signature alone, is in a response or the log.
func assertTokenHidden(t *testing.T, h *harness, body []byte, token string) {
	t.Helper()
	sig := token[strings.LastIndexByte(token, '.')+1:]
	for where, text := range map[string]string{"response": string(body), "log": h.log.String()} {
		if strings.Contains(text, sig) {
			t.Errorf("the OIDC token reached the %s:\n%s", where, text)
		}
	}
}

func TestOIDCAuthorisation(t *testing.T) {
	k1, _, stranger, ec := oidctest.Keys(t)
	iss := oidctest.NewIssuer(t, k1, ec)
	gh := func(repo, ref string) map[string]any { return oidctest.GitHubClaims(iss.URL, repo, ref) }
	hour := time.Now().Add(-time.Hour).Unix()

	tests := []struct {
		name   string
		path   string
		target string // serviceName, or nodeName for /api/clean/node
		image  string // for /api/update/service
		token  func() string
		inBody bool // the token in the body's "token" field instead of the header
		status int
		call   string
		msg    string
	}{
		{name: "GitHub token of the labelled repository and ref", path: "/api/clean/service", target: "app_web",
			token: func() string { return k1.Sign(t, gh("org/app", "refs/heads/main"), nil) }, status: 200, call: "clean-service app_web"},
		{name: "in the body's token field", path: "/api/clean/service", target: "app_web", inBody: true,
			token: func() string { return k1.Sign(t, gh("org/app", "refs/heads/main"), nil) }, status: 200, call: "clean-service app_web"},
		{name: "repository compared without case", path: "/api/clean/service", target: "app_web",
			token: func() string { return k1.Sign(t, gh("Org/App", "refs/heads/main"), nil) }, status: 200, call: "clean-service app_web"},
		{name: "ES256 token", path: "/api/clean/service", target: "app_web",
			token: func() string { return ec.Sign(t, gh("org/app", "refs/heads/main"), nil) }, status: 200, call: "clean-service app_web"},
		{name: "GitLab token on a protected branch", path: "/api/clean/service", target: "gl_api",
			token: func() string { return k1.Sign(t, oidctest.GitLabClaims(iss.URL, "group/api", "main", true), nil) }, status: 200, call: "clean-service gl_api"},
		{name: "GitLab token on an unprotected branch", path: "/api/clean/service", target: "gl_api",
			token:  func() string { return k1.Sign(t, oidctest.GitLabClaims(iss.URL, "group/api", "main", false), nil) },
			status: 403, msg: `ref \"main\" is not protected (swarm-utils.clean.oidc.ref-protected=true)`},
		{name: "wrong repository", path: "/api/clean/service", target: "app_web",
			token:  func() string { return k1.Sign(t, gh("org/other", "refs/heads/main"), nil) },
			status: 403, msg: `this CI identity (issuer ` + iss.URL + `, repository \"org/other\", ref \"refs/heads/main\") may not run clean-service on service \"app_web\"`},
		{name: "labelled repository, another ref", path: "/api/clean/service", target: "app_web",
			token:  func() string { return k1.Sign(t, gh("org/app", "refs/heads/dev"), nil) },
			status: 403, msg: `ref \"refs/heads/dev\" is not one of swarm-utils.clean.oidc.ref`},
		{name: "another service's identity", path: "/api/clean/service", target: "app_web",
			token:  func() string { return k1.Sign(t, gh("org/db", "refs/heads/main"), nil) },
			status: 403, msg: "swarm-utils.clean.oidc.* labels"},
		{name: "another action's labels do not count", path: "/api/backup/service", target: "app_web",
			token:  func() string { return k1.Sign(t, gh("org/app", "refs/heads/main"), nil) },
			status: 403, msg: "may not run backup-service"},
		{name: "never admin: a service without OIDC labels", path: "/api/clean/service", target: "shop_web",
			token: func() string { return k1.Sign(t, gh("org/app", "refs/heads/main"), nil) }, status: 403},
		{name: "known identity, unknown service", path: "/api/clean/service", target: "app_nope",
			token: func() string { return k1.Sign(t, gh("org/app", "refs/heads/main"), nil) }, status: 404, msg: "not found"},
		{name: "unknown identity, unknown service: no existence oracle", path: "/api/clean/service", target: "app_nope",
			token: func() string { return k1.Sign(t, gh("org/other", "refs/heads/main"), nil) }, status: 403},
		{name: "update: new tag of the service's image", path: "/api/update/service", target: "app_web", image: "registry:5000/org/app:2",
			token: func() string { return k1.Sign(t, gh("org/app", "refs/heads/feature"), nil) }, status: 200, call: "update-service app_web"},
		{name: "update: another image", path: "/api/update/service", target: "app_web", image: "evil/miner:1",
			token: func() string { return k1.Sign(t, gh("org/app", "refs/heads/main"), nil) }, status: 403, msg: "may only deploy new tags"},
		{name: "clean-node by the node's labels", path: "/api/clean/node", target: "worker-1",
			token: func() string { return k1.Sign(t, gh("org/infra", "refs/heads/main"), nil) }, status: 200, call: "clean-node worker-1"},
		{name: "clean-node on another node", path: "/api/clean/node", target: "manager",
			token: func() string { return k1.Sign(t, gh("org/infra", "refs/heads/main"), nil) }, status: 403, msg: `on node \"manager\"`},
		{name: "clean-node, service labels do not count", path: "/api/clean/node", target: "worker-1",
			token: func() string { return k1.Sign(t, gh("org/app", "refs/heads/main"), nil) }, status: 403},
		{name: "expired", path: "/api/clean/service", target: "app_web",
			token: func() string {
				return k1.Sign(t, oidctest.With(gh("org/app", "refs/heads/main"), map[string]any{"iat": hour - 600, "nbf": hour - 600, "exp": hour}), nil)
			}, status: 401, msg: "OIDC token rejected: expired at"},
		{name: "expired a moment ago is within the leeway", path: "/api/clean/service", target: "app_web",
			token: func() string {
				return k1.Sign(t, oidctest.With(gh("org/app", "refs/heads/main"), map[string]any{"exp": time.Now().Unix() - 10}), nil)
			}, status: 200, call: "clean-service app_web"},
		{name: "no exp", path: "/api/clean/service", target: "app_web",
			token: func() string {
				return k1.Sign(t, oidctest.With(gh("org/app", "refs/heads/main"), map[string]any{"exp": nil}), nil)
			},
			status: 401, msg: "no expiry"},
		{name: "not yet valid", path: "/api/clean/service", target: "app_web",
			token: func() string {
				return k1.Sign(t, oidctest.With(gh("org/app", "refs/heads/main"), map[string]any{"nbf": time.Now().Unix() + 600}), nil)
			}, status: 401, msg: "not valid before"},
		{name: "wrong audience", path: "/api/clean/service", target: "app_web",
			token: func() string {
				return k1.Sign(t, oidctest.With(gh("org/app", "refs/heads/main"), map[string]any{"aud": "https://github.com/org"}), nil)
			}, status: 401, msg: `wrong audience: aud \"https://github.com/org\" does not contain \"swarm-utils\"`},
		{name: "no audience", path: "/api/clean/service", target: "app_web",
			token: func() string {
				return k1.Sign(t, oidctest.With(gh("org/app", "refs/heads/main"), map[string]any{"aud": nil}), nil)
			},
			status: 401, msg: "wrong audience"},
		{name: "bad signature: another key with the same kid", path: "/api/clean/service", target: "app_web",
			token:  func() string { return stranger.Sign(t, gh("org/app", "refs/heads/main"), nil) },
			status: 401, msg: "bad signature"},
		{name: "claims swapped under a valid signature", path: "/api/clean/service", target: "app_db",
			token: func() string {
				real := strings.Split(k1.Sign(t, gh("org/app", "refs/heads/main"), nil), ".")
				forged := strings.Split(k1.Sign(t, gh("org/db", "refs/heads/main"), nil), ".")
				return real[0] + "." + forged[1] + "." + real[2]
			}, status: 401, msg: "bad signature"},
		{name: "unknown issuer", path: "/api/clean/service", target: "app_web",
			token: func() string {
				return k1.Sign(t, oidctest.GitHubClaims("https://token.actions.githubusercontent.com", "org/app", "refs/heads/main"), nil)
			},
			status: 401, msg: `issuer (iss) \"https://token.actions.githubusercontent.com\" is not one of SWARM_UTILS_OIDC_ISSUERS`},
		{name: "alg none", path: "/api/clean/service", target: "app_web",
			token: func() string {
				tok := k1.Sign(t, gh("org/app", "refs/heads/main"), map[string]any{"alg": "none"})
				return tok[:strings.LastIndexByte(tok, '.')+1] + "AA"
			}, status: 401, msg: `algorithm \"none\"`},
		{name: "HS256 with the public key as secret is refused", path: "/api/clean/service", target: "app_web",
			token:  func() string { return k1.Sign(t, gh("org/app", "refs/heads/main"), map[string]any{"alg": "HS256"}) },
			status: 401, msg: "only RS256 and ES256"},
		{name: "RS256 header on the EC key", path: "/api/clean/service", target: "app_web",
			token:  func() string { return k1.Sign(t, gh("org/app", "refs/heads/main"), map[string]any{"kid": "e1"}) },
			status: 401, msg: "is an ES256 key"},
		{name: "critical header extension", path: "/api/clean/service", target: "app_web",
			token: func() string {
				return k1.Sign(t, gh("org/app", "refs/heads/main"), map[string]any{"crit": []string{"b64"}})
			},
			status: 401, msg: "critical extensions"},
		{name: "no repository claim", path: "/api/clean/service", target: "app_web",
			token: func() string {
				return k1.Sign(t, oidctest.With(gh("org/app", "refs/heads/main"), map[string]any{"repository": nil}), nil)
			},
			status: 401, msg: "names no repository"},
		{name: "malformed claims", path: "/api/clean/service", target: "app_web",
			token: func() string {
				return k1.Sign(t, oidctest.With(gh("org/app", "refs/heads/main"), map[string]any{"exp": "tomorrow"}), nil)
			},
			status: 401, msg: "malformed claims"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newOIDCHarness(t, iss.URL)
			token := tt.token()
			field := "serviceName"
			if strings.HasSuffix(tt.path, "/node") {
				field = "nodeName"
			}
			body := `"` + field + `":"` + tt.target + `"`
			if tt.image != "" {
				body += `,"image":"` + tt.image + `"`
			}
			bearer := token
			if tt.inBody {
				body, bearer = `"token":"`+token+`",`+body, ""
			}
			res := h.do("POST", tt.path, "{"+body+"}", bearer)
			if res.Status != tt.status {
				t.Fatalf("status %d, want %d\n%s", res.Status, tt.status, res.Body)
			}
			if tt.msg != "" && !strings.Contains(string(res.Body), tt.msg) {
				t.Errorf("body does not say %q:\n%s", tt.msg, res.Body)
			}
			var want []string
			if tt.call != "" {
				want = []string{tt.call}
			}
			if got := h.ops.Calls(); !slices.Equal(got, want) {
				t.Errorf("operation calls %q, want %q", got, want)
			}
			assertTokenHidden(t, h, res.Body, token)
		})
	}
}

// TestOIDCForbiddenDoesNotDescribeOtherTargets: a 403 tells the caller's own claims and the
// label names, never the labels' values of a service that is not theirs.
func TestOIDCForbiddenDoesNotDescribeOtherTargets(t *testing.T) {
	k1, _, _, _ := oidctest.Keys(t)
	iss := oidctest.NewIssuer(t, k1)
	h := newOIDCHarness(t, iss.URL)
	res := h.do("POST", "/api/clean/service", `{"serviceName":"app_web"}`, k1.Sign(t, oidctest.GitHubClaims(iss.URL, "org/db", "refs/heads/main"), nil))
	if res.Status != 403 || strings.Contains(string(res.Body), "org/app") || strings.Contains(string(res.Body), "refs/heads/main\" is not") {
		t.Errorf("%d %s", res.Status, res.Body)
	}
}

// TestOIDCIssuerLabel: with several issuers, org/app on GitHub and org/app on GitLab may be
// different people, so the labels must name the issuer.
func TestOIDCIssuerLabel(t *testing.T) {
	k1, _, _, _ := oidctest.Keys(t)
	iss := oidctest.NewIssuer(t, k1)
	other := oidctest.NewIssuer(t, k1)
	h := newOIDCHarness(t, iss.URL, other.URL)
	token := k1.Sign(t, oidctest.GitHubClaims(iss.URL, "org/app", "refs/heads/main"), nil)
	res := h.do("POST", "/api/clean/service", `{"serviceName":"app_web"}`, token)
	if res.Status != 403 || !strings.Contains(string(res.Body), "swarm-utils.clean.oidc.issuer is not set, and several issuers are configured") {
		t.Errorf("no issuer label: %d %s", res.Status, res.Body)
	}
	h.targets.services[3].Labels["swarm-utils.clean.oidc.issuer"] = other.URL
	if res = h.do("POST", "/api/clean/service", `{"serviceName":"app_web"}`, token); res.Status != 403 || !strings.Contains(string(res.Body), "names another issuer") {
		t.Errorf("another issuer's label: %d %s", res.Status, res.Body)
	}
	h.targets.services[3].Labels["swarm-utils.clean.oidc.issuer"] = iss.URL + "/"
	if res = h.do("POST", "/api/clean/service", `{"serviceName":"app_web"}`, token); res.Status != 200 {
		t.Errorf("the token's issuer: %d %s", res.Status, res.Body)
	}
}

func TestOIDCOff(t *testing.T) {
	k1, _, _, _ := oidctest.Keys(t)
	h := newHarness(t)
	res := h.do("POST", "/api/clean/service", `{"serviceName":"shop_web"}`, k1.Sign(t, oidctest.GitHubClaims("https://gitlab.com", "org/app", "main"), nil))
	if res.Status != 401 || !strings.Contains(string(res.Body), "SWARM_UTILS_OIDC_ISSUERS is none") {
		t.Errorf("%d %s", res.Status, res.Body)
	}
}

// Hashed label tokens: sha256:<hex> in a label matches the token it is the digest of; the
// digest itself is no token; plain labels keep working.
func TestHashedLabelTokens(t *testing.T) {
	const (
		hashedClean = "hashed-clean-token-zzzz"
		hashedNode  = "hashed-node-token-yyyy"
		hashedAdmin = "hashed-admin-token-xxxx"
	)
	digest := func(tok string) string {
		sum := sha256.Sum256([]byte(tok))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	h := newHarness(t)
	h.targets.services = append(h.targets.services, parse.Service{ID: "id-hashed", Name: "hashed_svc", Image: "nginx", Mode: parse.ModeReplicated, Replicas: 1,
		Labels: map[string]string{parse.LabelCleanEnable: "true", parse.LabelCleanExec: "true", authz.LabelCleanToken: digest(hashedClean),
			parse.LabelBackupEnable: "true", parse.LabelBackupVolumes: "v", authz.LabelBackupToken: "sha256:" + strings.Repeat("0", 64),
			parse.LabelUpdateEnable: "true", authz.LabelUpdateToken: "sha256:short"}})
	h.targets.nodes[2].Labels = map[string]string{authz.LabelNodeCleanToken: strings.ToUpper(digest(hashedNode))}
	cfg := fixtureConfig()
	cfg.AdminTokens = append(cfg.AdminTokens, digest(hashedAdmin))
	h.server = New(Options{Ops: h.ops, Targets: h.targets, Config: cfg, Log: slog.New(slog.NewTextHandler(h.log, nil))})
	h.handler = h.server.Handler()

	tests := []struct {
		name, path, body, bearer string
		status                   int
	}{
		{"hashed label token", "/api/clean/service", `{"serviceName":"hashed_svc"}`, hashedClean, 200},
		{"hashed label token in the body", "/api/clean/service", `{"token":"` + hashedClean + `","serviceName":"hashed_svc"}`, "", 200},
		{"plain label token still works", "/api/clean/service", `{"serviceName":"shop_web"}`, webClean, 200},
		{"the digest itself is no token", "/api/clean/service", `{"serviceName":"hashed_svc"}`, digest(hashedClean), 401},
		{"sha256: with another digest", "/api/backup/service", `{"serviceName":"hashed_svc"}`, hashedClean, 401},
		{"sha256: of the right length but the wrong hash", "/api/backup/service", `{"serviceName":"hashed_svc"}`, strings.Repeat("0", 64), 401},
		{"malformed sha256: matches nothing, not even its text", "/api/update/service", `{"serviceName":"hashed_svc","image":"nginx:2"}`, "sha256:short", 401},
		{"hashed token on another service", "/api/clean/service", `{"serviceName":"shop_web"}`, hashedClean, 403},
		{"hashed node token (upper-case hex)", "/api/clean/node", `{"nodeName":"worker-2"}`, hashedNode, 200},
		{"hashed node token on another node", "/api/clean/node", `{"nodeName":"worker-1"}`, hashedNode, 403},
		{"hashed admin token", "/api/backup/service", `{"serviceName":"shop_db"}`, hashedAdmin, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if res := h.do("POST", tt.path, tt.body, tt.bearer); res.Status != tt.status {
				t.Errorf("status %d, want %d: %s", res.Status, tt.status, res.Body)
			}
		})
	}

	res := h.do("GET", "/api/services", "", hashedClean)
	svcs, _ := res.json(t)["services"].([]any)
	if res.Status != 200 || len(svcs) != 1 {
		t.Fatalf("listing for a hashed token: %d %s", res.Status, res.Body)
	}
	view := svcs[0].(map[string]any)
	if view["name"] != "hashed_svc" || fmt.Sprint(view["actions"]) != "[clean-service]" ||
		view["labels"].(map[string]any)[authz.LabelCleanToken] != "***" || strings.Contains(string(res.Body), digest(hashedClean)[7:]) {
		t.Errorf("listing: %s", res.Body)
	}
	if res = h.do("GET", "/api/nodes", "", hashedNode); res.Status != 200 || !strings.Contains(string(res.Body), `"hostname": "worker-2"`) {
		t.Errorf("node listing for a hashed node token: %d %s", res.Status, res.Body)
	}
	for _, secret := range []string{hashedClean, hashedNode, hashedAdmin} {
		if strings.Contains(h.log.String(), secret) {
			t.Errorf("%q reached the log", secret)
		}
	}
}
