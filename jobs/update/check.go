package update

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// OpCheck is an update check's name in results and logs: updates by digest.
const OpCheck = "update-check"

// probeTimeout bounds the probe's `docker service create`, which waits for the manager's
// daemon to ask the registry (an unreachable registry fails it, never hangs it).
const probeTimeout = 30 * time.Second

// Check is one update check of a service labelled swarm-utils.update.auto=true (and
// update.enable=true): the registry's current digest of the tag the service runs (resolved by
// the manager's daemon with the service's registry login, exactly as `docker service update
// --image TAG` pins it) is compared with the digest in the service's spec image. Unchanged: the
// result's resolve step says so and nothing else happens. Changed: the update pipeline (Run:
// exec-pre, update, rollback, exec-post) rolls the service to TAG@DIGEST, its steps follow the
// resolve step. A registry that cannot be reached or refuses the login fails the check; the
// service is not touched.
func (j *Job) Check(ctx context.Context, name string) operation.Result {
	svc, err := j.Swarm.Service(ctx, name)
	if err != nil {
		return operation.Failed(OpCheck, name, err)
	}
	settings, err := settingsOf(svc, j.Config)
	if err != nil {
		return operation.Failed(OpCheck, name, err)
	}
	if !settings.Auto {
		return operation.Skipped(OpCheck, name, fmt.Sprintf("not labelled %s=true", parse.LabelUpdateAuto))
	}
	if !settings.Enabled {
		return operation.Failed(OpCheck, name, operation.Errorf(operation.KindInvalid, "service %s has %s=true but is not enabled for update (label %s=true)", name, parse.LabelUpdateAuto, parse.LabelUpdateEnable))
	}
	tag, running, err := followedTag(svc.Image)
	if err != nil {
		return operation.Failed(OpCheck, name, err)
	}
	if settings.RegistryAuth {
		ctx = bashexec.WithSecrets(ctx, settings.Registry.Password)
		if err := validRegistry(settings.Registry); err != nil {
			return operation.Failed(OpCheck, name, err)
		}
	}
	var registryDigest string
	res := j.Ops.Run(ctx, OpCheck, name, operation.LockKeyService(name), func(ctx context.Context) (operation.Plan, error) {
		budget := probeTimeout + readTimeoutSlack
		if settings.RegistryAuth {
			budget += loginTimeout
		}
		return operation.Plan{Budget: budget, Do: func(ctx context.Context, r *operation.Result) error {
			st, digest, err := j.resolve(ctx, r, svc.Name, tag, running, settings)
			r.Steps = append(r.Steps, st)
			registryDigest = digest
			return operation.MaskErr(j.Secrets, err)
		}}, nil
	})
	if !res.OK || registryDigest == "" || registryDigest == running {
		return res
	}
	// Run takes the service's lock again and reads it afresh: an update in between is judged
	// by its own verdict (unchanged when it already runs this digest).
	upd := j.Run(ctx, Options{Service: name, Image: tag + "@" + registryDigest})
	res.Steps = append(res.Steps, upd.Steps...)
	res.Duration += upd.Duration
	if upd.Skipped != "" {
		res.Skipped = upd.Skipped
	}
	if !upd.OK {
		res.Fail(upd.Err()) // Err() for the callers that unwrap it; the masked text as the update said it
		res.OK, res.Error, res.ErrorKind = false, upd.Error, upd.ErrorKind
	}
	return res
}

// readTimeoutSlack covers the probe's inspect and removal (docker's quick calls).
const readTimeoutSlack = 30 * time.Second

// followedTag is the tag a service's image follows (its spec image without the pinned digest)
// and the digest it runs now ("" when none is pinned).
func followedTag(image string) (tag, digest string, err error) {
	ref, err := parse.ParseImageRef(image)
	if err != nil {
		return "", "", &operation.Error{Kind: operation.KindInvalid, Err: fmt.Errorf("service image: %w", err)}
	}
	digest = ref.Digest()
	tag, _, _ = strings.Cut(image, "@")
	if digest != "" && ref.Tag() == "" {
		return "", "", operation.Errorf(operation.KindInvalid, "service image %s is pinned to a digest without a tag: there is no tag to follow", image)
	}
	return tag, digest, nil
}

// resolve asks the registry for the tag's digest through a probe: a service of no replicas
// created with the tag (and the service's login), which the manager's daemon pins to the
// registry's digest, read back and removed. docker creates it unpinned, with a warning, when
// the registry cannot be reached or refuses the login: that is a failed check.
func (j *Job) resolve(ctx context.Context, r *operation.Result, service, tag, running string, s Settings) (operation.Step, string, error) {
	env, done, err := j.privateConfig(s)
	if err != nil {
		return operation.Step{Name: "resolve", Error: err.Error()}, "", fmt.Errorf("check %s: %w", service, err)
	}
	defer done()
	if s.RegistryAuth {
		step, err := j.login(ctx, env, s.Registry)
		r.Steps = append(r.Steps, step)
		if err != nil {
			return operation.Step{Name: "resolve", Error: "not started: the registry login failed", Details: map[string]string{"image": tag}}, "", err
		}
	}
	started := time.Now()
	st := operation.Step{Name: "resolve", Details: map[string]string{"image": tag, "runningDigest": running}}
	if running == "" {
		st.Details["runningDigest"] = "none (the service's image is not pinned to a digest)"
	}
	fail := func(err error) (operation.Step, string, error) {
		err = operation.MaskErr(j.Secrets, err)
		st.Duration, st.Error = operation.Since(started), err.Error()
		return st, "", err
	}
	name := helper.Name("update-check", service, "resolve", "")
	probe, err := j.Swarm.CreateProbe(ctx, swarm.Probe{Name: name, Image: tag, Env: env, Timeout: probeTimeout,
		Labels: []swarm.Label{{Key: helper.LabelHelper, Value: "true"}, {Key: helper.LabelLock, Value: operation.LockKeyService(service)},
			{Key: helper.LabelAction, Value: OpCheck}, {Key: helper.LabelStep, Value: "resolve"},
			{Key: helper.LabelInstance, Value: cmp.Or(j.Config.Instance, parse.DefaultInstance)}, {Key: helper.LabelRun, Value: operation.RunOf(ctx)}}})
	if probe.DryRun {
		st.OK, st.Duration = true, operation.Since(started)
		st.Details["outcome"] = "dry-run"
		return st, "", nil
	}
	if probe.ID != "" || err == nil {
		defer func() {
			// Removed also when the check was canceled: a probe left behind is only found by the
			// next claim of the service's lock.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probeTimeout)
			defer cancel()
			if err := j.Swarm.Remove(rctx, cmp.Or(probe.ID, name)); err != nil {
				j.Log.Error("remove update-check probe", "probe", name, "err", j.Secrets.For(ctx).Mask(err.Error()))
			}
		}()
	}
	if err != nil {
		return fail(fmt.Errorf("check %s: ask the registry for %s's digest (docker service create --replicas 0 %s): %w", service, tag, tag, err))
	}
	pinned, err := j.Swarm.Service(ctx, name)
	if err != nil {
		return fail(fmt.Errorf("check %s: read the probe's pinned image: %w", service, err))
	}
	digest := imageDigest(pinned.Image)
	if digest == "" {
		why := strings.Join(strings.Fields(probe.Warning), " ")
		if why == "" {
			why = "docker recorded no digest"
		}
		return fail(operation.Errorf(operation.KindDocker, "check %s: the registry did not give %s's digest (unreachable, or the login was refused), the service is not touched: %s", service, tag, why))
	}
	st.Details["registryDigest"] = digest
	st.Details["outcome"] = ChangeUnchanged
	if digest != running {
		st.Details["outcome"] = "changed"
		st.Details["newImage"] = tag + "@" + digest
	}
	st.OK, st.Duration = true, operation.Since(started)
	return st, digest, nil
}
