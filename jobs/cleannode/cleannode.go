// Package cleannode is the clean-node job (SPEC §3): on one node, or on every node in
// parallel, prune stopped containers, unused images and build cache. Images are chosen in Go
// (keep-list, age, rollback targets) from the node's own listing: a survey (disk usage, images),
// then the prune, both in one helper of swarm-utils' own image on a remote node.
package cleannode

import (
	"context"
	"fmt"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// Op is the operation's name in results, logs and helper names.
const Op = "clean-node"

// Swarm is what clean-node reads from the cluster (nodes; services, for their rollback
// targets); the helper engine does the rest.
type Swarm interface {
	Nodes(ctx context.Context) ([]parse.Node, error)
	NodeAndSelf(ctx context.Context, name string) (parse.Node, string, error)
	ServiceIDs(ctx context.Context) ([]string, error)
	InspectServices(ctx context.Context, ids []string) ([]parse.Service, error)
}

// Job runs clean-node.
type Job struct {
	Swarm   Swarm
	Helpers *helper.Engine
	Ops     *operation.Runner
	Config  config.Config
	// inHelper: this is the one helper on its node (RunNodeHelper), whose processes cost the
	// manager nothing: independent steps run at once there, each its own script.
	inHelper bool
}

// pruneStep is one prune command of clean-node.
type pruneStep struct {
	Name    string // container | image | builder | df-before | df-after | images
	Timeout time.Duration
	Option  string // pruneScript's ":OPTION": image's "rm" or "until=…s"
}

// Node prunes the node named exactly name (hostname or full ID).
func (j *Job) Node(ctx context.Context, name string) operation.Result {
	if err := swarm.ValidName("node", name); err != nil {
		return operation.Failed(Op, name, err)
	}
	// The rollback targets do not depend on the node: read beside it and the lock.
	rollback := j.readRollbackTargets(ctx)
	n, err := j.findNode(ctx, name)
	if err != nil {
		return operation.Failed(Op, name, err)
	}
	return j.clean(ctx, n, rollback, false)
}

// findNode is the node named exactly name: docker's answer to one `docker node inspect -- NAME
// self` (which also tells the local node) when it is that node, else the one FindNode picks from
// the whole listing (a hostname several nodes share, a node of another instance, an ID prefix).
func (j *Job) findNode(ctx context.Context, name string) (parse.Node, error) {
	n, self, err := j.Swarm.NodeAndSelf(ctx, name)
	j.Helpers.KnowLocalNode(self)
	switch {
	case err == nil && (n.ID == name || n.Hostname == name) && mine(n, j.Config.Instance):
		// docker matches a full ID first, then a hostname only when one node has it.
		return n, nil
	case operation.KindOf(err) == operation.KindNotFound:
		return parse.Node{}, err
	}
	nodes, err := j.Swarm.Nodes(ctx)
	if err != nil {
		return parse.Node{}, err
	}
	return swarm.FindNode(nodes, name, j.Config.Instance)
}

// All cleans every node in parallel; a node that is down, drained or disabled by its labels
// is reported, not waited on.
func (j *Job) All(ctx context.Context) operation.Report {
	started := time.Now()
	rep := operation.Report{Operation: Op, OK: true, Results: []operation.Result{}}
	rollback := j.readRollbackTargets(ctx)
	j.Helpers.ReadLocalNode(ctx)
	nodes, err := j.Swarm.Nodes(ctx)
	if err != nil {
		rep.OK = false
		rep.Results = append(rep.Results, operation.Failed(Op, "*", err))
		return rep
	}
	nodes = slices.DeleteFunc(nodes, func(n parse.Node) bool { return !mine(n, j.Config.Instance) })
	rep.Results = make([]operation.Result, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			defer func() {
				// A panic here would crash serve with every operation in flight.
				if p := recover(); p != nil {
					msg := j.Helpers.Secrets.Mask(fmt.Sprint(p))
					j.Helpers.Log.Error("clean-node on node panicked", "node", n.Hostname, "panic", msg, "stack", string(debug.Stack()))
					rep.Results[i] = operation.Failed(Op, n.Hostname, fmt.Errorf("internal error: %s", msg))
				}
			}()
			rep.Results[i] = j.clean(ctx, n, rollback, true)
		})
	}
	wg.Wait()
	for _, r := range rep.Results {
		rep.OK = rep.OK && r.OK
	}
	rep.Duration = operation.Since(started)
	return rep
}

// readRollbackTargets starts the read of every service's previous spec, once per run, and
// returns its answer, which waits for it; without it no image could safely be removed, so a
// failure fails the run.
func (j *Job) readRollbackTargets(ctx context.Context) func() ([]rollbackTarget, error) {
	type answer struct {
		targets []rollbackTarget
		err     error
	}
	done := make(chan answer, 1)
	go func() {
		var a answer
		defer func() {
			// A panic here would crash serve with every operation in flight.
			if p := recover(); p != nil {
				a = answer{err: fmt.Errorf("internal error: %v", p)}
			}
			done <- a
		}()
		a.targets, a.err = j.rollbackTargets(ctx)
	}()
	return sync.OnceValues(func() ([]rollbackTarget, error) {
		a := <-done
		return a.targets, a.err
	})
}

// rollbackTargets reads every service's previous spec.
func (j *Job) rollbackTargets(ctx context.Context) ([]rollbackTarget, error) {
	ids, err := j.Swarm.ServiceIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("list services for their rollback images: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	svcs, err := j.Swarm.InspectServices(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("inspect services for their rollback images: %w", err)
	}
	return rollbackTargets(svcs), nil
}

// clean is the job on one node: 1. read the node's labels; 2. refuse a node that is not ready
// and active; 3. survey the node and run the enabled prunes there. The rollback targets
// (readRollbackTargets' answer) and whether the node's engine keeps removed helpers' tasks
// are read beside the lock.
func (j *Job) clean(ctx context.Context, node parse.Node, readRollback func() ([]rollbackTarget, error), all bool) operation.Result {
	settings, err := SettingsFromLabels(node.Labels, j.Config)
	if err != nil {
		return operation.Failed(Op, node.Hostname, operation.Errorf(operation.KindInvalid, "node %s labels: %w", node.Hostname, err))
	}
	var steps []pruneStep
	if settings.Container {
		steps = append(steps, pruneStep{Name: "container", Timeout: settings.ContainerTimeout})
	}
	if settings.Image {
		steps = append(steps, pruneStep{Name: "image", Timeout: settings.ImageTimeout})
	}
	if settings.Builder {
		steps = append(steps, pruneStep{Name: "builder", Timeout: settings.BuilderTimeout})
	}
	switch {
	case !settings.Enabled || len(steps) == 0:
		if all {
			return operation.Skipped(Op, node.Hostname, "cleaning is disabled by the node's labels")
		}
		return operation.Failed(Op, node.Hostname, operation.Errorf(operation.KindNotFound, "node %s: cleaning is disabled by its labels", node.Hostname))
	case node.State != "ready":
		return operation.Failed(Op, node.Hostname, operation.Errorf(operation.KindImpossible, "node %s is %s, not ready: not cleaned", node.Hostname, node.State))
	case node.Availability != "active":
		if all {
			return operation.Skipped(Op, node.Hostname, "node is "+node.Availability)
		}
		return operation.Failed(Op, node.Hostname, operation.Errorf(operation.KindImpossible, "node %s is %s: no helper can run there", node.Hostname, node.Availability))
	}
	var run time.Duration
	for _, s := range steps {
		run += s.Timeout
	}
	run += settings.ImageTimeout + helper.Slack // disk usage after
	survey := settings.ImageTimeout*2 + helper.Slack
	var rollback []rollbackTarget
	var reap bool
	return j.Ops.RunOp(ctx, operation.Op{Name: Op, Target: node.Hostname, LockKey: operation.LockKeyNode(node.ID),
		Read: func(ctx context.Context) error {
			reaped := make(chan bool, 1)
			go func() { reaped <- j.Helpers.KeepsRemovedJobTasks(ctx, node.EngineVersion) }()
			var err error
			rollback, err = readRollback()
			reap = <-reaped
			return err
		},
		Prepare: func(context.Context) (operation.Plan, error) {
			budget := run + j.Config.Timeouts.Pending
			if needsSurvey(settings, rollback) {
				budget += survey + j.Config.Timeouts.Pending
			}
			return operation.Plan{
				Budget: budget,
				Do: func(ctx context.Context, r *operation.Result) error {
					r.Steps = j.run(ctx, node, settings, rollback, steps, survey, run, reap)
					return nil
				},
			}, nil
		},
		PrepareOnlyReads: true,
	})
}

// needsSurvey: only Go can choose images by a keep-list or rollback targets (docker's prune
// has no such filters), from a listing of the node's images; without them the image step is
// one `docker image prune -a` (with docker's until filter) and the node needs one helper.
func needsSurvey(s Settings, rollback []rollbackTarget) bool {
	return s.Image && (len(s.Keep) > 0 || len(rollback) > 0)
}

// run is the helpers on the node. When the images must be chosen in Go, the survey lists the
// disk usage and the images, and the prune gets the chosen references as arguments; otherwise
// the disk usage before is the prune's first step.
//
// On a node other than the one swarm-utils talks to, the survey and the prune would be two
// helpers one after the other; they are one instead: swarm-utils' own image
// (SWARM_UTILS_IMAGE) surveys, chooses and prunes there in one go (nodehelper.go).
func (j *Job) run(ctx context.Context, node parse.Node, settings Settings, rollback []rollbackTarget, steps []pruneStep, survey, run time.Duration, reap bool) []operation.Step {
	if needsSurvey(settings, rollback) && !j.Helpers.IsLocal(ctx, node.ID) {
		return j.inOneHelper(ctx, node, settings, rollback, steps, survey+run, reap)
	}
	return j.onNode(ctx, node, settings, rollback, steps, survey, run, reap)
}

// onNode runs the survey (when needed) and the prune as Direct steps: here when node is the
// local one, else (the prune alone) in a helper of the docker CLI image; inside the one helper
// of inOneHelper, everything is local.
func (j *Job) onNode(ctx context.Context, node parse.Node, settings Settings, rollback []rollbackTarget, steps []pruneStep, survey, run time.Duration, reap bool) []operation.Step {
	var before []parse.DiskUsage
	var choice *imageChoice
	var out []operation.Step
	if needsSurvey(settings, rollback) {
		st, df, rows, ok := j.survey(ctx, node, settings.ImageTimeout, survey)
		if !ok {
			// Without the listing nothing can be chosen: no prune at all, the survey says why.
			return []operation.Step{st}
		}
		c := chooseImages(rows, settings, rollback, time.Now())
		before, choice = df, &c
		out = append(out, st)
	} else {
		steps = append([]pruneStep{{Name: "df-before", Timeout: settings.ImageTimeout}}, steps...)
	}
	for i := range steps {
		switch {
		case steps[i].Name != "image":
		case choice != nil:
			steps[i].Option = "rm"
		case settings.Until > 0:
			steps[i].Option = "until=" + helper.Seconds(settings.Until) + "s" // whole seconds, at least 1
		}
	}
	steps = append(steps, pruneStep{Name: "df-after", Timeout: settings.ImageTimeout})
	pruned := j.prune(ctx, node, steps, choice, run, reap)
	var after []parse.DiskUsage
	for _, st := range pruned {
		switch st.Name {
		case "df-before", "df-after":
			df, _ := parse.SystemDf(st.Tasks[0].Logs)
			if st.Name == "df-before" {
				before = df
			} else {
				after = df
			}
		default:
			out = append(out, st)
		}
	}
	for i := range out {
		if out[i].Name == "image-prune" && out[i].OK && choice != nil {
			// docker image rm prints no total: the images' disk usage before and after tells it
			// (0 when images arrived meanwhile).
			if b, a := sizeOf(before, "Images"), sizeOf(after, "Images"); b >= 0 && a >= 0 {
				out[i].Details["reclaimed"] = humanSize(max(b-a, 0))
			}
		}
	}
	return append(out, diskUsageStep(node.Hostname, before, after))
}

// survey lists the node's images and its disk usage: in one script, or inside the one helper at
// once (two independent reads). It runs where swarm-utils talks to the node's daemon (here, or
// inside the one helper).
func (j *Job) survey(ctx context.Context, node parse.Node, each, timeout time.Duration) (operation.Step, []parse.DiskUsage, []parse.ImageRow, bool) {
	marker := helper.NewMarker()
	read := func(step string, parts ...string) helper.Outcome {
		args := []string{"sh", "-c", pruneScript, "sh", marker}
		for _, p := range parts {
			args = append(args, p+":"+helper.Seconds(each))
		}
		return j.Helpers.Run(ctx, helper.Spec{
			Action: Op, LockKey: operation.LockKeyNode(node.ID), Target: node.ID, Step: step,
			NodeID: node.ID, NodeName: node.Hostname, Image: j.Config.DockerCLIImage, Socket: true, Direct: true, Timeout: timeout, Args: args,
			DoneLine: marker + " done",
		})
	}
	started := time.Now()
	var h, usageRead helper.Outcome
	if j.inHelper {
		var wg sync.WaitGroup
		wg.Go(func() { usageRead = read("survey-df", "df-before") })
		h = read("survey", "images")
		wg.Wait()
	} else {
		// The listing first: a cut output loses its head, and the disk usage then survives.
		h = read("survey", "images", "df-before")
		usageRead = h
	}
	st := h.Step("survey", node.Hostname, started)
	if h.Err != nil {
		return st, nil, nil, false
	}
	parts, _ := helper.ParseMarked(h.Logs, marker)
	img := helper.WithCut(parts, []string{"images", "df-before"})["images"]
	parts, _ = helper.ParseMarked(usageRead.Logs, marker)
	df := helper.WithCut(parts, []string{"images", "df-before"})["df-before"]
	// Only the tail of a helper's output is kept (img.Cut): the rows seen are safe to act on
	// (removal is by reference; an image's unseen kept reference keeps it), the others wait for
	// the next clean. The half row at the cut does not start with "{" (the listing's only brace
	// opens a row), so the decoder skips it with the cut note.
	listing := img.Output
	if !img.Ended || img.ExitCode != 0 {
		st.OK, st.Error = false, fmt.Sprintf("list the images on %s: exit code %d, output %q", node.Hostname, img.ExitCode, j.Helpers.Secrets.Mask(tail(img.Output)))
		st.ErrorKind = operation.KindDocker
		return st, nil, nil, false
	}
	rows, err := parse.ImageLs(listing)
	if err != nil {
		st.OK, st.Error, st.ErrorKind = false, fmt.Sprintf("list the images on %s: %v", node.Hostname, err), operation.KindDocker
		return st, nil, nil, false
	}
	st.Tasks[0].Logs = "" // the listing: what it decided is the image step's report
	st.Details = map[string]string{"images": strconv.Itoa(len(rows))}
	// The disk usage is a report: its absence stops nothing, but the survey says why it is missing.
	usage, err := parse.SystemDf(df.Output)
	if err != nil || len(usage) == 0 {
		st.Details["disk usage before"] = fmt.Sprintf("not read (exit code %d): %v %q", df.ExitCode, err, j.Helpers.Secrets.Mask(tail(df.Output)))
	}
	if img.Cut {
		st.Details["images"] += " (the listing was cut to its tail: the images before it were not considered)"
	}
	return st, usage, rows, true
}

// tail is the end of a long output, for an error message.
func tail(s string) string {
	const n = 300
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// mine tells the nodes this instance manages ("" in tests that set none: every node).
func mine(n parse.Node, instance string) bool {
	return instance == "" || parse.InstanceOf(n.Labels) == instance
}

// pruneArgs are pruneScript's step arguments, then "--" and the images to remove.
func pruneArgs(steps []pruneStep, reapHelpers bool, remove []string) []string {
	args := make([]string, 0, len(steps)+1+len(remove))
	for _, s := range steps {
		a := s.Name + ":" + helper.Seconds(s.Timeout)
		switch {
		case s.Name == "container" && reapHelpers:
			a += ":reap"
		case s.Option != "":
			a += ":" + s.Option
		}
		args = append(args, a)
	}
	return append(append(args, "--"), remove...)
}

// phases splits the prune steps for a local run: the disk usage before, the container and
// image steps beside the builder step, then the disk usage after; ok only when the builder step
// has company to run beside.
func phases(steps []pruneStep) (before, mid, builder, after []pruneStep, ok bool) {
	for _, s := range steps {
		switch s.Name {
		case "df-before":
			before = append(before, s)
		case "df-after":
			after = append(after, s)
		case "builder":
			builder = append(builder, s)
		default:
			mid = append(mid, s)
		}
	}
	return before, mid, builder, after, len(builder) > 0 && len(mid) > 0
}

var reclaimedRe = regexp.MustCompile(`Total reclaimed space:\s*(\S+)`)

// prune runs the prune steps in one helper on the node and reports each step. reapHelpers: the
// node's engine keeps exited helper containers (pruneScript's ":reap"). Inside the one helper
// the build cache, which no container or image holds, is pruned beside the containers and
// images, after the disk usage before and before the disk usage after.
func (j *Job) prune(ctx context.Context, node parse.Node, steps []pruneStep, choice *imageChoice, timeout time.Duration, reapHelpers bool) []operation.Step {
	var remove []string
	if choice != nil {
		remove = choice.Remove
	}
	started := time.Now()
	type ranStep struct {
		h    helper.Outcome
		part helper.ScriptPart
		ran  bool
	}
	byName := map[string]ranStep{}
	var mu sync.Mutex
	runGroup := func(group []pruneStep) {
		if len(group) == 0 {
			return
		}
		marker := helper.NewMarker()
		args := append([]string{"sh", "-c", pruneScript, "sh", marker}, pruneArgs(group, reapHelpers, remove)...)
		h := j.Helpers.Run(ctx, helper.Spec{
			Action: Op, LockKey: operation.LockKeyNode(node.ID), Target: node.ID, Step: "prune",
			NodeID: node.ID, NodeName: node.Hostname, Image: j.Config.DockerCLIImage, Args: args, Socket: true, Direct: true, Timeout: timeout,
			RemoveLate: true, DoneLine: marker + " done",
		})
		parts, _ := helper.ParseMarked(h.Logs, marker)
		names := make([]string, len(group))
		for i, s := range group {
			names[i] = s.Name
		}
		got := helper.WithCut(parts, names)
		mu.Lock()
		defer mu.Unlock()
		for _, s := range group {
			p, ran := got[s.Name]
			byName[s.Name] = ranStep{h: h, part: p, ran: ran}
		}
	}
	if before, mid, builder, after, ok := phases(steps); ok && j.inHelper {
		runGroup(before)
		var wg sync.WaitGroup
		wg.Go(func() { runGroup(builder) })
		runGroup(mid)
		wg.Wait()
		runGroup(after)
	} else {
		runGroup(steps)
	}
	out := make([]operation.Step, 0, len(steps))
	for _, s := range steps {
		name := s.Name + "-prune"
		if strings.HasPrefix(s.Name, "df-") {
			name = s.Name
		}
		rs := byName[s.Name]
		h, p, ran := rs.h, rs.part, rs.ran
		st := operation.Step{Name: name, Node: node.Hostname, Helper: h.Name, Duration: operation.Since(started)}
		task := operation.TaskResult{TaskID: h.Task.TaskID, Node: node.Hostname, State: h.Task.State, ExitCode: p.ExitCode, Logs: j.Helpers.Secrets.Mask(p.Output)}
		switch {
		case ran && p.Ended && p.ExitCode == 0:
			st.OK = true
			st.Details = map[string]string{}
			if m := reclaimedRe.FindStringSubmatch(p.Output); m != nil {
				st.Details["reclaimed"] = m[1]
			}
			if s.Name == "image" && choice != nil {
				imageDetails(st.Details, *choice, p.Output)
			}
		case ran && p.Ended && strings.HasPrefix(s.Name, "df-"):
			// Disk usage is a report: a failure shows as missing numbers, not a failed clean.
			st.OK = true
			task.Logs = p.Output
			if p.ExitCode != 0 {
				task.Logs = ""
			}
		case ran && p.Ended && helper.TimedOut(p.ExitCode):
			st.Error = fmt.Sprintf("%s prune timed out after %s", s.Name, s.Timeout)
		case ran && p.Ended:
			st.Error = fmt.Sprintf("%s prune exited with code %d", s.Name, p.ExitCode)
		case ran && p.Cut:
			st.Error = fmt.Sprintf("%s prune ran, but its output and exit code were cut from the helper's output", s.Name)
		case h.Err != nil:
			st.Error = h.Err.Error()
			st.ErrorKind = helper.StepKind(h.Err)
			task.Error = h.Task.Error
			task.ExitCode = h.Task.ExitCode
		default:
			st.Error = fmt.Sprintf("%s prune did not run", s.Name)
		}
		st.Tasks = []operation.TaskResult{task}
		out = append(out, st)
	}
	return out
}
