package backup

import (
	"slices"
	"sort"
	"strings"

	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// volume is one configured volume: Entry as written in the label (the folder in the archive,
// backup/<Entry>/...), Source the docker volume the service mounts.
type volume struct{ Entry, Source string }

// taskNode is a node that runs at least one task of the target service.
type taskNode struct{ ID, Name string }

// volumesOf maps the configured names to the service's volume mounts: an entry v matches a
// mount of type volume whose source is v, or <stack>_v for a stack-deployed service.
func volumesOf(svc parse.Service, entries []string) ([]volume, error) {
	stack := svc.Labels[labelStackNamespace]
	var mounted []string
	for _, m := range svc.Mounts {
		if m.Type == "volume" && m.Source != "" {
			mounted = append(mounted, m.Source)
		}
	}
	var vols []volume
	var unknown []string
	for _, e := range entries {
		src := ""
		for _, m := range mounted {
			if m == e || (stack != "" && m == stack+"_"+e) {
				src = m
				break
			}
		}
		switch {
		case src == "":
			unknown = append(unknown, e)
		case !slices.ContainsFunc(vols, func(v volume) bool { return v.Source == src }):
			vols = append(vols, volume{Entry: e, Source: src})
		}
	}
	if len(unknown) > 0 {
		have := "none"
		if len(mounted) > 0 {
			have = strings.Join(mounted, ", ")
		}
		return nil, operation.Errorf(operation.KindConfig, "service %s: label %s names %s, which the service does not mount as a named volume (its volume mounts: %s)",
			svc.Name, parse.LabelBackupVolumes, strings.Join(unknown, ", "), have)
	}
	return vols, nil
}

// nodesOf returns the distinct nodes of tasks, by hostname.
func nodesOf(tasks []swarm.RunningTask) []taskNode {
	seen := map[string]bool{}
	var nodes []taskNode
	for _, t := range tasks {
		if !seen[t.NodeID] {
			seen[t.NodeID] = true
			nodes = append(nodes, taskNode{ID: t.NodeID, Name: t.Node})
		}
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	return nodes
}
