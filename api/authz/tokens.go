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
	LabelCleanToken     = parse.LabelPrefix + "clean.token"
	LabelBackupToken    = parse.LabelPrefix + "backup.token"
	LabelUpdateToken    = parse.LabelPrefix + "update.token"
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

// Equal tells whether the presented token given matches a configured one (a label's or an
// admin token). A configured "sha256:<64 hex>" is the token's SHA-256: it matches the token
// whose digest it is, never its own text; a malformed one matches nothing. Both sides are
// hashed first, so neither the length nor a common prefix of a configured token leaks through
// timing; an empty token never matches.
func Equal(given, configured string) bool {
	if configured == "" || given == "" {
		return false
	}
	a := sha256.Sum256([]byte(given))
	if digest, hashed, ok := TokenHash(configured); hashed {
		return ok && subtle.ConstantTimeCompare(a[:], digest[:]) == 1
	}
	b := sha256.Sum256([]byte(configured))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// Any tells whether given equals one of list; it compares with every entry, so the time taken
// does not tell which one matched.
func Any(given string, list []string) bool {
	found := 0
	for _, t := range list {
		if Equal(given, t) {
			found = 1
		}
	}
	return found == 1
}

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
