package authz

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/swarm-utils/swarm-utils/config"
)

// CI identity tokens (SPEC §4 weakness 2): GitHub Actions and GitLab CI give each job a JWT,
// signed by the platform, that names the repository and ref it runs for and expires within
// minutes. A token like that authorises an action on a target whose swarm-utils.<action>.oidc.*
// labels name its repository, so nothing long-lived is left to outlive a developer's access.
// go-oidc discovers each issuer, fetches its keys and verifies signature, issuer, audience and
// expiry; this file adds the limits and messages swarm-utils promises, and the claim rules.

const (
	maxJWTBytes = 16 << 10
	oidcLeeway  = time.Minute // clock skew allowed on exp, nbf and iat
)

// Only the algorithms both platforms sign with; HS256 ("signed" with the public key) and none
// are refused before any key is looked at.
var signingAlgs = []string{oidc.RS256, oidc.ES256}

// verifier checks CI identity tokens against the configured issuers' published keys.
type verifier struct {
	audience string
	ttl      time.Duration // of an issuer's discovery and keys
	now      func() time.Time
	fetch    *fetcher
	client   *http.Client
	issuers  map[string]*issuer // by iss, exactly as configured (no trailing "/")
	names    []string
}

// issuer is one issuer's go-oidc verifier, built from its discovery document on first use and
// again after the cache TTL.
type issuer struct {
	url   string
	mu    sync.Mutex // held while discovering: concurrent requests wait for one discovery
	keys  *issuerKeys
	built time.Time
}

// issuerKeys is what one discovery found: go-oidc's verifier and where its keys are.
type issuerKeys struct {
	v       *oidc.IDTokenVerifier
	jwksURL string
	derr    error // why discovery failed, when the keys come from the fallback location
}

// newVerifier is nil when no issuer is configured (OIDC off).
func newVerifier(c config.OIDC, now func() time.Time) *verifier {
	if len(c.Issuers) == 0 {
		return nil
	}
	ttl := c.JWKSCache
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	f := newFetcher(now, min(OIDCRefetchEvery, ttl))
	v := &verifier{audience: c.Audience, ttl: ttl, now: now, fetch: f, issuers: map[string]*issuer{},
		client: &http.Client{Timeout: oidcFetchTimeout, Transport: f,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 3 {
					return errors.New("more than 3 redirects")
				}
				return secureURL(req.URL)
			}}}
	for _, iss := range c.Issuers {
		iss = strings.TrimRight(iss, "/")
		if _, dup := v.issuers[iss]; !dup {
			v.issuers[iss] = &issuer{url: iss}
			v.names = append(v.names, iss)
		}
	}
	return v
}

// LooksLikeJWT tells a CI identity token from a plain token: three base64url parts, the first a
// JSON object with "alg". A random plain token never is one.
func LooksLikeJWT(token string) bool {
	head, rest, ok := strings.Cut(token, ".")
	payload, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || head == "" || payload == "" || sig == "" || strings.Contains(sig, ".") {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return false
	}
	var h struct {
		Alg *string `json:"alg"`
	}
	return json.Unmarshal(raw, &h) == nil && h.Alg != nil
}

// claims are the claims swarm-utils reads. GitHub names the repository "repository" and its
// ref "refs/heads/main"; GitLab names it "project_path" and its ref "main"; both send
// ref_protected as "true"/"false".
type claims struct {
	Issuer       string          `json:"iss"`
	Subject      string          `json:"sub"`
	Audience     json.RawMessage `json:"aud"` // a string or an array of strings
	Expiry       *float64        `json:"exp"`
	NotBefore    *float64        `json:"nbf"`
	IssuedAt     *float64        `json:"iat"`
	Repository   string          `json:"repository"`
	ProjectPath  string          `json:"project_path"`
	Ref          string          `json:"ref"`
	RefProtected json.RawMessage `json:"ref_protected"`
}

// repository is GitHub's repository or GitLab's project_path.
func (c *claims) repository() string {
	if c.Repository != "" {
		return c.Repository
	}
	return c.ProjectPath
}

func (c *claims) refProtected() bool {
	v := strings.Trim(strings.TrimSpace(string(c.RefProtected)), `"`)
	return strings.EqualFold(v, "true")
}

func (c *claims) audiences() ([]string, error) {
	if len(c.Audience) == 0 {
		return nil, nil
	}
	var one string
	if json.Unmarshal(c.Audience, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(c.Audience, &many); err != nil {
		return nil, errors.New("aud is neither a string nor an array of strings")
	}
	return many, nil
}

// identity describes the token's subject for messages and logs: claims, never the token.
func (c *claims) identity() string {
	s := fmt.Sprintf("issuer %s, repository %q", c.Issuer, c.repository())
	if c.Ref != "" {
		s += fmt.Sprintf(", ref %q", c.Ref)
	}
	return s
}

func rejected(format string, args ...any) *Error {
	return errorf(http.StatusUnauthorized, KindUnauthorized, "OIDC token rejected: "+format, args...)
}

// header is the JWS header, read before go-oidc sees the token so that a refusal says why.
type header struct {
	Alg  string   `json:"alg"`
	Kid  string   `json:"kid"`
	Crit []string `json:"crit"`
}

// verify checks a CI identity token: from a configured issuer, signed by one of its published
// keys, within its lifetime, for our audience. Errors are 401 with the reason (502 when the
// issuer's keys cannot be fetched); none of them contains the token.
func (v *verifier) verify(ctx context.Context, token string) (*claims, *Error) {
	if len(token) > maxJWTBytes {
		return nil, rejected("longer than %d bytes", maxJWTBytes)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, rejected("malformed: a JWT has three dot-separated parts")
	}
	rawHeader, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	rawClaims, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	_, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, rejected("malformed: its parts are not unpadded base64url")
	}
	var h header
	if err := json.Unmarshal(rawHeader, &h); err != nil {
		return nil, rejected("malformed header: %v", err)
	}
	if !slices.Contains(signingAlgs, h.Alg) {
		return nil, rejected("signed with algorithm %.20q; only RS256 and ES256 are accepted", h.Alg)
	}
	if len(h.Crit) > 0 {
		return nil, rejected("its header has critical extensions (crit), which swarm-utils does not know")
	}
	// The claims are read unverified only to pick the issuer and to word refusals; what is
	// returned has passed go-oidc's verification of these very bytes.
	var c claims
	if err := json.Unmarshal(rawClaims, &c); err != nil {
		return nil, rejected("malformed claims: %v", err)
	}
	iss := v.issuers[c.Issuer]
	if iss == nil {
		return nil, rejected("issuer (iss) %.120q is not one of SWARM_UTILS_OIDC_ISSUERS (%s)", c.Issuer, strings.Join(v.names, ", "))
	}
	keys, err := iss.verifier(ctx, v)
	if err != nil {
		return nil, cannotVerify(err)
	}

	sig := &signatureOutcome{}
	_, err = keys.v.Verify(context.WithValue(ctx, signatureKey{}, sig), token)
	if sig.err != nil {
		return nil, v.signatureRefused(iss, keys, h, sig.err)
	}
	if err != nil {
		// go-oidc refused the claims; the same checks below say why in swarm-utils' words.
		if e := v.checkClaims(&c); e != nil {
			return nil, e
		}
		return nil, rejected("%v", err) // go-oidc's words name claims, never the token
	}
	if e := v.checkClaims(&c); e != nil { // nbf and iat with less leeway than go-oidc's
		return nil, e
	}
	return &c, nil
}

func cannotVerify(err error) *Error {
	return errorf(http.StatusBadGateway, KindUnavailable, "cannot verify the OIDC token now: %v", err)
}

// checkClaims applies the lifetime, audience and repository rules to the token's claims.
func (v *verifier) checkClaims(c *claims) *Error {
	now := v.now()
	at := func(f float64) time.Time { return time.Unix(int64(f), 0).UTC() }
	switch {
	case c.Expiry == nil:
		return rejected("it has no expiry (exp)")
	case now.After(at(*c.Expiry).Add(oidcLeeway)):
		return rejected("expired at %s (%s ago); CI tokens live minutes, request a fresh one in the job",
			at(*c.Expiry).Format(time.RFC3339), now.Sub(at(*c.Expiry)).Round(time.Second))
	case c.NotBefore != nil && now.Add(oidcLeeway).Before(at(*c.NotBefore)):
		return rejected("not valid before %s (nbf)", at(*c.NotBefore).Format(time.RFC3339))
	case c.IssuedAt != nil && now.Add(oidcLeeway).Before(at(*c.IssuedAt)):
		return rejected("issued in the future (iat %s): check the clocks", at(*c.IssuedAt).Format(time.RFC3339))
	}
	auds, err := c.audiences()
	if err != nil {
		return rejected("malformed claims: %v", err)
	}
	if !slices.Contains(auds, v.audience) {
		return rejected("wrong audience: aud %.200q does not contain %q (SWARM_UTILS_OIDC_AUDIENCE); request the token for that audience",
			strings.Join(auds, ","), v.audience)
	}
	if c.repository() == "" {
		return rejected("it names no repository (GitHub repository or GitLab project_path claim)")
	}
	return nil
}

// verifier returns the issuer's go-oidc verifier and the URL of its keys. The discovery
// document names the keys; without one they are at <issuer>/.well-known/jwks (GitHub's
// location). It is built again after the TTL, and after the keys could not be fetched.
func (i *issuer) verifier(ctx context.Context, v *verifier) (*issuerKeys, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.keys != nil && v.now().Sub(i.built) < v.ttl {
		return i.keys, nil
	}
	// A caller that hangs up must not fail the discovery the next callers wait for.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), oidcFetchTimeout)
	defer cancel()
	jwksURL, derr := "", error(nil)
	dctx = oidc.ClientContext(dctx, v.client)
	provider, err := oidc.NewProvider(dctx, i.url)
	var mismatch *oidc.IssuerMismatchError
	if errors.As(err, &mismatch) && strings.TrimRight(mismatch.Discovered, "/") == i.url {
		// The issuers are configured without a trailing "/"; a document that adds one still names this issuer.
		provider, err = oidc.NewProvider(oidc.InsecureIssuerURLContext(dctx, i.url), i.url)
	}
	switch {
	case errors.As(err, &mismatch):
		return nil, fmt.Errorf("fetch the signing keys of issuer %s: its discovery document names issuer %.120q", i.url, mismatch.Discovered)
	case err != nil:
		derr = err
	default:
		var doc struct {
			JWKSURI string `json:"jwks_uri"`
		}
		if err := provider.Claims(&doc); err != nil || doc.JWKSURI == "" {
			derr = errors.New("discovery document without jwks_uri")
		}
		jwksURL = doc.JWKSURI
	}
	if derr != nil {
		jwksURL = i.url + "/.well-known/jwks"
	}
	if u, err := url.Parse(jwksURL); err != nil || !u.IsAbs() {
		return nil, fmt.Errorf("fetch the signing keys of issuer %s: jwks_uri %.200q is not an absolute URL", i.url, jwksURL)
	} else if err := secureURL(u); err != nil {
		return nil, fmt.Errorf("fetch the signing keys of issuer %s: jwks_uri: %w", i.url, err)
	}
	remote := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), v.client), jwksURL)
	i.keys = &issuerKeys{jwksURL: jwksURL, derr: derr, v: oidc.NewVerifier(i.url, recordingKeySet{remote}, &oidc.Config{
		ClientID:             v.audience,
		SupportedSigningAlgs: signingAlgs,
		// go-oidc allows no skew on exp; swarm-utils allows oidcLeeway.
		Now: func() time.Time { return v.now().Add(-oidcLeeway) },
	})}
	i.built = v.now()
	return i.keys, nil
}

// forget drops keys, so the next token discovers the issuer again (at most every
// OIDCRefetchEvery, as the fetcher allows).
func (i *issuer) forget(keys *issuerKeys) {
	i.mu.Lock()
	if i.keys == keys {
		i.keys = nil
	}
	i.mu.Unlock()
}

// signatureKey carries a *signatureOutcome through go-oidc to recordingKeySet: go-oidc words a
// key set's error as text, and swarm-utils must tell a fetch failure (502) from a refusal (401).
type signatureKey struct{}

type signatureOutcome struct{ err error }

// recordingKeySet is go-oidc's remote key set that also notes its error for verify.
type recordingKeySet struct{ keys oidc.KeySet }

func (k recordingKeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := k.keys.VerifySignature(ctx, jwt)
	if o, ok := ctx.Value(signatureKey{}).(*signatureOutcome); ok && err != nil {
		o.err = err
	}
	return payload, err
}

// signatureRefused words a failed signature check: the keys could not be fetched (502), or
// the issuer's published keys, as last fetched, do not verify the token (401).
func (v *verifier) signatureRefused(iss *issuer, keys *issuerKeys, h header, err error) *Error {
	var fe *fetchError
	switch {
	case errors.As(err, &fe), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		// go-oidc's words for keys it could not get: here only a JSON body that is no key set,
		// as the fetcher types every other failure.
		strings.HasPrefix(err.Error(), "fetching keys"):
		iss.forget(keys)
		why := "its keys are not a JSON Web Key Set"
		switch {
		case fe != nil:
			why = fe.Error()
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			why = "the request ended before the keys came"
		}
		if keys.derr != nil {
			why = fmt.Sprintf("discovery: %s; fallback: %s", describe(keys.derr), why)
		}
		return cannotVerify(fmt.Errorf("fetch the signing keys of issuer %s: %s", iss.url, why))
	}
	kty, published := v.fetch.publishedKey(keys.jwksURL, h.Kid)
	keyAlg := map[string]string{"RSA": oidc.RS256, "EC": oidc.ES256}[kty]
	switch {
	case h.Kid == "" && !published:
		return rejected("bad signature: it names no key id (kid) and verifies with none of issuer %s's keys", iss.url)
	case !published || keyAlg == "":
		return rejected("signed with key id %.80q, which issuer %s does not publish", h.Kid, iss.url)
	case keyAlg != h.Alg:
		return rejected("signed with %s, but issuer %s's key %.80q is an %s key", h.Alg, iss.url, h.Kid, keyAlg)
	}
	return rejected("bad signature: it does not verify with issuer %s's key %.80q", iss.url, h.Kid)
}

// describe is a failed request's words without the client's repetition of the URL.
func describe(err error) string {
	var fe *fetchError
	if errors.As(err, &fe) {
		return fe.Error()
	}
	return err.Error()
}

// secureURL allows https, and http only to a loopback host (a local test issuer).
func secureURL(u *url.URL) error {
	if u.Scheme == "https" || (u.Scheme == "http" && config.IsLoopbackHost(u.Hostname())) {
		return nil
	}
	return fmt.Errorf("%s must use https (http only for loopback addresses)", u.Redacted())
}
