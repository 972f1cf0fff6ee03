package cleannode

import (
	"fmt"
	"strconv"

	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
)

// imageDetails reports the image step: how many references it removed, and each kept one with
// the rule that kept it ("keep GLOB", "rollback target of SERVICE", "younger than 24h", or
// "in use" for those docker refused).
func imageDetails(d map[string]string, c imageChoice, out string) {
	inUse := refusedInUse(out, c.Remove)
	for ref, rule := range c.Kept {
		d["kept "+ref] = rule
	}
	for _, ref := range inUse {
		d["kept "+ref] = "in use"
	}
	d["removed"] = strconv.Itoa(len(c.Remove) - len(inUse))
}

// dfKinds are the disk-usage types clean-node reports, as docker names them, with their keys.
var dfKinds = []struct{ Type, Key string }{{"Images", "images"}, {"Containers", "containers"}, {"Build Cache", "build-cache"}}

// diskUsageStep reports the node's disk usage before and after (docker's sizes) and what the
// whole clean reclaimed on it; sizes docker did not report are left out.
func diskUsageStep(node string, before, after []parse.DiskUsage) operation.Step {
	st := operation.Step{Name: "disk-usage", Node: node, OK: true, Details: map[string]string{}}
	var total int64
	complete := before != nil && after != nil
	for _, k := range dfKinds {
		b, a := sizeOf(before, k.Type), sizeOf(after, k.Type)
		if b >= 0 {
			st.Details[k.Key+" before"] = humanSize(b)
		}
		if a >= 0 {
			st.Details[k.Key+" after"] = humanSize(a)
		}
		if b < 0 || a < 0 {
			complete = false
		} else if b > a {
			total += b - a
		}
	}
	if complete {
		st.Details["reclaimed"] = humanSize(total)
	}
	return st
}

// sizeOf is the size docker reports for type in bytes, -1 when absent or unreadable.
func sizeOf(df []parse.DiskUsage, typ string) int64 {
	for _, u := range df {
		if u.Type == typ {
			return parse.Size(u.Size)
		}
	}
	return -1
}

// humanSize prints bytes as docker does (four significant digits).
func humanSize(n int64) string {
	f := float64(n)
	for _, u := range []struct {
		suffix string
		mult   float64
	}{{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3}} {
		if f >= u.mult {
			return fmt.Sprintf("%.4g%s", f/u.mult, u.suffix)
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
