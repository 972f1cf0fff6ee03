package authz

import (
	"context"
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/api/authz/oidctest"
)

// A CI identity token's scope is the services whose OIDC rules it matches; its caller is its
// subject, never the token.
func TestScopeAndCallerOfAnOIDCToken(t *testing.T) {
	k1, _, _, _ := oidctest.Keys(t)
	iss := oidctest.NewIssuer(t, k1)
	f := newOIDCFixture(t, iss.URL)
	tests := []struct {
		name    string
		claims  map[string]any
		sees    bool
		refused bool
	}{
		{"the rule's repository", oidctest.GitHubClaims(iss.URL, "org/app", "refs/heads/main"), true, false},
		// The update rule has no ref: another branch still matches it.
		{"another branch, matching the update rule", oidctest.GitHubClaims(iss.URL, "org/app", "refs/heads/dev"), true, false},
		{"another repository", oidctest.GitHubClaims(iss.URL, "org/other", "refs/heads/main"), false, false},
		{"expired", oidctest.With(oidctest.GitHubClaims(iss.URL, "org/app", "refs/heads/main"), map[string]any{"exp": 1}), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := k1.Sign(t, tt.claims, nil)
			sc, e := f.a.Scope(context.Background(), NewToken(token))
			if (e != nil) != tt.refused {
				t.Fatalf("Scope refused %v, want %v: %v", e != nil, tt.refused, e)
			}
			if sc.All || sc.Sees(false, "app_web") != tt.sees || sc.Sees(true, "app_web") {
				t.Errorf("scope %+v: sees app_web %v, want %v", sc, sc.Sees(false, "app_web"), tt.sees)
			}
			if tt.refused {
				return
			}
			who := f.a.Caller(NewToken(token))
			if !strings.HasPrefix(who, "oidc:") || strings.Contains(who, token[strings.LastIndexByte(token, '.')+1:]) || who == "oidc:?" {
				t.Errorf("Caller = %q, want oidc:<subject>", who)
			}
		})
	}
	if who := f.a.Caller(NewToken("plain-label-token")); who != CallerLabelToken {
		t.Errorf("Caller of a plain token = %q", who)
	}
}
