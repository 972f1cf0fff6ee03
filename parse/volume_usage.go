package parse

import (
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// VolumeUsageFormat is the --format of `docker system df -v` whose output VolumeUsage reads:
// one compact JSON object per local volume and line (json escapes a newline in a name or
// label, so one volume cannot forge another's row), so that a long listing cut to its tail
// keeps whole rows.
const VolumeUsageFormat = `{{range .Volumes}}{"Name":{{json .Name}},"Driver":{{json .Driver}},"Links":{{json .Links}},"Size":{{json .Size}}}{{println}}{{end}}`

// VolumeUsage is one local volume on a node: how many containers (running or not) use it and
// its size as docker computed it.
type VolumeUsage struct {
	Name   string
	Driver string
	Links  int    // containers using it; -1 when docker did not say
	Size   string // as docker prints it ("20kB"); "" when docker did not say
	Bytes  int64  // Size in bytes; -1 when unknown
}

// VolumeUsageRows reads the output of `docker system df -v --format VolumeUsageFormat`. Lines
// that are not a whole row (a note that the output was cut, the half row after it, docker's
// warnings) are counted in skipped, not fatal: the rows read are still right.
func VolumeUsageRows(out string) (rows []VolumeUsage, skipped int) {
	for line := range strings.SplitSeq(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "{") || !gjson.Valid(line) {
			skipped++
			continue
		}
		o := gjson.Parse(line)
		name := o.Get("Name").String()
		if name == "" {
			skipped++
			continue
		}
		v := VolumeUsage{Name: name, Driver: o.Get("Driver").String(), Links: -1, Bytes: -1}
		if n, err := strconv.Atoi(o.Get("Links").String()); err == nil && n >= 0 {
			v.Links = n
		}
		if s := o.Get("Size").String(); s != "N/A" {
			v.Size, v.Bytes = s, Size(s)
		}
		rows = append(rows, v)
	}
	return rows, skipped
}

// sizeUnits are docker's (go-units HumanSize: decimal, "kB").
var sizeUnits = []struct {
	suffix string
	mult   float64
}{{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3}, {"KB", 1e3}, {"B", 1}}

// Size reads a size as docker prints it ("1.23GB", "0B"); -1 when it cannot.
func Size(s string) int64 {
	s = strings.TrimSpace(s)
	for _, u := range sizeUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil || f < 0 {
				return -1
			}
			return int64(f * u.mult)
		}
	}
	return -1
}
