package parse

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// The testdata files are real docker output from scripts/capture-testdata. Tests look things
// up by name and relate IDs across files, so a fresh capture keeps them passing.

func testdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustParse[T any](t *testing.T, parse func(string) ([]T, error), file string) []T {
	t.Helper()
	got, err := parse(testdata(t, file))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return got
}

// nodeIDs maps hostname to node ID, from the captured node inspect.
func nodeIDs(t *testing.T) map[string]string {
	ids := map[string]string{}
	for _, n := range mustParse(t, NodeInspect, "node-inspect.txt") {
		ids[n.Hostname] = n.ID
	}
	return ids
}

// serviceIDs maps service name to service ID, from the captured service inspect.
func serviceIDs(t *testing.T) map[string]string {
	ids := map[string]string{}
	for _, s := range mustParse(t, ServiceInspect, "service-inspect.txt") {
		ids[s.Name] = s.ID
	}
	return ids
}

func TestNodeLsCapture(t *testing.T) {
	rows := mustParse(t, NodeLs, "node-ls.txt")
	if len(rows) != 3 {
		t.Fatalf("got %d nodes, want 3", len(rows))
	}
	byHost := map[string]NodeRow{}
	for _, r := range rows {
		byHost[r.Hostname] = r
	}
	ids := nodeIDs(t)
	tests := []struct {
		host          string
		self          bool
		managerStatus string
	}{
		{"manager", true, "Leader"},
		{"worker-1", false, ""},
		{"worker-2", false, ""},
	}
	for _, tt := range tests {
		r, ok := byHost[tt.host]
		if !ok {
			t.Errorf("no row for %s", tt.host)
			continue
		}
		want := NodeRow{ID: ids[tt.host], Hostname: tt.host, Status: "Ready", Availability: "Active",
			ManagerStatus: tt.managerStatus, EngineVersion: r.EngineVersion, Self: tt.self}
		if r != want {
			t.Errorf("%s: got %+v, want %+v", tt.host, r, want)
		}
		if !strings.HasPrefix(r.EngineVersion, "20.10.") {
			t.Errorf("%s: EngineVersion %q, want 20.10.x", tt.host, r.EngineVersion)
		}
	}
}

func TestNodeInspectCapture(t *testing.T) {
	nodes := mustParse(t, NodeInspect, "node-inspect.txt")
	tests := []struct {
		host, role, addr string
		labels           map[string]string
	}{
		{"manager", "manager", "192.168.213.10", map[string]string{}},
		{"worker-1", "worker", "192.168.213.11", map[string]string{}},
		{"worker-2", "worker", "192.168.213.12", map[string]string{"capture-testdata": "yes"}},
	}
	if len(nodes) != len(tests) {
		t.Fatalf("got %d nodes, want %d", len(nodes), len(tests))
	}
	for _, tt := range tests {
		i := slices.IndexFunc(nodes, func(n Node) bool { return n.Hostname == tt.host })
		if i < 0 {
			t.Errorf("no node %s", tt.host)
			continue
		}
		n := nodes[i]
		if n.Role != tt.role || n.Addr != tt.addr || n.State != "ready" || n.Availability != "active" ||
			!strings.HasPrefix(n.EngineVersion, "20.10.") || len(n.ID) != 25 {
			t.Errorf("%s: got %+v", tt.host, n)
		}
		if !reflect.DeepEqual(n.Labels, tt.labels) {
			t.Errorf("%s: labels %v, want %v", tt.host, n.Labels, tt.labels)
		}
	}
}

func TestServiceLsCapture(t *testing.T) {
	rows := mustParse(t, ServiceLs, "service-ls.txt")
	ids := serviceIDs(t)
	tests := []struct{ name, mode, replicas string }{
		{"capture-web", "replicated", "2/2 (max 1 per node)"},
		{"capture-global", "global", "3/3"},
		{"capture-job-ok", "replicated job", "0/1 (1/1 completed)"},
		{"capture-job-fail", "replicated job", "0/1 (0/1 completed)"},
		{"capture-pending", "replicated", "0/1"},
	}
	if len(rows) != len(tests) {
		t.Fatalf("got %d rows, want %d", len(rows), len(tests))
	}
	for _, tt := range tests {
		i := slices.IndexFunc(rows, func(r ServiceRow) bool { return r.Name == tt.name })
		if i < 0 {
			t.Errorf("no row %s", tt.name)
			continue
		}
		r := rows[i]
		if r.Mode != tt.mode || r.Replicas != tt.replicas || !strings.HasSuffix(r.Image, "/su/workload:1") {
			t.Errorf("%s: got %+v", tt.name, r)
		}
		// service ls prints the ID truncated to 12 characters.
		if len(r.ID) != 12 || !strings.HasPrefix(ids[tt.name], r.ID) {
			t.Errorf("%s: ID %q is not a prefix of %q", tt.name, r.ID, ids[tt.name])
		}
	}
}

func TestServiceInspectCapture(t *testing.T) {
	svcs := mustParse(t, ServiceInspect, "service-inspect.txt")
	webMounts := []Mount{ // sorted by Target
		{Type: "volume", Source: "capture-data", Target: "/data"},
		{Type: "volume", Source: "capture-logs", Target: "/logs", ReadOnly: true},
		{Type: "tmpfs", Target: "/tmp/scratch"},
	}
	tests := []struct {
		name        string
		mode        string
		replicas    uint64
		constraints []string
		mounts      []Mount
		labels      map[string]string // a subset that must be there
		nLabels     int
		updated     bool
	}{
		{name: "capture-web", mode: ModeReplicated, replicas: 2, constraints: []string{"node.role==worker"}, mounts: webMounts,
			labels: map[string]string{
				"com.example.team":                      "capture",
				"swarm-utils.clean.exec":                "echo cleaned; date",
				"swarm-utils.backup.volume-list-upload": "capture-data, capture-logs",
				"swarm-utils.backup.exec.timeout":       "120_000",
				"swarm-utils.update.token":              "capture-update-token",
			}, nLabels: 16, updated: true},
		{name: "capture-global", mode: ModeGlobal, labels: map[string]string{"swarm-utils.clean.enable": "false"}, nLabels: 1},
		{name: "capture-job-ok", mode: ModeReplicatedJob, constraints: []string{"node.hostname==worker-1"}},
		{name: "capture-job-fail", mode: ModeReplicatedJob, constraints: []string{"node.hostname==worker-2"}},
		{name: "capture-pending", mode: ModeReplicated, replicas: 1, constraints: []string{"node.labels.capture-nowhere==true"}},
	}
	if len(svcs) != len(tests) {
		t.Fatalf("got %d services, want %d", len(svcs), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := slices.IndexFunc(svcs, func(s Service) bool { return s.Name == tt.name })
			if i < 0 {
				t.Fatalf("no service %s", tt.name)
			}
			s := svcs[i]
			if s.Mode != tt.mode || s.Replicas != tt.replicas {
				t.Errorf("mode %q replicas %d, want %q %d", s.Mode, s.Replicas, tt.mode, tt.replicas)
			}
			if !reflect.DeepEqual(s.Constraints, tt.constraints) {
				t.Errorf("constraints %q, want %q", s.Constraints, tt.constraints)
			}
			gotMounts := slices.Clone(s.Mounts)
			slices.SortFunc(gotMounts, func(a, b Mount) int { return strings.Compare(a.Target, b.Target) })
			if !reflect.DeepEqual(gotMounts, tt.mounts) {
				t.Errorf("mounts %+v, want %+v", gotMounts, tt.mounts)
			}
			if len(s.Labels) != tt.nLabels {
				t.Errorf("%d labels, want %d: %v", len(s.Labels), tt.nLabels, s.Labels)
			}
			for k, v := range tt.labels {
				if s.Labels[k] != v {
					t.Errorf("label %s = %q, want %q", k, s.Labels[k], v)
				}
			}
			if s.LogDriver != "json-file" {
				t.Errorf("LogDriver %q", s.LogDriver)
			}
			if !strings.Contains(s.Image, "/su/workload:1@sha256:") {
				t.Errorf("Image %q, want the digest-pinned workload image", s.Image)
			}
			if len(s.ID) != 25 || s.Version == 0 {
				t.Errorf("ID %q Version %d", s.ID, s.Version)
			}
			if (s.UpdateStatus != nil) != tt.updated {
				t.Fatalf("UpdateStatus %+v, want present=%v", s.UpdateStatus, tt.updated)
			}
			if u := s.UpdateStatus; u != nil {
				if u.State != "completed" || u.Message != "update completed" || u.StartedAt.IsZero() ||
					!u.CompletedAt.After(u.StartedAt) || u.CompletedAt.Sub(u.StartedAt) > time.Hour {
					t.Errorf("UpdateStatus %+v", *u)
				}
			}
		})
	}
}

func TestServiceInspectMissingCapture(t *testing.T) {
	svcs := mustParse(t, ServiceInspect, "service-inspect-missing.txt")
	if svcs == nil || len(svcs) != 0 {
		t.Fatalf("got %#v, want an empty slice", svcs)
	}
}

func TestServicePsCapture(t *testing.T) {
	rows := mustParse(t, ServicePs, "service-ps.txt")
	nodes := nodeIDs(t)
	type key struct{ name, node, state string }
	got := map[key]TaskRow{}
	for _, r := range rows {
		got[key{r.Name, r.Node, r.State()}] = r
		if !strings.Contains(r.Image, "/su/workload:1@sha256:") || len(r.ID) != 25 {
			t.Errorf("row %+v: want the digest-pinned image and an untruncated ID", r)
		}
	}
	tests := []struct {
		key
		desired, err string
	}{
		{key{"capture-web.1", "worker-2", "running"}, "Running", ""},
		{key{"capture-web.1", "worker-2", "shutdown"}, "Shutdown", ""},
		{key{"capture-web.2", "worker-1", "running"}, "Running", ""},
		{key{"capture-web.2", "worker-1", "shutdown"}, "Shutdown", ""},
		{key{"capture-global." + nodes["manager"], "manager", "running"}, "Running", ""},
		{key{"capture-global." + nodes["worker-1"], "worker-1", "running"}, "Running", ""},
		{key{"capture-global." + nodes["worker-2"], "worker-2", "running"}, "Running", ""},
		{key{"capture-job-ok." + nodes["worker-1"], "worker-1", "complete"}, "Complete", ""},
		{key{"capture-job-fail." + nodes["worker-2"], "worker-2", "failed"}, "Shutdown", "task: non-zero exit (3)"},
		{key{"capture-pending.1", "", "pending"}, "Running", "no suitable node (scheduling constraints not satisfied on 3 nodes)"},
	}
	if len(rows) != len(tests) {
		t.Errorf("got %d rows, want %d", len(rows), len(tests))
	}
	for _, tt := range tests {
		r, ok := got[tt.key]
		if !ok {
			t.Errorf("no row %+v", tt.key)
			continue
		}
		if r.DesiredState != tt.desired || r.Error != tt.err {
			t.Errorf("%+v: desired %q error %q, want %q %q", tt.key, r.DesiredState, r.Error, tt.desired, tt.err)
		}
	}
}

func TestTaskInspectCapture(t *testing.T) {
	tasks := mustParse(t, TaskInspect, "task-inspect.txt")
	svcIDs, nodes := serviceIDs(t), nodeIDs(t)

	// The same tasks as service ps lists.
	var psIDs, taskIDs []string
	for _, r := range mustParse(t, ServicePs, "service-ps.txt") {
		psIDs = append(psIDs, r.ID)
	}
	for _, task := range tasks {
		taskIDs = append(taskIDs, task.ID)
	}
	slices.Sort(psIDs)
	slices.Sort(taskIDs)
	if !slices.Equal(psIDs, taskIDs) {
		t.Errorf("task inspect IDs %v differ from service ps IDs %v", taskIDs, psIDs)
	}

	tests := []struct {
		service, node      string
		slot               int
		desired, state     string
		exitCode           int
		err                string
		terminal, succeeds bool
		container          bool
	}{
		{"capture-web", "worker-2", 1, "running", "running", 0, "", false, false, true},
		{"capture-web", "worker-2", 1, "shutdown", "shutdown", 0, "", true, false, true},
		{"capture-web", "worker-1", 2, "running", "running", 0, "", false, false, true},
		{"capture-web", "worker-1", 2, "shutdown", "shutdown", 0, "", true, false, true},
		{"capture-global", "manager", 0, "running", "running", 0, "", false, false, true},
		{"capture-global", "worker-1", 0, "running", "running", 0, "", false, false, true},
		{"capture-global", "worker-2", 0, "running", "running", 0, "", false, false, true},
		{"capture-job-ok", "worker-1", 0, "complete", "complete", 0, "", true, true, true},
		{"capture-job-fail", "worker-2", 0, "shutdown", "failed", 3, "task: non-zero exit (3)", true, false, true},
		{"capture-pending", "", 1, "running", "pending", 0, "no suitable node (scheduling constraints not satisfied on 3 nodes)", false, false, false},
	}
	for _, tt := range tests {
		i := slices.IndexFunc(tasks, func(task Task) bool {
			return task.ServiceID == svcIDs[tt.service] && task.NodeID == nodes[tt.node] && task.Slot == tt.slot && task.State == tt.state
		})
		if i < 0 {
			t.Errorf("no %s task on %q slot %d in state %s", tt.service, tt.node, tt.slot, tt.state)
			continue
		}
		task := tasks[i]
		if task.DesiredState != tt.desired || task.ExitCode != tt.exitCode || task.Err != tt.err ||
			task.Terminal() != tt.terminal || task.Succeeded() != tt.succeeds || (task.ContainerID != "") != tt.container ||
			task.Message == "" || task.Timestamp.IsZero() {
			t.Errorf("%s on %q: got %+v (terminal %v, succeeded %v)", tt.service, tt.node, task, task.Terminal(), task.Succeeded())
		}
	}
}

func TestVolumeLsCapture(t *testing.T) {
	rows := mustParse(t, VolumeLs, "volume-ls.txt")
	want := []VolumeRow{{"capture-data", "local", "local"}, {"capture-logs", "local", "local"}}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("got %+v, want %+v", rows, want)
	}
}

// Real captures with docker noise around them and CRLF line ends parse exactly as the clean
// capture does.
func TestCapturesWithNoise(t *testing.T) {
	const warning = "WARNING: Error loading config file: /root/.docker/config.json: permission denied"
	parsers := map[string]func(string) (any, error){
		"node-ls.txt":                 func(s string) (any, error) { return NodeLs(s) },
		"node-inspect.txt":            func(s string) (any, error) { return NodeInspect(s) },
		"service-ls.txt":              func(s string) (any, error) { return ServiceLs(s) },
		"service-inspect.txt":         func(s string) (any, error) { return ServiceInspect(s) },
		"service-inspect-missing.txt": func(s string) (any, error) { return ServiceInspect(s) },
		"service-ps.txt":              func(s string) (any, error) { return ServicePs(s) },
		"task-inspect.txt":            func(s string) (any, error) { return TaskInspect(s) },
		"volume-ls.txt":               func(s string) (any, error) { return VolumeLs(s) },
		"image-ls.txt":                func(s string) (any, error) { return ImageLs(s) },
		"system-df.txt":               func(s string) (any, error) { return SystemDf(s) },
	}
	for file, parse := range parsers {
		t.Run(file, func(t *testing.T) {
			clean := testdata(t, file)
			want, err := parse(clean)
			if err != nil {
				t.Fatal(err)
			}
			variants := map[string]string{
				"warning around":   warning + "\n[DEPRECATION NOTICE] x\n" + clean + "\n" + warning + "\n",
				"CRLF":             strings.ReplaceAll(clean, "\n", "\r\n"),
				"no final newline": strings.TrimRight(clean, "\n"),
			}
			if !strings.HasPrefix(clean, "[") { // one object per line: noise between lines too
				variants["warning between"] = strings.ReplaceAll(clean, "\n", "\n"+warning+"\n\n")
			}
			for name, in := range variants {
				got, err := parse(in)
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: got %+v, want %+v", name, got, want)
				}
			}
		})
	}
}
