package jobs

import (
	"context"
	"slices"

	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// instanceSwarm is the cluster as one instance sees it (SPEC §11): a service of another
// instance (label swarm-utils.instance; none = default) is not found, so that every job, the
// API (404), the cron and the listings skip it alike. Helpers are the engine's business: they
// pass, and recovery tells them apart by their own label.
type instanceSwarm struct {
	swarm.Swarm
	instance string
}

func (s instanceSwarm) mine(svc parse.Service) bool {
	return svc.Labels[helper.LabelHelper] == "true" || parse.InstanceOf(svc.Labels) == s.instance
}

func (s instanceSwarm) Service(ctx context.Context, name string) (parse.Service, error) {
	svc, err := s.Swarm.Service(ctx, name)
	if err == nil && !s.mine(svc) {
		return parse.Service{}, operation.Errorf(operation.KindNotFound, "service %q not found (among the services of swarm-utils instance %q)", name, s.instance)
	}
	return svc, err
}

func (s instanceSwarm) InspectServices(ctx context.Context, ids []string) ([]parse.Service, error) {
	svcs, err := s.Swarm.InspectServices(ctx, ids)
	return slices.DeleteFunc(svcs, func(svc parse.Service) bool { return !s.mine(svc) }), err
}

func (s instanceSwarm) Nodes(ctx context.Context) ([]parse.Node, error) {
	nodes, err := s.Swarm.Nodes(ctx)
	return slices.DeleteFunc(nodes, func(n parse.Node) bool { return parse.InstanceOf(n.Labels) != s.instance }), err
}
