package api

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/parse"
)

// CI identity tokens (SPEC §4 weakness 2): GitHub Actions and GitLab CI give each job a JWT,
// signed by the platform, that names the repository and ref it runs for and expires within
// minutes. A token like that authorises an action on a target whose swarm-utils.<action>.oidc.*
// labels name its repository, so nothing long-lived is left to outlive a developer's access.
// Only the standard library verifies them: RS256 (both platforms) and ES256.

const (
	maxJWTBytes      = 16 << 10
	maxOIDCDocBytes  = 1 << 20
	oidcFetchTimeout = 10 * time.Second
	oidcLeeway       = time.Minute // clock skew allowed on exp, nbf and iat
	// oidcRefetchEvery is the least time between fetches of one issuer's keys beyond the cache
	// expiry: an unknown key id (key rotation) or a failed fetch retries at most this often,
	// so tokens with made-up key ids cannot make swarm-utils hammer an issuer.
	oidcRefetchEvery = 30 * time.Second
)

// oidcVerifier checks CI identity tokens against the configured issuers' published keys.
type oidcVerifier struct {
	audience     string
	ttl          time.Duration
	refetchEvery time.Duration
	client       *http.Client
	now          func() time.Time
	issuers      map[string]*issuerKeys // by iss, exactly as configured (no trailing "/")
	names        []string
}

// issuerKeys is one issuer's signing keys, cached.
type issuerKeys struct {
	iss     string
	mu      sync.Mutex // held while fetching: concurrent requests wait for one fetch
	keys    map[string]verifyKey
	fetched time.Time // of the keys
	tried   time.Time // last fetch attempt
	err     error     // of the last attempt
}

type verifyKey struct {
	alg string // RS256 or ES256
	rsa *rsa.PublicKey
	ec  *ecdsa.PublicKey
}

// newOIDCVerifier is nil when no issuer is configured (OIDC off).
func newOIDCVerifier(c config.OIDC) *oidcVerifier {
	if len(c.Issuers) == 0 {
		return nil
	}
	ttl := c.JWKSCache
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	transport := http.DefaultTransport.(*http.Transport).Clone() // honours HTTPS_PROXY
	v := &oidcVerifier{
		audience: c.Audience, ttl: ttl, refetchEvery: oidcRefetchEvery, now: time.Now,
		issuers: map[string]*issuerKeys{},
		client: &http.Client{Timeout: oidcFetchTimeout, Transport: transport,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 3 {
					return errors.New("more than 3 redirects")
				}
				return secureURL(req.URL)
			}},
	}
	for _, iss := range c.Issuers {
		iss = strings.TrimRight(iss, "/")
		if _, dup := v.issuers[iss]; !dup {
			v.issuers[iss] = &issuerKeys{iss: iss}
			v.names = append(v.names, iss)
		}
	}
	return v
}

// secureURL allows https, and http only to a loopback host (a local test issuer).
func secureURL(u *url.URL) error {
	if u.Scheme == "https" || (u.Scheme == "http" && config.IsLoopbackHost(u.Hostname())) {
		return nil
	}
	return fmt.Errorf("%s must use https (http only for loopback addresses)", u.Redacted())
}

// looksLikeJWT tells a CI identity token from a plain token: three base64url parts, the first a
// JSON object with "alg". A random plain token never is one.
func looksLikeJWT(token string) bool {
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

// oidcClaims are the claims swarm-utils reads. GitHub names the repository "repository" and
// its ref "refs/heads/main"; GitLab names it "project_path" and its ref "main"; both send
// ref_protected as "true"/"false".
type oidcClaims struct {
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
func (c *oidcClaims) repository() string {
	if c.Repository != "" {
		return c.Repository
	}
	return c.ProjectPath
}

func (c *oidcClaims) refProtected() bool {
	v := strings.Trim(strings.TrimSpace(string(c.RefProtected)), `"`)
	return strings.EqualFold(v, "true")
}

func (c *oidcClaims) audiences() ([]string, error) {
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
func (c *oidcClaims) identity() string {
	s := fmt.Sprintf("issuer %s, repository %q", c.Issuer, c.repository())
	if c.Ref != "" {
		s += fmt.Sprintf(", ref %q", c.Ref)
	}
	return s
}

func unauthorized(format string, args ...any) *apiError {
	return errorf(http.StatusUnauthorized, kindUnauthorized, "OIDC token rejected: "+format, args...)
}

// verify checks a CI identity token: from a configured issuer, signed by one of its published
// keys, within its lifetime, for our audience. Errors are 401 with the reason (502 when the
// issuer's keys cannot be fetched); none of them contains the token.
func (v *oidcVerifier) verify(ctx context.Context, token string) (*oidcClaims, *apiError) {
	if len(token) > maxJWTBytes {
		return nil, unauthorized("longer than %d bytes", maxJWTBytes)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, unauthorized("malformed: a JWT has three dot-separated parts")
	}
	rawHeader, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	rawClaims, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, unauthorized("malformed: its parts are not unpadded base64url")
	}
	var header struct {
		Alg  string   `json:"alg"`
		Kid  string   `json:"kid"`
		Crit []string `json:"crit"`
	}
	if err := json.Unmarshal(rawHeader, &header); err != nil {
		return nil, unauthorized("malformed header: %v", err)
	}
	if header.Alg != "RS256" && header.Alg != "ES256" {
		return nil, unauthorized("signed with algorithm %.20q; only RS256 and ES256 are accepted", header.Alg)
	}
	if len(header.Crit) > 0 {
		return nil, unauthorized("its header has critical extensions (crit), which swarm-utils does not know")
	}
	var claims oidcClaims
	if err := json.Unmarshal(rawClaims, &claims); err != nil {
		return nil, unauthorized("malformed claims: %v", err)
	}
	keys := v.issuers[claims.Issuer]
	if keys == nil {
		return nil, unauthorized("issuer (iss) %.120q is not one of SWARM_UTILS_OIDC_ISSUERS (%s)", claims.Issuer, strings.Join(v.names, ", "))
	}

	key, err := keys.key(ctx, v, header.Kid)
	switch {
	case errors.Is(err, errUnknownKey):
		return nil, unauthorized("signed with key id %.80q, which issuer %s does not publish", header.Kid, claims.Issuer)
	case err != nil:
		return nil, errorf(http.StatusBadGateway, kindUnavailable, "cannot verify the OIDC token now: %v", err)
	case key.alg != header.Alg:
		return nil, unauthorized("signed with %s, but issuer %s's key %.80q is an %s key", header.Alg, claims.Issuer, header.Kid, key.alg)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !key.verify(digest[:], sig) {
		return nil, unauthorized("bad signature: it does not verify with issuer %s's key %.80q", claims.Issuer, header.Kid)
	}

	now := v.now()
	at := func(f float64) time.Time { return time.Unix(int64(f), 0).UTC() }
	switch {
	case claims.Expiry == nil:
		return nil, unauthorized("it has no expiry (exp)")
	case now.After(at(*claims.Expiry).Add(oidcLeeway)):
		return nil, unauthorized("expired at %s (%s ago); CI tokens live minutes, request a fresh one in the job",
			at(*claims.Expiry).Format(time.RFC3339), now.Sub(at(*claims.Expiry)).Round(time.Second))
	case claims.NotBefore != nil && now.Add(oidcLeeway).Before(at(*claims.NotBefore)):
		return nil, unauthorized("not valid before %s (nbf)", at(*claims.NotBefore).Format(time.RFC3339))
	case claims.IssuedAt != nil && now.Add(oidcLeeway).Before(at(*claims.IssuedAt)):
		return nil, unauthorized("issued in the future (iat %s): check the clocks", at(*claims.IssuedAt).Format(time.RFC3339))
	}
	auds, err := claims.audiences()
	if err != nil {
		return nil, unauthorized("malformed claims: %v", err)
	}
	if !slices.Contains(auds, v.audience) {
		return nil, unauthorized("wrong audience: aud %.200q does not contain %q (SWARM_UTILS_OIDC_AUDIENCE); request the token for that audience",
			strings.Join(auds, ","), v.audience)
	}
	if claims.repository() == "" {
		return nil, unauthorized("it names no repository (GitHub repository or GitLab project_path claim)")
	}
	return &claims, nil
}

var errUnknownKey = errors.New("unknown key id")

// key returns the issuer's key kid (a token without kid: the issuer's only key). Keys are
// fetched when the cache is empty or older than the TTL; an unknown kid refetches them at
// most every refetchEvery (the issuer rotated its keys), and so does a failed fetch.
func (k *issuerKeys) key(ctx context.Context, v *oidcVerifier, kid string) (verifyKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := v.now()
	refreshed := false
	if k.keys == nil || now.Sub(k.fetched) >= v.ttl {
		if k.err != nil && now.Sub(k.tried) < v.refetchEvery {
			return verifyKey{}, k.err
		}
		if err := k.refresh(ctx, v, now); err != nil {
			return verifyKey{}, err
		}
		refreshed = true
	}
	if key, ok := k.find(kid); ok {
		return key, nil
	}
	if refreshed || now.Sub(k.tried) < v.refetchEvery {
		return verifyKey{}, errUnknownKey
	}
	if err := k.refresh(ctx, v, now); err != nil {
		return verifyKey{}, err
	}
	if key, ok := k.find(kid); ok {
		return key, nil
	}
	return verifyKey{}, errUnknownKey
}

func (k *issuerKeys) find(kid string) (verifyKey, bool) {
	if kid == "" && len(k.keys) == 1 {
		for _, key := range k.keys {
			return key, true
		}
	}
	key, ok := k.keys[kid]
	return key, ok && kid != ""
}

func (k *issuerKeys) refresh(ctx context.Context, v *oidcVerifier, now time.Time) error {
	k.tried = now
	keys, err := v.fetchKeys(ctx, k.iss)
	if err != nil {
		k.err = fmt.Errorf("fetch the signing keys of issuer %s: %w", k.iss, err)
		return k.err
	}
	k.keys, k.fetched, k.err = keys, now, nil
	return nil
}

// fetchKeys reads the issuer's JWKS through its discovery document, or, when there is none,
// from <issuer>/.well-known/jwks (GitHub's location).
func (v *oidcVerifier) fetchKeys(ctx context.Context, iss string) (map[string]verifyKey, error) {
	// A caller that hangs up must not fail the fetch the next callers wait for.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), oidcFetchTimeout)
	defer cancel()
	var discovery struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	jwksURI := ""
	derr := v.getJSON(ctx, iss+"/.well-known/openid-configuration", &discovery)
	switch {
	case derr == nil && strings.TrimRight(discovery.Issuer, "/") != iss:
		return nil, fmt.Errorf("its discovery document names issuer %.120q", discovery.Issuer)
	case derr == nil && discovery.JWKSURI == "":
		derr = errors.New("discovery document without jwks_uri")
	case derr == nil:
		jwksURI = discovery.JWKSURI
	}
	if derr != nil {
		jwksURI = iss + "/.well-known/jwks"
	}
	u, err := url.Parse(jwksURI)
	if err != nil || !u.IsAbs() {
		return nil, fmt.Errorf("jwks_uri %.200q is not an absolute URL", jwksURI)
	}
	if err := secureURL(u); err != nil {
		return nil, fmt.Errorf("jwks_uri: %w", err)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := v.getJSON(ctx, jwksURI, &set); err != nil {
		if derr != nil {
			return nil, fmt.Errorf("discovery: %v; fallback: %w", derr, err)
		}
		return nil, err
	}
	keys := map[string]verifyKey{}
	for _, j := range set.Keys {
		if key, err := j.key(); err == nil {
			keys[j.Kid] = key
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s has no usable RS256 or ES256 signing key", jwksURI)
	}
	return keys, nil
}

func (v *oidcVerifier) getJSON(ctx context.Context, rawURL string, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	res, err := v.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", rawURL, res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxOIDCDocBytes+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", rawURL, err)
	}
	if len(body) > maxOIDCDocBytes {
		return fmt.Errorf("GET %s: larger than %d bytes", rawURL, maxOIDCDocBytes)
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return fmt.Errorf("GET %s: not the expected JSON: %v", rawURL, err)
	}
	return nil
}

// jwk is one key of a JWKS (RFC 7517); only RSA and P-256 signing keys are used.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

func (j jwk) key() (verifyKey, error) {
	if j.Use != "" && j.Use != "sig" {
		return verifyKey{}, errors.New("not a signing key")
	}
	b64 := base64.RawURLEncoding.DecodeString
	switch j.Kty {
	case "RSA":
		if j.Alg != "" && j.Alg != "RS256" {
			return verifyKey{}, errors.New("unsupported alg")
		}
		n, err1 := b64(j.N)
		e, err2 := b64(j.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			return verifyKey{}, errors.New("malformed RSA key")
		}
		exp := 0
		for _, b := range e {
			exp = exp<<8 | int(b)
		}
		mod := new(big.Int).SetBytes(n)
		if exp < 3 || exp%2 == 0 || mod.BitLen() < 2048 {
			return verifyKey{}, errors.New("weak RSA key")
		}
		return verifyKey{alg: "RS256", rsa: &rsa.PublicKey{N: mod, E: exp}}, nil
	case "EC":
		if j.Crv != "P-256" || (j.Alg != "" && j.Alg != "ES256") {
			return verifyKey{}, errors.New("unsupported curve or alg")
		}
		x, err1 := b64(j.X)
		y, err2 := b64(j.Y)
		if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			return verifyKey{}, errors.New("malformed EC key")
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), slices.Concat([]byte{4}, x, y))
		if err != nil {
			return verifyKey{}, err
		}
		return verifyKey{alg: "ES256", ec: pub}, nil
	}
	return verifyKey{}, errors.New("unsupported key type")
}

func (k verifyKey) verify(digest, sig []byte) bool {
	switch {
	case k.rsa != nil:
		return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, digest, sig) == nil
	case k.ec != nil:
		if len(sig) != 64 { // JWS ES256: r and s, 32 bytes each
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(k.ec, digest, r, s)
	}
	return false
}

// match tells whether verified claims satisfy a target's rule for an action (labels
// swarm-utils.<action>.oidc.*). why explains a refusal, but only to the identity whose
// repository the rule names: anyone can get a valid token for their own repository, so the
// labels of targets that are not theirs are not described.
func (v *oidcVerifier) match(rule parse.OIDCRule, c *oidcClaims, base string) (ok bool, why string) {
	repo := c.repository()
	if !slices.ContainsFunc(rule.Repositories, func(r string) bool { return strings.EqualFold(r, repo) }) {
		return false, ""
	}
	switch {
	case rule.Issuer != "" && rule.Issuer != c.Issuer:
		return false, fmt.Sprintf("%s%s names another issuer", base, parse.OIDCIssuerSuffix)
	case rule.Issuer == "" && len(v.issuers) > 1:
		// The same org/app may belong to different people on GitHub and on GitLab.
		return false, fmt.Sprintf("%s%s is not set, and several issuers are configured (SWARM_UTILS_OIDC_ISSUERS): set it to github, gitlab or the issuer URL",
			base, parse.OIDCIssuerSuffix)
	case len(rule.Refs) > 0 && !slices.Contains(rule.Refs, c.Ref):
		return false, fmt.Sprintf("ref %q is not one of %s%s", c.Ref, base, parse.OIDCRefSuffix)
	case rule.RefProtected && !c.refProtected():
		return false, fmt.Sprintf("ref %q is not protected (%s%s=true)", c.Ref, base, parse.OIDCRefProtectedSuffix)
	}
	return true, ""
}
