package swarm

import (
	"strings"

	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
)

// FindNode picks the node named exactly name among nodes: its ID, or a hostname that only one
// node has (cloned VMs share hostnames; acting on one of them by chance would be wrong), among
// the nodes of instance only ("" = every node). KindNotFound when none; KindInvalid naming the
// IDs to use when the hostname is ambiguous.
func FindNode(nodes []parse.Node, name, instance string) (parse.Node, error) {
	var byHost []parse.Node
	for _, n := range nodes {
		if instance != "" && parse.InstanceOf(n.Labels) != instance {
			continue
		}
		if n.ID == name {
			return n, nil
		}
		if n.Hostname == name {
			byHost = append(byHost, n)
		}
	}
	switch len(byHost) {
	case 0:
		return parse.Node{}, operation.Errorf(operation.KindNotFound, "node %q not found", name)
	case 1:
		return byHost[0], nil
	}
	ids := make([]string, len(byHost))
	for i, n := range byHost {
		ids[i] = n.ID
	}
	return parse.Node{}, operation.Errorf(operation.KindInvalid, "hostname %q names %d nodes: use one of their node IDs instead: %s", name, len(byHost), strings.Join(ids, ", "))
}
