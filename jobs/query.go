package jobs

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/jobs/restore"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
)

// Read helpers for the API and the cron: they only inspect, never change the cluster.

// Service returns the service named exactly name; KindNotFound when there is none, KindInvalid
// for a name no service can have.
func (d *Deps) Service(ctx context.Context, name string) (parse.Service, error) {
	d.wire() // the instance's view of the cluster
	return d.cluster.Service(ctx, name)
}

// Services returns every service of the swarm except swarm-utils' own helpers, by name.
func (d *Deps) Services(ctx context.Context) ([]parse.Service, error) {
	d.wire() // the instance's view of the cluster
	ids, err := d.cluster.ServiceIDs(ctx)
	if err != nil {
		return nil, err
	}
	return d.inspectServices(ctx, ids)
}

// EnabledServices returns the names of the services whose label (e.g. swarm-utils.clean.enable)
// is true, read as the label parser reads it (any case, spaces trimmed), sorted. Helpers are
// never included.
func (d *Deps) EnabledServices(ctx context.Context, label string) ([]string, error) {
	d.wire() // the instance's view of the cluster
	// The filter only narrows the inspect to services that carry the label at all; the value
	// is judged here so that "True" counts exactly as it does for the pipelines.
	rows, err := d.cluster.ListServices(ctx, label)
	if err != nil {
		return nil, fmt.Errorf("list services labelled %s: %w", label, err)
	}
	ids := make([]string, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	svcs, err := d.inspectServices(ctx, ids)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range svcs {
		if v, ok := s.Labels[label]; ok && strings.EqualFold(strings.TrimSpace(v), "true") {
			names = append(names, s.Name)
		}
	}
	return names, nil
}

// inspectServices inspects the services with the given IDs, drops helpers and sorts by name.
// A service removed between the list and the inspect is skipped, not an error.
func (d *Deps) inspectServices(ctx context.Context, ids []string) ([]parse.Service, error) {
	if len(ids) == 0 {
		return []parse.Service{}, nil
	}
	svcs, err := d.cluster.InspectServices(ctx, ids)
	if err != nil {
		return nil, err
	}
	svcs = slices.DeleteFunc(svcs, func(s parse.Service) bool { return s.Labels[helper.LabelHelper] == "true" })
	if svcs == nil {
		svcs = []parse.Service{}
	}
	slices.SortFunc(svcs, func(a, b parse.Service) int { return strings.Compare(a.Name, b.Name) })
	return svcs, nil
}

// Nodes returns every node of the swarm with its labels and state.
func (d *Deps) Nodes(ctx context.Context) ([]parse.Node, error) {
	d.wire() // the instance's view of the cluster
	nodes, err := d.cluster.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	if nodes == nil {
		nodes = []parse.Node{}
	}
	slices.SortFunc(nodes, func(a, b parse.Node) int { return strings.Compare(a.Hostname, b.Hostname) })
	return nodes, nil
}

// Ping checks that docker answers and that the node it talks to is an active swarm manager,
// which every pipeline needs (service and node commands only work on managers).
func (d *Deps) Ping(ctx context.Context) error {
	d.wire()
	swarm, err := d.cluster.Info(ctx)
	if err != nil {
		return err
	}
	switch {
	case swarm.Error != "":
		return operation.Errorf(operation.KindDocker, "docker info: swarm error: %s", swarm.Error)
	case swarm.LocalNodeState != "active":
		return operation.Errorf(operation.KindImpossible, "docker's node is not in an active swarm (state %q): run swarm-utils on a swarm manager", swarm.LocalNodeState)
	case !swarm.ControlAvailable:
		return operation.Errorf(operation.KindImpossible, "docker's node is a swarm worker, not a manager: run swarm-utils on a manager")
	}
	return nil
}

// Backups lists the archives of the service named exactly name in its S3 location (label
// overrides honoured), newest first (SPEC §10's catalogue).
func (d *Deps) Backups(ctx context.Context, name string) ([]restore.Archive, error) {
	return d.catalogue().List(ctx, name)
}

// BackupsOf is the bounded catalogue of a service already read (restore.MaxListed newest).
func (d *Deps) BackupsOf(ctx context.Context, svc parse.Service) (restore.Listing, error) {
	return d.catalogue().ListingOf(ctx, svc)
}

// BackupListing is BackupsOf of the service named exactly name.
func (d *Deps) BackupListing(ctx context.Context, name string) (restore.Listing, error) {
	svc, err := d.Service(ctx, name)
	if err != nil {
		return restore.Listing{}, err
	}
	return d.BackupsOf(ctx, svc)
}

func (d *Deps) catalogue() *restore.Catalogue {
	d.wire()
	return &restore.Catalogue{Swarm: d.cluster, Store: d.backupStore(), Config: d.Config}
}
