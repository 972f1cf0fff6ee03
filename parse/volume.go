package parse

// VolumeRow is one line of `docker volume ls --format json`.
type VolumeRow struct {
	Name, Driver, Scope string
}

// VolumeLs parses `docker volume ls --format json`.
func VolumeLs(out string) ([]VolumeRow, error) {
	const what = "docker volume ls"
	objs, err := objects(out, what)
	if err != nil {
		return nil, err
	}
	rows := make([]VolumeRow, 0, len(objs))
	for i, o := range objs {
		name, err := requireString(o, "Name", what, i)
		if err != nil {
			return nil, err
		}
		rows = append(rows, VolumeRow{
			Name:   name,
			Driver: o.Get("Driver").String(),
			Scope:  o.Get("Scope").String(),
		})
	}
	return rows, nil
}
