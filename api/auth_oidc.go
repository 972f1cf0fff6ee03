package api

import (
	"context"
	"fmt"
	"github.com/swarm-utils/swarm-utils/operation"
	"net/http"
	"strings"

	"github.com/swarm-utils/swarm-utils/parse"
)

// oidcLabelBase is swarm-utils.<action> of a token label (swarm-utils.clean.token → swarm-utils.clean).
func oidcLabelBase(tokenLabel string) string { return strings.TrimSuffix(tokenLabel, ".token") }

func oidcAction(tokenLabel string) string {
	return strings.TrimPrefix(oidcLabelBase(tokenLabel), parse.LabelPrefix)
}

// oidcMatches applies the labels' rule; why is set only for the rule's own repository.
func (s *Server) oidcMatches(labels map[string]string, tokenLabel string, c *oidcClaims) (bool, string) {
	base := oidcLabelBase(tokenLabel)
	rule, err := parse.OIDCRuleFromLabels(labels, oidcAction(tokenLabel))
	if err != nil {
		// Bad labels authorise nobody; the repository they name is told why.
		if strings.Contains(strings.ToLower(labelValue(labels, base+parse.OIDCRepositorySuffix)), strings.ToLower(c.repository())) {
			return false, err.Error()
		}
		return false, ""
	}
	return s.oidc.match(rule, c, base)
}

// verifyOIDC verifies a CI identity token; OIDC switched off is a 401 of its own.
func (s *Server) verifyOIDC(ctx context.Context, token, op string) (*oidcClaims, *apiError) {
	if s.oidc == nil {
		return nil, errorf(http.StatusUnauthorized, kindUnauthorized,
			"this is an OIDC token (JWT), but OIDC tokens are not accepted: SWARM_UTILS_OIDC_ISSUERS is none")
	}
	c, e := s.oidc.verify(ctx, token)
	if e != nil {
		s.log.Info("oidc token rejected", "operation", op, "reason", e.Msg)
	}
	return c, e
}

// authorizeServiceOIDC is authorizeService for a CI identity token: it may run the action on a
// service whose swarm-utils.<action>.oidc.* labels its claims match; it is never admin. As
// anyone can get a valid token for their own repository, an identity that no service names is
// refused with 403 whether or not the service exists; one that some service names learns that
// an unknown service is 404.
func (s *Server) authorizeServiceOIDC(ctx context.Context, token string, a serviceAction, name string) (parse.Service, bool, *apiError) {
	claims, e := s.verifyOIDC(ctx, token, a.op)
	if e != nil {
		return parse.Service{}, false, e
	}
	svc, err := s.targets.Service(ctx, name)
	found := err == nil
	if err != nil && operation.KindOf(err) != operation.KindNotFound {
		return parse.Service{}, false, fromErr("inspect service "+name, err)
	}
	var why string
	if found {
		var ok bool
		if ok, why = s.oidcMatches(svc.Labels, a.tokenLabel, claims); ok {
			s.log.Info("oidc token accepted", "operation", a.op, "target", name, "issuer", claims.Issuer,
				"repository", claims.repository(), "ref", claims.Ref, "subject", claims.Subject)
			return svc, false, nil
		}
	}
	if !found {
		svcs, err := s.servicesForAuth(ctx)
		if err != nil {
			return parse.Service{}, false, fromErr("check the token against the services' labels", err)
		}
		for _, other := range svcs {
			if ok, _ := s.oidcMatches(other.Labels, a.tokenLabel, claims); ok {
				return parse.Service{}, false, errorf(http.StatusNotFound, string(operation.KindNotFound), "service %q not found (names are exact: stack_service)", name)
			}
		}
	}
	return parse.Service{}, false, s.oidcForbidden(claims, a.op, "service", name, oidcLabelBase(a.tokenLabel), why)
}

// authorizeNodeOIDC is authorizeServiceOIDC for clean-node, with the node's
// swarm-utils.clean.oidc.* labels.
func (s *Server) authorizeNodeOIDC(ctx context.Context, token, name string) *apiError {
	claims, e := s.verifyOIDC(ctx, token, OpCleanNode)
	if e != nil {
		return e
	}
	nodes, err := s.targets.Nodes(ctx)
	if err != nil {
		return fromErr("list nodes", err)
	}
	var (
		node  *parse.Node
		known bool
		why   string
	)
	for i, n := range nodes {
		ok, w := s.oidcMatches(n.Labels, parse.LabelNodeCleanToken, claims)
		known = known || ok
		if n.Hostname == name || n.ID == name {
			node, why = &nodes[i], w
			if ok {
				s.log.Info("oidc token accepted", "operation", OpCleanNode, "target", name, "issuer", claims.Issuer,
					"repository", claims.repository(), "ref", claims.Ref, "subject", claims.Subject)
				return nil
			}
		}
	}
	if node == nil && known {
		return errorf(http.StatusNotFound, string(operation.KindNotFound), "node %q not found (use its exact hostname or ID)", name)
	}
	return s.oidcForbidden(claims, OpCleanNode, "node", name, oidcLabelBase(parse.LabelNodeCleanToken), why)
}

func (s *Server) oidcForbidden(c *oidcClaims, op, kind, name, base, why string) *apiError {
	s.log.Info("oidc identity not authorised", "operation", op, "target", name, "issuer", c.Issuer,
		"repository", c.repository(), "ref", c.Ref, "subject", c.Subject)
	msg := fmt.Sprintf("this CI identity (%s) may not run %s on %s %q: it does not match that %s's %s.oidc.* labels",
		c.identity(), op, kind, name, kind, base)
	if why != "" {
		msg += ": " + why
	}
	return errorf(http.StatusForbidden, string(operation.KindForbidden), "%s", msg)
}
