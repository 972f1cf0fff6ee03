package authz

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/swarm-utils/swarm-utils/parse"
)

// Token labels: the one token per target and action that may run the action on it (SPEC §4).
// The node label shares its name with the service's clean token; it is read from the node.
const (
	LabelCleanToken  = parse.LabelPrefix + "clean.token"
	LabelBackupToken = parse.LabelPrefix + "backup.token"
	LabelUpdateToken = parse.LabelPrefix + "update.token"
	// LabelRestoreToken may restore the service; without it only admin tokens may.
	LabelRestoreToken   = parse.LabelPrefix + "restore.token"
	LabelNodeCleanToken = parse.LabelPrefix + "clean.token"
)

// Label tokens may be stored as the token's SHA-256 instead of the token, so reading the labels
// does not reveal it: `sha256:` followed by 64 hex digits, e.g. from
// `printf %s "$TOKEN" | sha256sum`.
const TokenHashPrefix = "sha256:"

// TokenHash returns the digest of a label token written as sha256:<hex>; hashed is false for a
// plain token. A value that starts with sha256: but is not 64 hex digits is malformed (ok
// false): it matches no token (it is never compared as a plain token either).
func TokenHash(value string) (digest [32]byte, hashed, ok bool) {
	if len(value) < len(TokenHashPrefix) || !strings.EqualFold(value[:len(TokenHashPrefix)], TokenHashPrefix) {
		return digest, false, false
	}
	h := value[len(TokenHashPrefix):]
	if len(h) != 2*len(digest) {
		return digest, true, false
	}
	if _, err := hex.Decode(digest[:], []byte(h)); err != nil {
		return [32]byte{}, true, false
	}
	return digest, true, true
}

// CheckTokenLabel reports a malformed hashed token in the label; the value is never put into
// the error.
func CheckTokenLabel(labels map[string]string, label string) error {
	if _, hashed, ok := TokenHash(labelValue(labels, label)); hashed && !ok {
		return fmt.Errorf("label %s: a hashed token must be %s followed by the 64 hex digits of the token's SHA-256", label, TokenHashPrefix)
	}
	return nil
}

// MaxTokenBytes bounds a presented token: longer ones are refused (401) before anything hashes
// them. Label and admin tokens are short; CI identity tokens (JWTs) are 1-2 KiB.
const MaxTokenBytes = 4 << 10

// Digest is a token's SHA-256.
type Digest [32]byte

// Token is a presented token with its digest, computed once per request: every comparison with
// a configured token compares digests.
type Token struct {
	Raw    string
	Digest Digest
}

// NewToken hashes raw once.
func NewToken(raw string) Token { return Token{Raw: raw, Digest: sha256.Sum256([]byte(raw))} }

// configuredDigest is the digest a configured token (an admin entry or a label) is matched by:
// a "sha256:<64 hex>" value is the digest itself, any other value is hashed. ok is false for an
// empty or malformed value, which matches nothing.
func configuredDigest(configured string) (Digest, bool) {
	if configured == "" {
		return Digest{}, false
	}
	if digest, hashed, ok := TokenHash(configured); hashed {
		return digest, ok
	}
	return sha256.Sum256([]byte(configured)), true
}

// digests precomputes the digests of configured tokens, dropping empty and malformed ones.
func digests(configured []string) []Digest {
	out := make([]Digest, 0, len(configured))
	for _, c := range configured {
		if d, ok := configuredDigest(strings.TrimSpace(c)); ok {
			out = append(out, d)
		}
	}
	return out
}

// Matches tells whether the token matches a configured one (see Equal); it hashes only the
// configured value. An empty token never matches.
func (t Token) Matches(configured string) bool {
	d, ok := configuredDigest(configured)
	return ok && t.Raw != "" && subtle.ConstantTimeCompare(t.Digest[:], d[:]) == 1
}

// in tells whether the token's digest is one of list; it compares with every entry in constant
// time, so the time taken does not tell which one matched.
func (t Token) in(list []Digest) bool {
	if t.Raw == "" {
		return false
	}
	found := 0
	for i := range list {
		found |= subtle.ConstantTimeCompare(t.Digest[:], list[i][:])
	}
	return found == 1
}

// Equal tells whether the presented token given matches a configured one (a label's or an
// admin token). A configured "sha256:<64 hex>" is the token's SHA-256: it matches the token
// whose digest it is, never its own text; a malformed one matches nothing. Digests are
// compared, so neither the length nor a common prefix of a configured token leaks through
// timing; an empty token never matches. Callers comparing one token with many use Token.
func Equal(given, configured string) bool { return NewToken(given).Matches(configured) }

// Any tells whether given equals one of list, hashing given once.
func Any(given string, list []string) bool { return NewToken(given).in(digests(list)) }

// samePlain compares two presented tokens (body and header) as text, in constant time.
func samePlain(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// FromRequest returns the request's token: the body's "token" field or an
// "Authorization: Bearer" header. Both may be sent only when they agree.
func FromRequest(r *http.Request, bodyToken string) (string, *Error) {
	header := strings.TrimSpace(r.Header.Get("Authorization"))
	var bearer string
	if scheme, value, ok := strings.Cut(header, " "); ok && strings.EqualFold(scheme, "Bearer") {
		bearer = strings.TrimSpace(value)
	}
	if len(bearer) > MaxTokenBytes || len(bodyToken) > MaxTokenBytes {
		return "", errorf(http.StatusUnauthorized, KindUnauthorized, "token longer than %d bytes: no swarm-utils token is", MaxTokenBytes)
	}
	switch {
	case bearer != "" && bodyToken != "" && !samePlain(bearer, bodyToken):
		return "", errorf(http.StatusBadRequest, "invalid", "the body's token and the Authorization header's token differ: send one of them")
	case bearer != "":
		return bearer, nil
	case bodyToken != "":
		return bodyToken, nil
	case header != "":
		// Another scheme (e.g. a proxy's Basic auth) is not ours; it only matters with no token.
		return "", errorf(http.StatusUnauthorized, KindUnauthorized, "no token: the Authorization header is not \"Bearer <token>\" and the body has no \"token\"")
	}
	return "", errorf(http.StatusUnauthorized, KindUnauthorized, "no token: send it in the JSON field \"token\" or as \"Authorization: Bearer <token>\"")
}

func labelValue(labels map[string]string, key string) string { return strings.TrimSpace(labels[key]) }
