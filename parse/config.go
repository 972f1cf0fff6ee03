package parse

import (
	"fmt"
	"time"
)

// ConfigObject is one element of `docker config inspect` (swarm-utils' cluster locks).
type ConfigObject struct {
	ID, Name  string
	CreatedAt time.Time
	Labels    map[string]string // Spec.Labels; never nil
}

// ConfigInspect parses `docker config inspect NAME...`.
func ConfigInspect(out string) ([]ConfigObject, error) {
	const what = "docker config inspect"
	objs, err := objects(out, what)
	if err != nil {
		return nil, err
	}
	cfgs := make([]ConfigObject, 0, len(objs))
	for i, o := range objs {
		id, err := requireString(o, "ID", what, i)
		if err != nil {
			return nil, err
		}
		if !o.Get("Spec").IsObject() {
			return nil, fmt.Errorf("%s output, config %s: no Spec", what, id)
		}
		created, _ := time.Parse(time.RFC3339Nano, o.Get("CreatedAt").String())
		cfgs = append(cfgs, ConfigObject{ID: id, Name: o.Get("Spec.Name").String(), CreatedAt: created, Labels: stringMap(o.Get("Spec.Labels"))})
	}
	return cfgs, nil
}
