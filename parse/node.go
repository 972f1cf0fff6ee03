package parse

import "fmt"

// NodeRow is one line of `docker node ls --format json`.
type NodeRow struct {
	ID, Hostname, Status, Availability, ManagerStatus, EngineVersion string
	Self                                                             bool // the node the CLI talks to
}

// NodeLs parses `docker node ls --format json`.
func NodeLs(out string) ([]NodeRow, error) {
	const what = "docker node ls"
	objs, err := objects(out, what)
	if err != nil {
		return nil, err
	}
	rows := make([]NodeRow, 0, len(objs))
	for i, o := range objs {
		id, err := requireString(o, "ID", what, i)
		if err != nil {
			return nil, err
		}
		rows = append(rows, NodeRow{
			ID:            id,
			Hostname:      o.Get("Hostname").String(),
			Status:        o.Get("Status").String(),
			Availability:  o.Get("Availability").String(),
			ManagerStatus: o.Get("ManagerStatus").String(),
			EngineVersion: o.Get("EngineVersion").String(),
			Self:          boolField(o.Get("Self")),
		})
	}
	return rows, nil
}

// Node is one element of `docker node inspect`.
type Node struct {
	ID, Hostname  string
	Role          string // "manager" | "worker"
	State         string // Status.State: "ready", "down", ...
	Availability  string // "active" | "pause" | "drain"
	Addr          string // Status.Addr
	EngineVersion string
	Labels        map[string]string // Spec.Labels (docker node update --label-add); never nil
}

// NodeInspect parses `docker node inspect ID...`.
func NodeInspect(out string) ([]Node, error) {
	const what = "docker node inspect"
	objs, err := objects(out, what)
	if err != nil {
		return nil, err
	}
	nodes := make([]Node, 0, len(objs))
	for i, o := range objs {
		id, err := requireString(o, "ID", what, i)
		if err != nil {
			return nil, err
		}
		if !o.Get("Spec").IsObject() {
			return nil, fmt.Errorf("%s output, node %s: no Spec", what, id)
		}
		nodes = append(nodes, Node{
			ID:            id,
			Hostname:      o.Get("Description.Hostname").String(),
			Role:          o.Get("Spec.Role").String(),
			State:         o.Get("Status.State").String(),
			Availability:  o.Get("Spec.Availability").String(),
			Addr:          o.Get("Status.Addr").String(),
			EngineVersion: o.Get("Description.Engine.EngineVersion").String(),
			Labels:        stringMap(o.Get("Spec.Labels")),
		})
	}
	return nodes, nil
}
