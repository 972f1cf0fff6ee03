package api

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testIssuer is a local OIDC issuer on 127.0.0.1: a discovery document, a JWKS that tests may
// rotate, and counters of what swarm-utils fetched. Its keys sign the tests' tokens.
type testIssuer struct {
	srv          *httptest.Server
	url          string
	discoveries  atomic.Int32
	jwksFetches  atomic.Int32
	mu           sync.Mutex
	published    []testKey // in the JWKS
	noDiscovery  bool      // discovery answers 404: the /.well-known/jwks fallback is used
	failing      bool      // every request answers 500
	jwksOverride string    // the discovery's jwks_uri, when set
	redirects    int       // the discovery document is reached through this many redirects
	noFallback   bool      // <issuer>/.well-known/jwks answers 404
	jwksBody     string    // the JWKS answer, when set
}

type testKey struct {
	kid string
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
}

var (
	keyOnce              sync.Once
	rsaKey1, rsaKey2     *rsa.PrivateKey
	rsaStranger          *rsa.PrivateKey
	ecKey1               *ecdsa.PrivateKey
	generatedKeysFailure error
)

// testKeys are generated once per test binary: RSA key generation takes a while.
func testKeys(t *testing.T) (k1, k2, stranger testKey, ec testKey) {
	t.Helper()
	keyOnce.Do(func() {
		var errs [4]error
		rsaKey1, errs[0] = rsa.GenerateKey(rand.Reader, 2048)
		rsaKey2, errs[1] = rsa.GenerateKey(rand.Reader, 2048)
		rsaStranger, errs[2] = rsa.GenerateKey(rand.Reader, 2048)
		ecKey1, errs[3] = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		for _, err := range errs {
			if err != nil {
				generatedKeysFailure = err
			}
		}
	})
	if generatedKeysFailure != nil {
		t.Fatal(generatedKeysFailure)
	}
	return testKey{kid: "k1", rsa: rsaKey1}, testKey{kid: "k2", rsa: rsaKey2}, testKey{kid: "k1", rsa: rsaStranger}, testKey{kid: "e1", ec: ecKey1}
}

func newTestIssuer(t *testing.T, published ...testKey) *testIssuer {
	t.Helper()
	iss := &testIssuer{published: published}
	mux := http.NewServeMux()
	// /redirect/{n} is n redirects away from the discovery document.
	mux.HandleFunc("GET /redirect/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		next := "/oidc/openid-configuration"
		if n > 1 {
			next = "/redirect/" + strconv.Itoa(n-1)
		}
		http.Redirect(w, r, next, http.StatusFound)
	})
	discovery := func(w http.ResponseWriter, r *http.Request) {
		iss.mu.Lock()
		defer iss.mu.Unlock()
		if r.URL.Path != "/oidc/openid-configuration" && iss.redirects > 0 {
			next := "/oidc/openid-configuration"
			if iss.redirects > 1 {
				next = "/redirect/" + strconv.Itoa(iss.redirects-1)
			}
			http.Redirect(w, r, next, http.StatusFound)
			return
		}
		iss.discoveries.Add(1)
		if iss.failing {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		if iss.noDiscovery {
			http.NotFound(w, r)
			return
		}
		jwks := iss.url + "/oauth/keys"
		if iss.jwksOverride != "" {
			jwks = iss.jwksOverride
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": iss.url, "jwks_uri": jwks, "id_token_signing_alg_values_supported": []string{"RS256"}})
	}
	mux.HandleFunc("GET /.well-known/openid-configuration", discovery)
	mux.HandleFunc("GET /oidc/openid-configuration", discovery)
	serveKeys := func(w http.ResponseWriter, r *http.Request) {
		iss.jwksFetches.Add(1)
		iss.mu.Lock()
		defer iss.mu.Unlock()
		if iss.noFallback && r.URL.Path == "/.well-known/jwks" {
			http.NotFound(w, r)
			return
		}
		if iss.failing {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		if iss.jwksBody != "" {
			_, _ = w.Write([]byte(iss.jwksBody))
			return
		}
		keys := []map[string]string{{"kty": "oct", "kid": "symmetric", "k": "c2VjcmV0"}} // ignored
		for _, k := range iss.published {
			keys = append(keys, k.jwk())
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	}
	mux.HandleFunc("GET /oauth/keys", serveKeys)
	mux.HandleFunc("GET /.well-known/jwks", serveKeys)
	iss.srv = httptest.NewServer(mux)
	iss.url = iss.srv.URL
	t.Cleanup(iss.srv.Close)
	return iss
}

func (i *testIssuer) publish(keys ...testKey) {
	i.mu.Lock()
	i.published = keys
	i.mu.Unlock()
}

func (i *testIssuer) set(f func(*testIssuer)) {
	i.mu.Lock()
	f(i)
	i.mu.Unlock()
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (k testKey) jwk() map[string]string {
	if k.ec != nil {
		point, _ := k.ec.PublicKey.Bytes() // 0x04 || x || y
		return map[string]string{"kty": "EC", "kid": k.kid, "use": "sig", "alg": "ES256", "crv": "P-256", "x": b64(point[1:33]), "y": b64(point[33:])}
	}
	return map[string]string{"kty": "RSA", "kid": k.kid, "use": "sig", "alg": "RS256",
		"n": b64(k.rsa.N.Bytes()), "e": b64(big.NewInt(int64(k.rsa.E)).Bytes())}
}

// sign makes a JWT with header alg/kid and claims; alg "" picks the key's.
func (k testKey) sign(t *testing.T, claims map[string]any, header map[string]any) string {
	t.Helper()
	h := map[string]any{"typ": "JWT", "kid": k.kid, "alg": "RS256"}
	if k.ec != nil {
		h["alg"] = "ES256"
	}
	for name, v := range header {
		if v == nil {
			delete(h, name)
		} else {
			h[name] = v
		}
	}
	hj, _ := json.Marshal(h)
	cj, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := b64(hj) + "." + b64(cj)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	if k.ec != nil {
		r, s, err := ecdsa.Sign(rand.Reader, k.ec, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	} else {
		sig, err = rsa.SignPKCS1v15(rand.Reader, k.rsa, crypto.SHA256, digest[:])
		if err != nil {
			t.Fatal(err)
		}
	}
	return input + "." + b64(sig)
}

// githubClaims are shaped like a GitHub Actions token for repository on ref.
func githubClaims(iss, repository, ref string) map[string]any {
	now := time.Now().Unix()
	return map[string]any{
		"iss": iss, "aud": "swarm-utils", "sub": "repo:" + repository + ":ref:" + ref,
		"repository": repository, "repository_owner": "org", "ref": ref, "ref_type": "branch", "ref_protected": "false",
		"jti": "5e1f", "iat": now - 5, "nbf": now - 5, "exp": now + 300, "workflow": "deploy", "run_id": "42",
	}
}

// gitlabClaims are shaped like a GitLab CI id_token for project on branch.
func gitlabClaims(iss, project, branch string, protected bool) map[string]any {
	now := time.Now().Unix()
	p := "false"
	if protected {
		p = "true"
	}
	return map[string]any{
		"iss": iss, "aud": []string{"other", "swarm-utils"}, "sub": "project_path:" + project + ":ref_type:branch:ref:" + branch,
		"project_path": project, "namespace_path": "group", "ref": branch, "ref_type": "branch", "ref_protected": p,
		"pipeline_source": "push", "iat": now, "nbf": now, "exp": now + 300,
	}
}

func with(claims map[string]any, changes map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range claims {
		out[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}
