// Package authz is who may do what through the API (SPEC §4), in one place: admin tokens, label
// tokens (plain or sha256:-hashed), CI identity tokens (OIDC JWTs, verified with go-oidc)
// matched against a target's swarm-utils.<action>.oidc.* labels, and the image allow-list of
// update-service. It answers with the HTTP status and message of a refusal; it never puts a
// token into an error or a log.
package authz

import (
	"context"
	"fmt"
	"github.com/swarm-utils/swarm-utils/operation"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/parse"
)

// Targets reads the services and nodes whose labels authorise; the API's Targets in production.
type Targets interface {
	// Service returns the service named exactly name; an error of operation.KindNotFound when
	// there is none.
	Service(ctx context.Context, name string) (parse.Service, error)
	Services(ctx context.Context) ([]parse.Service, error)
	Nodes(ctx context.Context) ([]parse.Node, error)
}

// Options configure an Authorizer.
type Options struct {
	Config  config.Config // admin tokens, OIDC issuers and audience, the update defaults
	Targets Targets
	Log     *slog.Logger
	Now     func() time.Time // clock of token lifetimes and key caching; nil: time.Now
}

// Authorizer decides requests. It is safe for concurrent use.
type Authorizer struct {
	cfg     config.Config
	targets Targets
	log     *slog.Logger
	oidc    *verifier // nil: OIDC off
	known   knownCache
}

// New builds an Authorizer; OIDC is off when no issuer is configured.
func New(o Options) *Authorizer {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Authorizer{cfg: o.Config, targets: o.Targets, log: o.Log, oidc: newVerifier(o.Config.OIDC, o.Now)}
}

// Kinds of refusals beyond operation.Kind, for the errorKind field of error bodies.
const (
	KindUnauthorized = "unauthorized"
	KindUnavailable  = "unavailable"
)

// Error is a refusal: its HTTP status, errorKind and message. When a lookup of the targets
// failed, Err is that error and Msg says what was being done; its Kind decides the status.
type Error struct {
	Status int
	Kind   string
	Msg    string
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func errorf(status int, kind, format string, args ...any) *Error {
	return &Error{Status: status, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

func lookupFailed(what string, err error) *Error { return &Error{Msg: what, Err: err} }

// Action is one token-guarded action: the operation's name (for messages and logs) and the
// label holding its token.
type Action struct {
	Op         string
	TokenLabel string
}

// labelBase is swarm-utils.<action> of the token label (swarm-utils.clean.token → swarm-utils.clean).
func (a Action) labelBase() string { return strings.TrimSuffix(a.TokenLabel, ".token") }

// name is the action's word in its labels: clean, backup or update.
func (a Action) name() string { return strings.TrimPrefix(a.labelBase(), parse.LabelPrefix) }

// Admin tells whether token is one of SWARM_UTILS_ADMIN_TOKEN_LIST.
func (a *Authorizer) Admin(token string) bool { return Any(token, a.cfg.AdminTokens) }

// Service applies SPEC §4 to an action on a service: admin tokens may act on any service;
// another token only on the service whose label for this action equals it; a CI identity
// token on a service whose labels its claims match. An unknown token is 401, a known token of
// another service 403, an unknown service 404 (told only to callers with a known token).
// Whether the action is enabled is the operation's own check (404). It returns the service
// (zero when refused) and whether the token is an admin token.
func (a *Authorizer) Service(ctx context.Context, token string, act Action, name string) (parse.Service, bool, *Error) {
	admin := a.Admin(token)
	if !admin && LooksLikeJWT(token) {
		svc, e := a.serviceOIDC(ctx, token, act, name)
		return svc, false, e
	}
	svc, err := a.targets.Service(ctx, name)
	found := err == nil
	if err != nil && operation.KindOf(err) != operation.KindNotFound {
		return parse.Service{}, false, lookupFailed("inspect service "+name, err)
	}
	if admin {
		if !found {
			return parse.Service{}, true, serviceNotFound(name)
		}
		return svc, true, nil
	}
	if found && Equal(token, labelValue(svc.Labels, act.TokenLabel)) {
		return svc, false, nil
	}
	known, err := a.serviceTokenKnown(ctx, act.TokenLabel, token)
	if err != nil {
		return parse.Service{}, false, lookupFailed("check the token against the services' labels", err)
	}
	switch {
	case !known:
		return parse.Service{}, false, errorf(http.StatusUnauthorized, KindUnauthorized,
			"unknown token for %s: it is neither an admin token nor any service's %s", act.Op, act.TokenLabel)
	case !found:
		return parse.Service{}, false, serviceNotFound(name)
	}
	return parse.Service{}, false, errorf(http.StatusForbidden, string(operation.KindForbidden),
		"this token may not run %s on service %q: it is not that service's %s label (one token per service and action)", act.Op, name, act.TokenLabel)
}

// Node is Service for clean-node, with the node label swarm-utils.clean.token; name is the
// node's hostname or ID.
func (a *Authorizer) Node(ctx context.Context, token string, act Action, name string) *Error {
	admin := a.Admin(token)
	if !admin && LooksLikeJWT(token) {
		return a.nodeOIDC(ctx, token, act, name)
	}
	nodes, err := a.targets.Nodes(ctx)
	if err != nil {
		return lookupFailed("list nodes", err)
	}
	var node *parse.Node
	tokens := make([]string, 0, len(nodes))
	for i, n := range nodes {
		if n.Hostname == name || n.ID == name {
			node = &nodes[i]
		}
		tokens = append(tokens, labelValue(n.Labels, act.TokenLabel))
	}
	switch {
	case admin && node != nil:
		return nil
	case !admin && node != nil && Equal(token, labelValue(node.Labels, act.TokenLabel)):
		return nil
	case !admin && !Any(token, tokens):
		return errorf(http.StatusUnauthorized, KindUnauthorized,
			"unknown token for %s: it is neither an admin token nor any node's %s label", act.Op, act.TokenLabel)
	case node == nil:
		return nodeNotFound(name)
	}
	return errorf(http.StatusForbidden, string(operation.KindForbidden),
		"this token may not run %s on node %q: it is not that node's %s label", act.Op, name, act.TokenLabel)
}

func serviceNotFound(name string) *Error {
	return errorf(http.StatusNotFound, string(operation.KindNotFound), "service %q not found (names are exact: stack_service)", name)
}

func nodeNotFound(name string) *Error {
	return errorf(http.StatusNotFound, string(operation.KindNotFound), "node %q not found (use its exact hostname or ID)", name)
}

// serviceTokenKnown tells whether token is some service's token for the action.
func (a *Authorizer) serviceTokenKnown(ctx context.Context, tokenLabel, token string) (bool, error) {
	svcs, err := a.servicesForAuth(ctx)
	if err != nil {
		return false, err
	}
	tokens := make([]string, 0, len(svcs))
	for _, svc := range svcs {
		tokens = append(tokens, labelValue(svc.Labels, tokenLabel))
	}
	return Any(token, tokens), nil
}

// KnownServiceToken tells whether token is one of some service's action tokens (clean, backup
// or update); a failed lookup counts as no.
func (a *Authorizer) KnownServiceToken(ctx context.Context, token string) bool {
	svcs, err := a.servicesForAuth(ctx)
	if err != nil {
		return false
	}
	for _, svc := range svcs {
		for _, label := range []string{LabelCleanToken, LabelBackupToken, LabelUpdateToken} {
			if Equal(token, labelValue(svc.Labels, label)) {
				return true
			}
		}
	}
	return false
}

// KnownNodeToken tells whether token is some node's clean token; a failed lookup counts as no.
func (a *Authorizer) KnownNodeToken(ctx context.Context, token string) bool {
	nodes, err := a.targets.Nodes(ctx)
	if err != nil {
		return false
	}
	for _, n := range nodes {
		if Equal(token, labelValue(n.Labels, LabelNodeCleanToken)) {
			return true
		}
	}
	return false
}

// knownCache keeps the service list that tells an unknown token (401) from another service's
// token (403) for a few seconds, so that a stream of bad tokens does not become a stream of
// `docker service inspect` of every service. The target itself is always read fresh.
type knownCache struct {
	mu   sync.Mutex
	at   time.Time
	svcs []parse.Service
}

const knownCacheTTL = 3 * time.Second

func (a *Authorizer) servicesForAuth(ctx context.Context) ([]parse.Service, error) {
	a.known.mu.Lock()
	defer a.known.mu.Unlock()
	if a.known.svcs != nil && time.Since(a.known.at) < knownCacheTTL {
		return a.known.svcs, nil
	}
	svcs, err := a.targets.Services(ctx)
	if err != nil {
		return nil, err
	}
	a.known.svcs, a.known.at = svcs, time.Now()
	return svcs, nil
}
