// Package oidctest is a local OIDC issuer for tests: a discovery document and a JWKS on
// 127.0.0.1 (or over https on another address, NewTLSIssuer), keys that sign CI identity tokens shaped like GitHub's and GitLab's, and counters
// of what was fetched.
package oidctest

import (
	"cmp"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Issuer is a local OIDC issuer on 127.0.0.1: a discovery document, a JWKS that tests may
// rotate, and counters of what swarm-utils fetched. Its keys sign the tests' tokens.
type Issuer struct {
	URL         string
	Discoveries atomic.Int32 // requests for the discovery document
	JWKSFetches atomic.Int32 // requests for the keys

	mu        sync.Mutex
	published []Key // in the JWKS

	// Set changes these under the issuer's lock.
	NoDiscovery  bool   // discovery answers 404: the /.well-known/jwks fallback is used
	Failing      bool   // every request answers 500
	JWKSOverride string // the discovery's jwks_uri, when set
	Redirects    int    // the discovery document is reached through this many redirects
	NoFallback   bool   // <issuer>/.well-known/jwks answers 404
	JWKSBody     string // the JWKS answer, when set
	DocIssuer    string // the discovery document's issuer, when set
}

// Key signs tokens: RSA (RS256) or P-256 (ES256).
type Key struct {
	Kid string
	RSA *rsa.PrivateKey
	EC  *ecdsa.PrivateKey
}

var (
	keyOnce              sync.Once
	rsaKey1, rsaKey2     *rsa.PrivateKey
	rsaStranger          *rsa.PrivateKey
	ecKey1               *ecdsa.PrivateKey
	generatedKeysFailure error
)

// Keys are generated once per test binary (RSA key generation takes a while): k1 and k2 are
// RSA keys "k1" and "k2", stranger another RSA key that calls itself "k1", ec a P-256 key "e1".
func Keys(t *testing.T) (k1, k2, stranger, ec Key) {
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
	return Key{Kid: "k1", RSA: rsaKey1}, Key{Kid: "k2", RSA: rsaKey2}, Key{Kid: "k1", RSA: rsaStranger}, Key{Kid: "e1", EC: ecKey1}
}

// NewIssuer serves an issuer publishing keys until the test ends.
func NewIssuer(t *testing.T, published ...Key) *Issuer {
	t.Helper()
	iss := &Issuer{published: published}
	srv := httptest.NewServer(iss.handler())
	iss.URL = srv.URL
	t.Cleanup(srv.Close)
	return iss
}

// NewTLSIssuer serves an issuer over https on addr (host:port; port 0 picks one) until the
// test ends, for a swarm-utils that is not on the test's loopback (a deployed container, which
// accepts only https issuers there). Its certificate is self-signed for addr's host; caPEM is
// that certificate, for the verifier's trust store (SSL_CERT_FILE).
func NewTLSIssuer(t *testing.T, addr string, published ...Key) (iss *Issuer, caPEM []byte) {
	t.Helper()
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("issuer address %q: %v", addr, err)
	}
	cert, caPEM := selfSigned(t, host)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	iss = &Issuer{published: published}
	srv := httptest.NewUnstartedServer(iss.handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	iss.URL = "https://" + ln.Addr().String()
	t.Cleanup(srv.Close)
	return iss, caPEM
}

// selfSigned is a P-256 certificate for host (an IP address or a DNS name), valid for a day.
func selfSigned(t *testing.T, host string) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: host},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:        true, BasicConstraintsValid: true,
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// handler is the issuer's discovery document, keys and test redirects.
func (iss *Issuer) handler() http.Handler {
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
		if r.URL.Path != "/oidc/openid-configuration" && iss.Redirects > 0 {
			next := "/oidc/openid-configuration"
			if iss.Redirects > 1 {
				next = "/redirect/" + strconv.Itoa(iss.Redirects-1)
			}
			http.Redirect(w, r, next, http.StatusFound)
			return
		}
		iss.Discoveries.Add(1)
		if iss.Failing {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		if iss.NoDiscovery {
			http.NotFound(w, r)
			return
		}
		jwks := iss.URL + "/oauth/keys"
		if iss.JWKSOverride != "" {
			jwks = iss.JWKSOverride
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": cmp.Or(iss.DocIssuer, iss.URL), "jwks_uri": jwks, "id_token_signing_alg_values_supported": []string{"RS256"}})
	}
	mux.HandleFunc("GET /.well-known/openid-configuration", discovery)
	mux.HandleFunc("GET /oidc/openid-configuration", discovery)
	serveKeys := func(w http.ResponseWriter, r *http.Request) {
		iss.JWKSFetches.Add(1)
		iss.mu.Lock()
		defer iss.mu.Unlock()
		if iss.NoFallback && r.URL.Path == "/.well-known/jwks" {
			http.NotFound(w, r)
			return
		}
		if iss.Failing {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		if iss.JWKSBody != "" {
			_, _ = w.Write([]byte(iss.JWKSBody))
			return
		}
		keys := []map[string]string{{"kty": "oct", "kid": "symmetric", "k": "c2VjcmV0"}} // ignored
		for _, k := range iss.published {
			keys = append(keys, k.JWK())
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	}
	mux.HandleFunc("GET /oauth/keys", serveKeys)
	mux.HandleFunc("GET /.well-known/jwks", serveKeys)
	return mux
}

// Publish replaces the keys in the JWKS (a rotation).
func (i *Issuer) Publish(keys ...Key) {
	i.mu.Lock()
	i.published = keys
	i.mu.Unlock()
}

// Set changes the issuer's behaviour under its lock.
func (i *Issuer) Set(f func(*Issuer)) {
	i.mu.Lock()
	f(i)
	i.mu.Unlock()
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// JWK is the key's public half as a JWKS entry.
func (k Key) JWK() map[string]string {
	if k.EC != nil {
		point, _ := k.EC.PublicKey.Bytes() // 0x04 || x || y
		return map[string]string{"kty": "EC", "kid": k.Kid, "use": "sig", "alg": "ES256", "crv": "P-256", "x": b64(point[1:33]), "y": b64(point[33:])}
	}
	return map[string]string{"kty": "RSA", "kid": k.Kid, "use": "sig", "alg": "RS256",
		"n": b64(k.RSA.N.Bytes()), "e": b64(big.NewInt(int64(k.RSA.E)).Bytes())}
}

// Sign makes a JWT of claims; header entries replace the key's kid and alg (nil removes one).
func (k Key) Sign(t *testing.T, claims map[string]any, header map[string]any) string {
	t.Helper()
	h := map[string]any{"typ": "JWT", "kid": k.Kid, "alg": "RS256"}
	if k.EC != nil {
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
	if k.EC != nil {
		r, s, err := ecdsa.Sign(rand.Reader, k.EC, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	} else {
		sig, err = rsa.SignPKCS1v15(rand.Reader, k.RSA, crypto.SHA256, digest[:])
		if err != nil {
			t.Fatal(err)
		}
	}
	return input + "." + b64(sig)
}

// GitHubClaims are shaped like a GitHub Actions token for repository on ref (refs/heads/… or
// refs/tags/…, which sets ref_type as GitHub does).
func GitHubClaims(iss, repository, ref string) map[string]any {
	now := time.Now().Unix()
	refType := "branch"
	if strings.HasPrefix(ref, "refs/tags/") {
		refType = "tag"
	}
	return map[string]any{
		"iss": iss, "aud": "swarm-utils", "sub": "repo:" + repository + ":ref:" + ref,
		"repository": repository, "repository_owner": "org", "ref": ref, "ref_type": refType, "ref_protected": "false",
		"jti": "5e1f", "iat": now - 5, "nbf": now - 5, "exp": now + 300, "workflow": "deploy", "run_id": "42",
	}
}

// GitLabClaims are shaped like a GitLab CI id_token for project on branch.
func GitLabClaims(iss, project, branch string, protected bool) map[string]any {
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

// With is claims with changes (nil removes a claim).
func With(claims map[string]any, changes map[string]any) map[string]any {
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
