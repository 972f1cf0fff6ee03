package authz

import (
	"context"
	"fmt"
	"github.com/swarm-utils/swarm-utils/operation"
	"net/http"
	"slices"
	"strings"

	"github.com/swarm-utils/swarm-utils/parse"
)

// verifyOIDC verifies a CI identity token; OIDC switched off is a 401 of its own.
func (a *Authorizer) verifyOIDC(ctx context.Context, token, op string) (*claims, *Error) {
	if a.oidc == nil {
		return nil, errorf(http.StatusUnauthorized, KindUnauthorized,
			"this is an OIDC token (JWT), but OIDC tokens are not accepted: SWARM_UTILS_OIDC_ISSUERS is none")
	}
	c, e := a.oidc.verify(ctx, token)
	if e != nil {
		a.log.Info("oidc token rejected", "operation", op, "reason", e.Msg)
	}
	return c, e
}

// serviceOIDC is Service for a CI identity token: it may run the action on a service whose
// swarm-utils.<action>.oidc.* labels its claims match; it is never admin. As anyone can get a
// valid token for their own repository, an identity that no service names is refused with 403
// whether or not the service exists; one that some service names learns that an unknown
// service is 404.
func (a *Authorizer) serviceOIDC(ctx context.Context, token string, act Action, name string) (parse.Service, *Error) {
	c, e := a.verifyOIDC(ctx, token, act.Op)
	if e != nil {
		return parse.Service{}, e
	}
	svc, err := a.targets.Service(ctx, name)
	found := err == nil
	if err != nil && operation.KindOf(err) != operation.KindNotFound {
		return parse.Service{}, lookupFailed("inspect service "+name, err)
	}
	var why string
	if found {
		var ok bool
		if ok, why = a.oidcMatches(svc.Labels, act, c); ok {
			a.logIdentity("oidc token accepted", act.Op, name, c)
			return svc, nil
		}
	}
	if !found {
		snap, err := a.labels(ctx)
		if snap == nil {
			return parse.Service{}, lookupFailed("check the token against the services' labels", err)
		}
		for _, other := range snap.services {
			if ok, _ := a.oidcMatches(other.Labels, act, c); ok {
				return parse.Service{}, serviceNotFound(name)
			}
		}
	}
	return parse.Service{}, a.oidcForbidden(c, act, "service", name, why)
}

// nodeOIDC is serviceOIDC for clean-node, with the node's swarm-utils.clean.oidc.* labels.
func (a *Authorizer) nodeOIDC(ctx context.Context, token string, act Action, name string) *Error {
	c, e := a.verifyOIDC(ctx, token, act.Op)
	if e != nil {
		return e
	}
	nodes, err := a.targets.Nodes(ctx)
	if err != nil {
		return lookupFailed("list nodes", err)
	}
	var known bool
	for _, n := range nodes {
		ok, _ := a.oidcMatches(n.Labels, act, c)
		known = known || ok
	}
	node, ferr := findNode(nodes, name)
	if ferr != nil {
		if known {
			return ferr
		}
		return a.oidcForbidden(c, act, "node", name, "")
	}
	ok, why := a.oidcMatches(node.Labels, act, c)
	if ok {
		a.logIdentity("oidc token accepted", act.Op, name, c)
		return nil
	}
	return a.oidcForbidden(c, act, "node", name, why)
}

// oidcMatches applies the target's rule for the action; why is set only for the rule's own
// repository.
func (a *Authorizer) oidcMatches(labels map[string]string, act Action, c *claims) (bool, string) {
	base := act.labelBase()
	rule, err := OIDCRuleFromLabels(labels, act.name())
	if err != nil {
		// Bad labels authorise nobody; the repository they name is told why.
		if strings.Contains(strings.ToLower(labelValue(labels, base+OIDCRepositorySuffix)), strings.ToLower(c.repository())) {
			return false, err.Error()
		}
		return false, ""
	}
	return a.match(rule, c, base)
}

// match tells whether verified claims satisfy a target's rule for an action (labels
// swarm-utils.<action>.oidc.*). why explains a refusal, but only to the identity whose
// repository the rule names: anyone can get a valid token for their own repository, so the
// labels of targets that are not theirs are not described.
func (a *Authorizer) match(rule OIDCRule, c *claims, base string) (ok bool, why string) {
	repo := c.repository()
	if !slices.ContainsFunc(rule.Repositories, func(r string) bool { return strings.EqualFold(r, repo) }) {
		return false, ""
	}
	refTypes := rule.RefTypes
	if len(refTypes) == 0 && len(rule.Refs) > 0 {
		refTypes = []string{impliedRefType(c.Ref)}
	}
	switch {
	case rule.Issuer != "" && rule.Issuer != c.Issuer:
		return false, fmt.Sprintf("%s%s names another issuer", base, OIDCIssuerSuffix)
	case rule.Issuer == "" && len(a.oidc.issuers) > 1:
		// The same org/app may belong to different people on GitHub and on GitLab.
		return false, fmt.Sprintf("%s%s is not set, and several issuers are configured (SWARM_UTILS_OIDC_ISSUERS): set it to github, gitlab or the issuer URL",
			base, OIDCIssuerSuffix)
	case len(rule.Refs) > 0 && !slices.Contains(rule.Refs, c.Ref):
		return false, fmt.Sprintf("ref %q is not one of %s%s", c.Ref, base, OIDCRefSuffix)
	case len(refTypes) > 0 && c.refType() == "":
		return false, fmt.Sprintf("the token does not say whether ref %q is a branch or a tag (ref_type %.20q, or it contradicts the ref), and the rule needs a %s",
			c.Ref, c.RefType, strings.Join(refTypes, " or "))
	case len(refTypes) > 0 && !slices.Contains(refTypes, c.refType()):
		return false, fmt.Sprintf("ref %q is a %s, not a %s (%s%s; a bare %s%s means a branch unless %s%s says tag)",
			c.Ref, c.refType(), strings.Join(refTypes, " or "), base, OIDCRefTypeSuffix, base, OIDCRefSuffix, base, OIDCRefTypeSuffix)
	case rule.RefProtected && !c.refProtected():
		return false, fmt.Sprintf("ref %q is not protected (%s%s=true)", c.Ref, base, OIDCRefProtectedSuffix)
	}
	return true, ""
}

func (a *Authorizer) oidcForbidden(c *claims, act Action, kind, name, why string) *Error {
	a.logIdentity("oidc identity not authorised", act.Op, name, c)
	msg := fmt.Sprintf("this CI identity (%s) may not run %s on %s %q: it does not match that %s's %s.oidc.* labels",
		c.identity(), act.Op, kind, name, kind, act.labelBase())
	if why != "" {
		msg += ": " + why
	}
	return errorf(http.StatusForbidden, string(operation.KindForbidden), "%s", msg)
}

// logIdentity logs the token's claims, never the token.
func (a *Authorizer) logIdentity(msg, op, target string, c *claims) {
	a.log.Info(msg, "operation", op, "target", target, "issuer", c.Issuer,
		"repository", c.repository(), "ref", c.Ref, "subject", c.Subject)
}
