package cleannode

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// NodeHelperCommand is the hidden subcommand clean-node runs in SWARM_UTILS_IMAGE (which has
// the docker CLI) on a node whose images are chosen in Go: it surveys the node through the
// mounted docker.sock, chooses, and prunes, all as local steps — one helper lifecycle where
// the docker CLI image would need two (a survey, then the prune with the chosen references).
const NodeHelperCommand = "clean-node-helper"

// nodeTask is what the helper is asked to do, as JSON in its one argument (data, never shell).
type nodeTask struct {
	Marker   string        `json:"marker"`
	NodeID   string        `json:"nodeID"`
	Hostname string        `json:"hostname"`
	Settings Settings      `json:"settings"`
	Rollback []rollbackRef `json:"rollback,omitempty"`
	Steps    []pruneStep   `json:"steps"`
	Survey   time.Duration `json:"survey"`
	Run      time.Duration `json:"run"`
	Reap     bool          `json:"reap"`
}

type rollbackRef struct {
	Service string `json:"service"`
	Image   string `json:"image"`
}

// helperLogTail bounds each step's logs in the helper's output: a step is one line there, and
// a log driver splits lines longer than 16 KiB.
const helperLogTail = 4 << 10

// inOneHelper runs the survey, the choice and the prune on node in one helper of swarm-utils'
// own image and returns its steps, as onNode would have.
func (j *Job) inOneHelper(ctx context.Context, node parse.Node, settings Settings, rollback []rollbackTarget, steps []pruneStep, timeout time.Duration, reap bool) []operation.Step {
	t := nodeTask{Marker: helper.NewMarker(), NodeID: node.ID, Hostname: node.Hostname, Settings: settings, Steps: steps,
		Survey: settings.ImageTimeout*2 + helper.Slack, Run: timeout, Reap: reap}
	for _, r := range rollback {
		t.Rollback = append(t.Rollback, rollbackRef{Service: r.Service, Image: r.Ref.String()})
	}
	started := time.Now()
	arg, err := json.Marshal(t)
	if err != nil {
		return []operation.Step{{Name: "prune", Node: node.Hostname, Error: fmt.Sprintf("encode the clean-node helper's task: %v", err)}}
	}
	h := j.Helpers.Run(ctx, helper.Spec{
		Action: Op, LockKey: operation.LockKeyNode(node.ID), Target: node.ID, Step: "prune", NodeID: node.ID, NodeName: node.Hostname,
		// Root: the node's docker.sock is root's (the image's own user is for serve).
		Image: j.Config.SelfImage, Entrypoint: "swarm-utils", User: "0:0", Args: []string{NodeHelperCommand, string(arg)},
		Env: []string{"SWARM_UTILS_LOG_LEVEL=warn", "SWARM_UTILS_LOG_FORMAT=json"}, Socket: true, Timeout: timeout, RemoveLate: true,
		DoneLine: t.Marker + " done",
	})
	out, done := parseHelperSteps(h.Logs, t.Marker)
	if done {
		for i := range out {
			out[i].Helper = h.Name
			for k := range out[i].Tasks {
				out[i].Tasks[k].TaskID = h.Task.TaskID
				out[i].Tasks[k].Logs = j.Helpers.Secrets.For(ctx).Mask(out[i].Tasks[k].Logs)
			}
		}
		return out
	}
	st := h.Step("prune", node.Hostname, started)
	if st.OK {
		st.OK = false
		st.Error = fmt.Sprintf("the clean-node helper on %s ended without its result (is SWARM_UTILS_IMAGE %s this version of swarm-utils?)", node.Hostname, j.Config.SelfImage)
	}
	return append(out, st)
}

// parseHelperSteps reads the helper's "MARKER step JSON" lines; done: its "MARKER done" line.
func parseHelperSteps(logs, marker string) (steps []operation.Step, done bool) {
	for line := range strings.Lines(logs) {
		line = strings.TrimRight(line, "\r\n")
		if line == marker+" done" {
			done = true
			continue
		}
		js, ok := strings.CutPrefix(line, marker+" step ")
		if !ok {
			continue
		}
		var st operation.Step
		if err := json.Unmarshal([]byte(js), &st); err == nil {
			steps = append(steps, st)
		}
	}
	return steps, done
}

// RunNodeHelper is the helper's body: the steps onNode runs, every one local to this node
// (runner starts the docker CLI against the mounted socket), printed one per marked line.
func RunNodeHelper(ctx context.Context, arg string, runner bashexec.Runner, log *slog.Logger, w io.Writer) error {
	var t nodeTask
	if err := json.Unmarshal([]byte(arg), &t); err != nil {
		return fmt.Errorf("read the clean-node helper's task: %w", err)
	}
	if t.Marker == "" || t.NodeID == "" {
		return fmt.Errorf("the clean-node helper's task names no marker or node")
	}
	var rollback []rollbackTarget
	for _, r := range t.Rollback {
		ref, err := parse.ParseImageRef(r.Image)
		if err != nil {
			return fmt.Errorf("rollback target %q of %s: %w", r.Image, r.Service, err)
		}
		rollback = append(rollback, rollbackTarget{Service: r.Service, Ref: ref})
	}
	j := &Job{Helpers: &helper.Engine{Swarm: &swarm.CLI{Runner: runner}, Secrets: bashexec.NewGlobalSecrets(), Log: log, LocalNode: t.NodeID}, inHelper: true}
	steps := j.onNode(ctx, parse.Node{ID: t.NodeID, Hostname: t.Hostname}, t.Settings, rollback, t.Steps, t.Survey, t.Run, t.Reap)
	for _, st := range steps {
		for k := range st.Tasks {
			if l := st.Tasks[k].Logs; len(l) > helperLogTail {
				st.Tasks[k].Logs = "[… output cut …]\n" + l[len(l)-helperLogTail:]
			}
		}
		js, err := json.Marshal(st)
		if err != nil {
			return fmt.Errorf("encode step %s: %w", st.Name, err)
		}
		if _, err := fmt.Fprintf(w, "%s step %s\n", t.Marker, js); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%s done\n", t.Marker)
	return err
}
