//go:build integration

package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/api/authz/oidctest"
	"github.com/swarm-utils/swarm-utils/internal/testbed"
	"github.com/swarm-utils/swarm-utils/operation"
)

// ciIssuers stands in for GitHub Actions and GitLab CI: two OIDC issuers serving https on the
// bed's bridge address (the deployed swarm-utils fetches their keys from its container), and
// GitHub's token request endpoint ($ACTIONS_ID_TOKEN_REQUEST_URL), which the runner's curl
// container calls over plain http.
type ciIssuers struct {
	key            oidctest.Key
	github, gitlab *oidctest.Issuer
	caFile         string // both issuers' certificates, for SSL_CERT_FILE
	requestURL     string // ACTIONS_ID_TOKEN_REQUEST_URL
	requestToken   string // ACTIONS_ID_TOKEN_REQUEST_TOKEN
	// githubClaims are the claims of the next token the request endpoint issues, from the
	// audience it was asked for.
	githubClaims func(aud string) map[string]any
	issued       chan string // the tokens the request endpoint issued
}

func startCIIssuers(t *testing.T, tb testbed.Bed) *ciIssuers {
	t.Helper()
	if tb.HostIP == "" {
		t.Fatal("no SU_HOST_IP: eval \"$(scripts/cluster env)\"")
	}
	k1, _, _, _ := oidctest.Keys(t)
	c := &ciIssuers{key: k1, requestToken: "req-" + randHex(t, 16), issued: make(chan string, 16)}
	var ghCA, glCA []byte
	c.github, ghCA = oidctest.NewTLSIssuer(t, net.JoinHostPort(tb.HostIP, "0"), k1)
	c.gitlab, glCA = oidctest.NewTLSIssuer(t, net.JoinHostPort(tb.HostIP, "0"), k1)
	c.caFile = filepath.Join(t.TempDir(), "oidc-ca.pem")
	if err := os.WriteFile(c.caFile, append(ghCA, glCA...), 0o644); err != nil {
		t.Fatal(err)
	}
	// GitHub's endpoint: GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=AUD with the request
	// token as a bearer, answering {"count":…,"value":"<JWT>"}.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_apis/distributedtask/idtoken", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "bearer "+c.requestToken || r.URL.Query().Get("api-version") != "2.0" {
			http.Error(w, `{"message":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		jwt := c.key.Sign(t, c.githubClaims(r.URL.Query().Get("audience")), nil)
		select {
		case c.issued <- jwt:
		default:
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"count": 1, "value": jwt})
	})
	ln, err := net.Listen("tcp", net.JoinHostPort(tb.HostIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	c.requestURL = "http://" + ln.Addr().String() + "/_apis/distributedtask/idtoken?api-version=2.0"
	return c
}

// env is what the deployment gets: the two issuers instead of the real ones, and their CA.
func (c *ciIssuers) env() []string {
	return []string{"SWARM_UTILS_OIDC_ISSUERS=" + c.github.URL + "," + c.gitlab.URL, "SU_E2E_OIDC_CA=" + c.caFile}
}

// testOIDCExamples runs the call lines of examples/github-actions-oidc.yml and
// examples/gitlab-ci-oidc.yml as the other examples' (non-root curl container on the overlay
// network), with identity tokens shaped like each platform's: a token whose claims match the
// service's .oidc.* labels updates it; one whose claims do not (another branch, an unprotected
// ref) fails the job with 403, and the service keeps its image.
func testOIDCExamples(t *testing.T, tb testbed.Bed, repo string, c *ciIssuers) {
	ensureCurlImage(t, tb)
	for _, tc := range []struct {
		example string
		labels  []string // the service's oidc rules
		token   func(good bool) (env []string, secret string)
	}{
		{
			example: "github-actions-oidc.yml",
			labels: []string{"swarm-utils.update.oidc.repository=MyOrg/myproject", "swarm-utils.update.oidc.ref=refs/heads/main",
				"swarm-utils.update.oidc.issuer=" + c.github.URL},
			token: func(good bool) ([]string, string) {
				ref := "refs/heads/main"
				if !good {
					ref = "refs/heads/feature"
				}
				c.githubClaims = func(aud string) map[string]any {
					return oidctest.With(oidctest.GitHubClaims(c.github.URL, "myorg/myproject", ref), map[string]any{"aud": aud})
				}
				return []string{"ACTIONS_ID_TOKEN_REQUEST_URL=" + c.requestURL, "ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + c.requestToken}, c.requestToken
			},
		},
		{
			example: "gitlab-ci-oidc.yml",
			labels: []string{"swarm-utils.update.oidc.repository=mygroup/myproject", "swarm-utils.update.oidc.ref-protected=true",
				"swarm-utils.update.oidc.issuer=" + c.gitlab.URL},
			token: func(good bool) ([]string, string) {
				jwt := c.key.Sign(t, oidctest.GitLabClaims(c.gitlab.URL, "mygroup/myproject", "main", good), nil)
				return []string{"SWARM_UTILS_ID_TOKEN=" + jwt}, jwt
			},
		},
	} {
		t.Run(tc.example, func(t *testing.T) {
			name := "it-e2e-oidc-" + randHex(t, 4)
			args := []string{"--replicas", "1", "--constraint", "node.role==worker", "--update-monitor", "2s",
				"--label", "swarm-utils.update.enable=true", "--label", "swarm-utils.update.registry.auth=true",
				"--label", "swarm-utils.update.registry.user=" + tb.RegistryUser, "--label", "swarm-utils.update.registry.password=" + tb.RegistryPassword,
				"--label", "swarm-utils.update.registry.url=" + tb.Registry}
			for _, l := range tc.labels {
				args = append(args, "--label", l)
			}
			tb.Service(t, name, append(args, tb.WorkloadImage)...)
			script := exampleCall(t, filepath.Join(repo, "examples", tc.example))
			dir := t.TempDir()
			run := func(good bool, image string) (string, error) {
				env, secret := tc.token(good)
				out, err := runExample(tb, script, dir, append(env, "SERVICE="+name, "IMAGE="+image)...)
				t.Logf("job output (claims match: %v):\n%s", good, out)
				secrets := []string{secret}
				for len(c.issued) > 0 {
					secrets = append(secrets, <-c.issued)
				}
				// GitHub's runner hides what an ::add-mask:: line names; nothing else may show a token.
				shown := out
				for line := range strings.SplitSeq(out, "\n") {
					if strings.HasPrefix(line, "::add-mask::") {
						shown = strings.ReplaceAll(shown, line, "")
					}
				}
				for _, s := range secrets {
					if strings.Contains(shown, s) {
						t.Errorf("a token (%d chars) is in the job's output", len(s))
					}
				}
				return out, err
			}

			out, err := run(false, tb.WorkloadImage2)
			if err == nil {
				t.Fatalf("the job passed with a token its service's rules refuse")
			}
			if !strings.Contains(out, "403") && !strings.Contains(out, "forbidden") {
				t.Errorf("the refused job's log does not say why (403): %s", out)
			}
			if img := serviceImage(t, tb, name); strings.Contains(img, tb.WorkloadImage2) {
				t.Errorf("a refused token updated the service to %s", img)
			}

			out, err = run(true, tb.WorkloadImage2)
			if err != nil {
				t.Fatalf("the job failed with a matching token: %v", err)
			}
			var res operation.Result
			if err := json.Unmarshal([]byte(withoutWorkflowCommands(out)), &res); err != nil || !res.OK {
				t.Fatalf("answer %q (%v), want an OK result", out, err)
			}
			if got := fmt.Sprint(res.Steps[len(res.Steps)-1].Details["change"]); got != "updated" {
				t.Errorf("change %q, want updated", got)
			}
			if img := serviceImage(t, tb, name); !strings.Contains(img, tb.WorkloadImage2) {
				t.Errorf("service runs %s after the update, want %s", img, tb.WorkloadImage2)
			}
		})
	}
}

// withoutWorkflowCommands is a job's output without GitHub's "::command::" lines.
func withoutWorkflowCommands(out string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(out, "\n") {
		if !strings.HasPrefix(line, "::") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// serviceImage is the image the service's spec names.
func serviceImage(t *testing.T, tb testbed.Bed, name string) string {
	t.Helper()
	return strings.TrimSpace(tb.Docker(t, "service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", name))
}
