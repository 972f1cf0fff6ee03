package parse

import (
	"fmt"
	"time"

	"github.com/tidwall/gjson"
)

// ServiceRow is one line of `docker service ls --format json`.
type ServiceRow struct {
	ID, Name string
	Mode     string // "replicated", "global", "replicated job", "global job" as docker prints it
	Replicas string // e.g. "1/1", "0/1 (1/1 completed)"
	Image    string
}

// ServiceLs parses `docker service ls --format json`.
func ServiceLs(out string) ([]ServiceRow, error) {
	const what = "docker service ls"
	objs, err := objects(out, what)
	if err != nil {
		return nil, err
	}
	rows := make([]ServiceRow, 0, len(objs))
	for i, o := range objs {
		id, err := requireString(o, "ID", what, i)
		if err != nil {
			return nil, err
		}
		rows = append(rows, ServiceRow{
			ID:       id,
			Name:     o.Get("Name").String(),
			Mode:     o.Get("Mode").String(),
			Replicas: o.Get("Replicas").String(),
			Image:    o.Get("Image").String(),
		})
	}
	return rows, nil
}

// Service modes as ServiceInspect reports them.
const (
	ModeReplicated    = "replicated"
	ModeGlobal        = "global"
	ModeReplicatedJob = "replicated-job"
	ModeGlobalJob     = "global-job"
)

// Mount is one entry of Spec.TaskTemplate.ContainerSpec.Mounts.
type Mount struct {
	Type     string // "volume" | "bind" | "tmpfs" | "npipe" | "cluster"
	Source   string // volume name for Type "volume"; "" for an anonymous volume
	Target   string
	ReadOnly bool
}

// UpdateStatus is a service's last update, if any.
type UpdateStatus struct {
	State       string // "updating", "paused", "completed", "rollback_started", ...
	Message     string
	StartedAt   time.Time
	CompletedAt time.Time // zero while still running
}

// Service is one element of `docker service inspect`.
type Service struct {
	ID, Name, Image string            // Image = Spec.TaskTemplate.ContainerSpec.Image
	PreviousImage   string            // PreviousSpec's image, the target of `docker service rollback`; "" when none
	Labels          map[string]string // Spec.Labels (service labels = deploy.labels); never nil
	Mode            string            // ModeReplicated, ModeGlobal, ModeReplicatedJob, ModeGlobalJob
	Replicas        uint64            // for ModeReplicated only
	Mounts          []Mount
	LogDriver       string // Spec.TaskTemplate.LogDriver.Name; "" = daemon default
	Constraints     []string
	UpdateStatus    *UpdateStatus // nil when never updated
	Version         uint64        // Version.Index, for `docker service update` races
}

// ServiceInspect parses `docker service inspect NAME...`.
func ServiceInspect(out string) ([]Service, error) {
	const what = "docker service inspect"
	objs, err := objects(out, what)
	if err != nil {
		return nil, err
	}
	services := make([]Service, 0, len(objs))
	for i, o := range objs {
		id, err := requireString(o, "ID", what, i)
		if err != nil {
			return nil, err
		}
		s, err := service(o, id)
		if err != nil {
			return nil, fmt.Errorf("%s output, service %s: %w", what, id, err)
		}
		services = append(services, s)
	}
	return services, nil
}

func service(o gjson.Result, id string) (Service, error) {
	spec := o.Get("Spec")
	if !spec.IsObject() {
		return Service{}, fmt.Errorf("no Spec")
	}
	s := Service{
		ID:        id,
		Name:      spec.Get("Name").String(),
		Image:     spec.Get("TaskTemplate.ContainerSpec.Image").String(),
		Labels:    stringMap(spec.Get("Labels")),
		LogDriver: spec.Get("TaskTemplate.LogDriver.Name").String(),
		Version:   o.Get("Version.Index").Uint(),

		PreviousImage: o.Get("PreviousSpec.TaskTemplate.ContainerSpec.Image").String(),
	}
	if s.Name == "" {
		return Service{}, fmt.Errorf("no Spec.Name")
	}

	mode := spec.Get("Mode")
	switch {
	case mode.Get("Replicated").Exists():
		s.Mode = ModeReplicated
		s.Replicas = mode.Get("Replicated.Replicas").Uint()
	case mode.Get("Global").Exists():
		s.Mode = ModeGlobal
	case mode.Get("ReplicatedJob").Exists():
		s.Mode = ModeReplicatedJob
	case mode.Get("GlobalJob").Exists():
		s.Mode = ModeGlobalJob
	default:
		return Service{}, fmt.Errorf("unknown Spec.Mode")
	}

	spec.Get("TaskTemplate.ContainerSpec.Mounts").ForEach(func(_, m gjson.Result) bool {
		s.Mounts = append(s.Mounts, Mount{
			Type:     m.Get("Type").String(),
			Source:   m.Get("Source").String(),
			Target:   m.Get("Target").String(),
			ReadOnly: m.Get("ReadOnly").Bool(),
		})
		return true
	})
	spec.Get("TaskTemplate.Placement.Constraints").ForEach(func(_, c gjson.Result) bool {
		s.Constraints = append(s.Constraints, c.String())
		return true
	})

	if us := o.Get("UpdateStatus"); us.IsObject() {
		started, err := timeAt(us, "StartedAt")
		if err != nil {
			return Service{}, fmt.Errorf("UpdateStatus.%w", err)
		}
		completed, err := timeAt(us, "CompletedAt")
		if err != nil {
			return Service{}, fmt.Errorf("UpdateStatus.%w", err)
		}
		s.UpdateStatus = &UpdateStatus{
			State:       us.Get("State").String(),
			Message:     us.Get("Message").String(),
			StartedAt:   started,
			CompletedAt: completed,
		}
	}
	return s, nil
}
