package helper

import (
	"context"

	"github.com/swarm-utils/swarm-utils/parse"
)

// Docker engines before 24 handle removed replicated-job services badly (moby/moby#44312): the
// removed job's running task keeps running, and the exited container of a finished job stays
// on its node. swarm-utils works around both only where the node's engine needs it:
//   - after removing a helper that was still running (timeout, cancel, recover), it removes the
//     task's container itself (StopOrphan); a current engine stops it on its own, and
//     swarm-utils only waits for that;
//   - clean-node removes exited helper containers older than a minute on such nodes
//     (its prune script's "reap" flag); a current engine removes them with the job.

// jobRemovalFixedMajor is the first engine major version that stops and removes a removed
// job's task, and the Engine API version it speaks.
const (
	jobRemovalFixedMajor = 24
	jobRemovalFixedAPI   = "1.43"
)

// KeepsRemovedJobTasks tells whether the engine of a node with this engine version leaves a
// removed job's task and container behind. A version that is no release number (a dev build
// says "library-import" or "dev") is judged by the API version of the engine swarm-utils talks
// to; when that is unknown too, the workaround is done: it is safe on every engine.
func (e *Engine) KeepsRemovedJobTasks(ctx context.Context, engineVersion string) bool {
	if major, ok := parse.EngineMajor(engineVersion); ok {
		return major < jobRemovalFixedMajor
	}
	api := e.localAPIVersion(ctx)
	if api == "" {
		return true
	}
	return parse.CompareAPIVersions(api, jobRemovalFixedAPI) < 0
}

// nodeKeepsRemovedJobTasks is KeepsRemovedJobTasks for a node known by ID (rare paths: a
// helper stopped mid-run, a repair).
func (e *Engine) nodeKeepsRemovedJobTasks(ctx context.Context, nodeID string) bool {
	version := ""
	if n, err := e.Swarm.Node(ctx, nodeID); err == nil {
		version = n.EngineVersion
	}
	return e.KeepsRemovedJobTasks(ctx, version)
}

// localAPIVersion is the Engine API version of the daemon swarm-utils talks to, read once.
func (e *Engine) localAPIVersion(ctx context.Context) string {
	e.apiOnce.Do(func() {
		v, err := e.Swarm.APIVersion(ctx)
		if err != nil {
			e.Log.Warn("cannot read the engine's API version", "err", err)
			return
		}
		e.apiVer = v
	})
	return e.apiVer
}
