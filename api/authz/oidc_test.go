package authz

import (
	"bytes"
	"context"
	"fmt"
	"github.com/swarm-utils/swarm-utils/operation"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/api/authz/oidctest"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/parse"
)

// offsetClock is the verifier's clock: real time plus an offset the test moves forward.
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *offsetClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

type fakeTargets struct{ services []parse.Service }

func (f fakeTargets) Service(_ context.Context, name string) (parse.Service, error) {
	for _, s := range f.services {
		if s.Name == name {
			return s, nil
		}
	}
	return parse.Service{}, &operation.Error{Kind: operation.KindNotFound, Err: fmt.Errorf("service %s not found", name)}
}
func (f fakeTargets) Services(context.Context) ([]parse.Service, error) { return f.services, nil }
func (f fakeTargets) Nodes(context.Context) ([]parse.Node, error)       { return nil, nil }

var (
	cleanService  = Action{Op: "clean-service", TokenLabel: LabelCleanToken}
	updateService = Action{Op: "update-service", TokenLabel: LabelUpdateToken}
)

// oidcFixture is an Authorizer with OIDC on for issuers and one service, app_web, whose clean
// and update actions org/app may run on refs/heads/main; log is its log.
type oidcFixture struct {
	a     *Authorizer
	clock *offsetClock
	log   *bytes.Buffer
	mu    sync.Mutex // of log
}

func newOIDCFixture(t *testing.T, issuers ...string) *oidcFixture {
	t.Helper()
	f := &oidcFixture{clock: &offsetClock{}, log: &bytes.Buffer{}}
	targets := fakeTargets{services: []parse.Service{{ID: "id-app-web", Name: "app_web", Image: "registry:5000/org/app:1", Labels: map[string]string{
		parse.LabelCleanEnable: "true", LabelCleanOIDCRepository: "org/app", "swarm-utils.clean.oidc.ref": "refs/heads/main",
		parse.LabelUpdateEnable: "true", LabelUpdateOIDCRepository: "org/app",
	}}}}
	cfg := config.Config{OIDC: config.OIDC{Issuers: issuers, Audience: "swarm-utils", JWKSCache: 10 * time.Minute}}
	f.a = New(Options{Config: cfg, Targets: targets, Log: slog.New(slog.NewTextHandler(lockedWriter{f}, nil)), Now: f.clock.now})
	return f
}

type lockedWriter struct{ f *oidcFixture }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	return w.f.log.Write(p)
}

// clean authorises clean-service on app_web by token; nil when allowed.
func (f *oidcFixture) clean(t *testing.T, token string) *Error {
	t.Helper()
	_, admin, e := f.a.Service(context.Background(), NewToken(token), cleanService, "app_web")
	if admin {
		t.Fatal("a CI identity token counted as an admin token")
	}
	return f.hidden(t, e, token)
}

// hidden fails when the token, or its signature alone, is in the refusal or the log.
func (f *oidcFixture) hidden(t *testing.T, e *Error, token string) *Error {
	t.Helper()
	sig := token[strings.LastIndexByte(token, '.')+1:]
	f.mu.Lock()
	log := f.log.String()
	f.mu.Unlock()
	if e != nil && strings.Contains(e.Msg, sig) || strings.Contains(log, sig) {
		t.Errorf("the OIDC token reached the refusal or the log: %v\n%s", e, log)
	}
	return e
}

// refused tells whether e is a refusal with status saying msg.
func refused(e *Error, status int, msg string) bool {
	return e != nil && e.Status == status && strings.Contains(e.Msg, msg)
}

// TestOIDCKeysCached: many requests, one discovery and one JWKS fetch, also when they arrive
// together and for another action; after the cache's TTL the keys are fetched again.
func TestOIDCKeysCached(t *testing.T) {
	k1, _, _, _ := oidctest.Keys(t)
	iss := oidctest.NewIssuer(t, k1)
	f := newOIDCFixture(t, iss.URL)
	token := k1.Sign(t, oidctest.GitHubClaims(iss.URL, "org/app", "refs/heads/main"), nil)
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range 20 {
		wg.Go(func() {
			if _, _, e := f.a.Service(context.Background(), NewToken(token), cleanService, "app_web"); e != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	for range 5 {
		if _, _, e := f.a.Service(context.Background(), NewToken(token), updateService, "app_web"); e != nil {
			failed.Add(1)
		}
	}
	if failed.Load() != 0 {
		t.Fatalf("%d requests failed", failed.Load())
	}
	if d, j := iss.Discoveries.Load(), iss.JWKSFetches.Load(); d != 1 || j != 1 {
		t.Errorf("25 requests made %d discoveries and %d JWKS fetches, want 1 and 1", d, j)
	}
	f.clock.advance(10*time.Minute + time.Second)
	token = k1.Sign(t, oidctest.With(oidctest.GitHubClaims(iss.URL, "org/app", "refs/heads/main"), map[string]any{"exp": time.Now().Add(time.Hour).Unix()}), nil)
	if e := f.clean(t, token); e != nil {
		t.Fatalf("after the TTL: %v", e)
	}
	if j := iss.JWKSFetches.Load(); j != 2 {
		t.Errorf("after the TTL: %d JWKS fetches, want 2", j)
	}
}

// TestOIDCKeyRotation: a token signed with a key id the cache does not know refetches the keys
// once (the issuer rotated them) and then verifies; more unknown key ids do not refetch again
// until OIDCRefetchEvery has passed.
func TestOIDCKeyRotation(t *testing.T) {
	k1, k2, _, _ := oidctest.Keys(t)
	iss := oidctest.NewIssuer(t, k1)
	f := newOIDCFixture(t, iss.URL)
	claims := oidctest.With(oidctest.GitHubClaims(iss.URL, "org/app", "refs/heads/main"), map[string]any{"exp": time.Now().Add(time.Hour).Unix()})
	if e := f.clean(t, k1.Sign(t, claims, nil)); e != nil {
		t.Fatalf("k1: %v", e)
	}

	// Right after a fetch an unknown kid is not worth another one.
	if e := f.clean(t, k2.Sign(t, claims, nil)); !refused(e, 401, `signed with key id "k2", which issuer`) {
		t.Errorf("unknown kid right after a fetch: %v", e)
	}
	if j := iss.JWKSFetches.Load(); j != 1 {
		t.Errorf("%d JWKS fetches, want 1", j)
	}

	iss.Publish(k1, k2)
	f.clock.advance(OIDCRefetchEvery)
	if e := f.clean(t, k2.Sign(t, claims, nil)); e != nil {
		t.Fatalf("k2 after the rotation: %v", e)
	}
	if j := iss.JWKSFetches.Load(); j != 2 {
		t.Errorf("rotation: %d JWKS fetches, want 2", j)
	}
	for i := range 10 {
		k := oidctest.Key{Kid: fmt.Sprintf("made-up-%d", i), RSA: k2.RSA}
		if e := f.clean(t, k.Sign(t, claims, nil)); !refused(e, 401, "which issuer") {
			t.Fatalf("made-up kid: %v", e)
		}
	}
	if e := f.clean(t, k1.Sign(t, claims, nil)); e != nil {
		t.Errorf("k1 still published: %v", e)
	}
	if j := iss.JWKSFetches.Load(); j != 2 {
		t.Errorf("made-up key ids made %d JWKS fetches, want 2 in all", j)
	}
}

func TestOIDCDiscovery(t *testing.T) {
	k1, _, _, _ := oidctest.Keys(t)
	tests := []struct {
		name    string
		setup   func(*oidctest.Issuer)
		status  int // 0: allowed
		msg     string
		fetches int32 // JWKS fetches after two requests
	}{
		{name: "no discovery document: <issuer>/.well-known/jwks", setup: func(i *oidctest.Issuer) { i.NoDiscovery = true }, fetches: 1},
		{name: "jwks_uri over http to a remote host", setup: func(i *oidctest.Issuer) { i.JWKSOverride = "http://192.0.2.10/keys" },
			status: 502, msg: "must use https"},
		{name: "issuer down: 502, retried only after a pause", setup: func(i *oidctest.Issuer) { i.Failing = true },
			status: 502, msg: "cannot verify the OIDC token now: fetch the signing keys of issuer", fetches: 1},
		{name: "discovery behind redirects", setup: func(i *oidctest.Issuer) { i.Redirects, i.NoFallback = 2, true }, fetches: 1},
		{name: "too many redirects", setup: func(i *oidctest.Issuer) { i.Redirects, i.NoFallback = 3, true },
			status: 502, msg: "more than 3 redirects", fetches: 1},
		{name: "discovery names the issuer with a trailing slash", setup: func(i *oidctest.Issuer) { i.DocIssuer = i.URL + "/" }, fetches: 1},
		{name: "discovery names another issuer", setup: func(i *oidctest.Issuer) { i.DocIssuer = "https://evil.example" },
			status: 502, msg: `its discovery document names issuer "https://evil.example"`},
		{name: "keys that are not JSON: 502", setup: func(i *oidctest.Issuer) { i.JWKSBody = "<html>keys</html>" },
			status: 502, msg: "/oauth/keys: not JSON", fetches: 1},
		{name: "JSON that is no key set: 502", setup: func(i *oidctest.Issuer) { i.JWKSBody = `{"keys":5}` },
			status: 502, msg: "its keys are not a JSON Web Key Set", fetches: 1},
		{name: "keys without a usable key: 401", setup: func(i *oidctest.Issuer) { i.JWKSBody = `{"keys":[]}` },
			status: 401, msg: `signed with key id "k1", which issuer`, fetches: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss := oidctest.NewIssuer(t, k1)
			iss.Set(tt.setup)
			f := newOIDCFixture(t, iss.URL)
			token := k1.Sign(t, oidctest.GitHubClaims(iss.URL, "org/app", "refs/heads/main"), nil)
			for range 2 {
				e := f.clean(t, token)
				if (tt.status == 0) != (e == nil) || e != nil && !refused(e, tt.status, tt.msg) {
					t.Fatalf("%v; want %d saying %q", e, tt.status, tt.msg)
				}
			}
			if j := iss.JWKSFetches.Load(); j != tt.fetches {
				t.Errorf("%d JWKS fetches, want %d", j, tt.fetches)
			}
		})
	}
}

// TestOIDCTokenWithoutKid: go-oidc tries each of the issuer's keys on a token without kid.
func TestOIDCTokenWithoutKid(t *testing.T) {
	k1, _, stranger, ec := oidctest.Keys(t)
	iss := oidctest.NewIssuer(t, k1, ec)
	f := newOIDCFixture(t, iss.URL)
	claims := oidctest.GitHubClaims(iss.URL, "org/app", "refs/heads/main")
	if e := f.clean(t, ec.Sign(t, claims, map[string]any{"kid": nil})); e != nil {
		t.Errorf("ES256 without kid: %v", e)
	}
	if e := f.clean(t, stranger.Sign(t, claims, map[string]any{"kid": nil})); !refused(e, 401, "names no key id (kid) and verifies with none of issuer") {
		t.Errorf("another key without kid: %v", e)
	}
}

func TestLooksLikeJWT(t *testing.T) {
	k1, _, _, _ := oidctest.Keys(t)
	for token, want := range map[string]bool{
		k1.Sign(t, map[string]any{"iss": "x"}, nil): true,
		"a-plain-admin-token":                       false,
		"a.b.c":                                     false,
		"eyJhbGciOiJSUzI1NiJ9":                      false,
		"eyJhbGciOiJSUzI1NiJ9.e30.":                 false,
		"eyJhbGciOiJSUzI1NiJ9.e30.x":                true,
		"eyJ0eXAiOiJKV1QifQ.e30.x":                  false, // no alg: a plain token that happens to have dots
		"eyJhbGciOiJSUzI1NiJ9.e30.x.":               false,
	} {
		if got := LooksLikeJWT(token); got != want {
			t.Errorf("LooksLikeJWT(%.40q) = %v", token, got)
		}
	}
}
