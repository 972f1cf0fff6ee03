package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/swarm-utils/swarm-utils/parse"
)

// tokenFrom returns the request's token: the body's "token" field or an
// "Authorization: Bearer" header. Both may be sent only when they agree.
func tokenFrom(r *http.Request, bodyToken string) (string, *apiError) {
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
		return "", errorf(http.StatusUnauthorized, kindUnauthorized, "no token: the Authorization header is not \"Bearer <token>\" and the body has no \"token\"")
	}
	return "", errorf(http.StatusUnauthorized, kindUnauthorized, "no token: send it in the JSON field \"token\" or as \"Authorization: Bearer <token>\"")
}

// equalToken tells whether the presented token given matches a configured one (a label's or an
// admin token). A configured "sha256:<64 hex>" is the token's SHA-256, so that labels need not
// reveal tokens: it matches the token whose digest it is, never its own text; a malformed one
// matches nothing. It compares in constant time: both sides are hashed first so that neither
// the length nor a common prefix of a configured token leaks through timing; an empty
// configured token never matches.
func equalToken(given, configured string) bool {
	if configured == "" || given == "" {
		return false
	}
	a := sha256.Sum256([]byte(given))
	if digest, hashed, ok := parse.TokenHash(configured); hashed {
		return ok && subtle.ConstantTimeCompare(a[:], digest[:]) == 1
	}
	b := sha256.Sum256([]byte(configured))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// samePlain compares two presented tokens (body and header) as text, in constant time.
func samePlain(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// anyToken tells whether given equals one of list; it compares with every entry, so the time
// taken does not tell which one matched.
func anyToken(given string, list []string) bool {
	found := 0
	for _, t := range list {
		if equalToken(given, t) {
			found = 1
		}
	}
	return found == 1
}
