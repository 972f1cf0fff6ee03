// Package volumes lists every node's local volumes (the README's idea 18): whether any
// container uses each and its size, from `docker system df -v` on each node — in a helper
// pinned to the node, or directly on the manager — on all nodes in parallel. Each node's listing
// runs under that node's lock, as clean-node does, so a listing never races a prune there.
package volumes

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
)

// Op names the listing in results, logs, locks and helper names.
const Op = "volumes"

// Timeout is how long one node's listing may take: docker measures every volume's size by
// walking it, which takes a while on big volumes.
const Timeout = 2 * time.Minute

// Swarm is what the listing reads from the cluster; the helper engine does the rest.
type Swarm interface {
	Nodes(ctx context.Context) ([]parse.Node, error)
	LocalNodeID(ctx context.Context) (string, error)
}

// Job lists volumes.
type Job struct {
	Swarm   Swarm
	Helpers *helper.Engine
	Ops     *operation.Runner
	Config  config.Config
}

// Listing is the answer: per node its local volumes.
type Listing struct {
	OK         bool   `json:"ok"`
	UnusedOnly bool   `json:"unusedOnly"`
	Nodes      []Node `json:"nodes"`
}

// Node is one node's volumes. Total counts every volume listed there, also those --unused
// leaves out.
type Node struct {
	Node    string   `json:"node"`
	NodeID  string   `json:"nodeId"`
	OK      bool     `json:"ok"`
	Error   string   `json:"error,omitempty"`
	Total   int      `json:"total"`
	Volumes []Volume `json:"volumes"`
	// Cut: the node has more volumes than one listing keeps (the helper's output is bounded
	// to its tail); those before the cut are not shown.
	Cut bool `json:"cut,omitempty"`
}

// Volume is one local volume.
type Volume struct {
	Name       string `json:"name"`
	Driver     string `json:"driver"`
	InUse      bool   `json:"inUse"`      // a container (running or stopped) uses it
	Containers int    `json:"containers"` // how many; -1 when docker did not say
	Size       string `json:"size"`       // as docker prints it
	SizeBytes  int64  `json:"sizeBytes"`  // -1 when unknown
}

// List lists the volumes of every node of this instance, in parallel; with unusedOnly only
// those no container uses. A node that is down or drained (and not the one swarm-utils runs
// on) is reported, not waited on.
func (j *Job) List(ctx context.Context, unusedOnly bool) Listing {
	out := Listing{OK: true, UnusedOnly: unusedOnly, Nodes: []Node{}}
	nodes, err := j.Swarm.Nodes(ctx)
	if err != nil {
		return Listing{UnusedOnly: unusedOnly, Nodes: []Node{{Node: "*", Error: fmt.Sprintf("list the nodes: %v", err)}}}
	}
	local, _ := j.Swarm.LocalNodeID(ctx) // unknown: every node needs a helper
	out.Nodes = make([]Node, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { out.Nodes[i] = j.node(ctx, n, n.ID == local, unusedOnly) })
	}
	wg.Wait()
	for _, n := range out.Nodes {
		out.OK = out.OK && n.OK
	}
	slices.SortFunc(out.Nodes, func(a, b Node) int { return strings.Compare(a.Node, b.Node) })
	return out
}

func (j *Job) node(ctx context.Context, n parse.Node, local, unusedOnly bool) Node {
	res := Node{Node: n.Hostname, NodeID: n.ID, Volumes: []Volume{}}
	switch {
	case n.State != "ready":
		res.Error = fmt.Sprintf("node %s is %s, not ready: not listed", n.Hostname, n.State)
		return res
	case n.Availability != "active" && !local:
		res.Error = fmt.Sprintf("node %s is %s: no helper can run there", n.Hostname, n.Availability)
		return res
	}
	var logs string
	r := j.Ops.Run(ctx, Op, n.Hostname, operation.LockKeyNode(n.ID), func(context.Context) (operation.Plan, error) {
		return operation.Plan{
			Budget: Timeout + j.Config.Timeouts.Pending,
			Do: func(ctx context.Context, r *operation.Result) error {
				started := time.Now()
				h := j.Helpers.Run(ctx, helper.Spec{
					Action: Op, LockKey: operation.LockKeyNode(n.ID), Target: n.ID, Step: "list",
					NodeID: n.ID, NodeName: n.Hostname, Image: j.Config.DockerCLIImage, Socket: true, Direct: true, Timeout: Timeout,
					Args: []string{"docker", "system", "df", "-v", "--format", parse.VolumeUsageFormat},
				})
				st := h.Step("list", n.Hostname, started)
				if st.OK {
					st.Tasks[0].Logs = "" // the rows are the answer
				} else if out := strings.TrimSpace(st.Tasks[0].Logs); out != "" {
					st.Error += ": " + lastLine(out) // docker's own reason (masked)
				}
				r.Steps = append(r.Steps, st)
				logs = h.Logs
				return nil
			},
		}, nil
	})
	if !r.OK {
		res.Error = r.Error
		return res
	}
	rows, _ := parse.VolumeUsageRows(logs)
	res.OK, res.Total, res.Cut = true, len(rows), strings.HasPrefix(logs, "[… ") // bashexec's cut note
	for _, v := range rows {
		if unusedOnly && v.Links != 0 {
			continue // in use, or docker could not tell: not offered as unused
		}
		res.Volumes = append(res.Volumes, Volume{Name: v.Name, Driver: v.Driver, InUse: v.Links > 0, Containers: v.Links, Size: v.Size, SizeBytes: v.Bytes})
	}
	return res
}

// lastLine is the end of a failed listing's output, for its error.
func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 300 {
		s = "…" + s[len(s)-300:]
	}
	return s
}

// Text is the listing for people: per node a header and one line per volume.
func (l Listing) Text() string {
	var b strings.Builder
	for _, n := range l.Nodes {
		if !n.OK {
			fmt.Fprintf(&b, "%s: FAILED: %s\n", n.Node, n.Error)
			continue
		}
		what := "volumes"
		if l.UnusedOnly {
			what = "unused volumes"
		}
		fmt.Fprintf(&b, "%s: %d %s of %d\n", n.Node, len(n.Volumes), what, n.Total)
		for _, v := range n.Volumes {
			use := "unused"
			switch {
			case v.Containers < 0:
				use = "use unknown"
			case v.InUse:
				use = fmt.Sprintf("used by %d", v.Containers)
			}
			fmt.Fprintf(&b, "  %-40s %10s  %s\n", v.Name, v.Size, use)
		}
		if n.Cut {
			b.WriteString("  (more volumes than one listing keeps: only the last are shown)\n")
		}
	}
	return b.String()
}
