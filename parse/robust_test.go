package parse

import (
	"strings"
	"testing"
)

// Inputs shaped like docker's output with the noise docker (or a wrapper) can add.
func TestServiceLsRobustness(t *testing.T) {
	row := func(id, name string) string {
		return `{"ID":"` + id + `","Image":"reg:5000/su/workload:1","Mode":"replicated","Name":"` + name + `","Ports":"","Replicas":"1/1"}`
	}
	tests := []struct {
		name    string
		out     string
		wantIDs []string
		wantErr string
	}{
		{name: "empty", out: "", wantIDs: nil},
		{name: "blank lines", out: "\n\n  \n", wantIDs: nil},
		{name: "one row no newline", out: row("a1", "web"), wantIDs: []string{"a1"}},
		{name: "CRLF", out: row("a1", "web") + "\r\n" + row("b2", "db") + "\r\n", wantIDs: []string{"a1", "b2"}},
		{
			name:    "warnings before and between",
			out:     "WARNING: Error loading config file: /root/.docker/config.json: permission denied\n" + row("a1", "web") + "\n[DEPRECATION NOTICE] something\n\n" + row("b2", "db") + "\n",
			wantIDs: []string{"a1", "b2"},
		},
		{name: "noise after value on same line", out: row("a1", "web") + " trailing\n", wantIDs: []string{"a1"}},
		{name: "only a warning", out: "WARNING: no swarm\n", wantIDs: nil},
		{name: "truncated row", out: row("a1", "web") + "\n" + `{"ID":"b2","Name":` + "\n", wantErr: "line 2: malformed JSON"},
		{name: "object without ID", out: `{"Name":"web"}` + "\n", wantErr: "object 1: no ID"},
		{name: "ID not a string", out: `{"ID":12,"Name":"web"}` + "\n", wantErr: "no ID"},
		{name: "template braces", out: "{{.ID}}\n", wantErr: "malformed JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := ServiceLs(tt.out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rows == nil {
				t.Fatal("rows is nil, want an empty slice")
			}
			var ids []string
			for _, r := range rows {
				ids = append(ids, r.ID)
			}
			if strings.Join(ids, ",") != strings.Join(tt.wantIDs, ",") {
				t.Fatalf("IDs = %v, want %v", ids, tt.wantIDs)
			}
		})
	}
}

func TestInspectArrayRobustness(t *testing.T) {
	const pretty = `[
    {
        "ID": "n1",
        "Spec": {"Labels": {"a": "b"}, "Role": "worker", "Availability": "active"},
        "Description": {"Hostname": "worker-1"}
    },
    {
        "ID": "n2",
        "Spec": {"Labels": {}, "Role": "manager", "Availability": "active"},
        "Description": {"Hostname": "manager"}
    }
]
`
	tests := []struct {
		name    string
		out     string
		want    []string // hostnames
		wantErr string
	}{
		{name: "pretty array", out: pretty, want: []string{"worker-1", "manager"}},
		{name: "empty array", out: "[]\n", want: nil},
		{name: "empty", out: "", want: nil},
		{name: "warning before", out: "WARNING: API is accessible on http://0.0.0.0:2375 without encryption.\n" + pretty, want: []string{"worker-1", "manager"}},
		{name: "bracketed warning before", out: "[WARN] something odd\n" + pretty, want: []string{"worker-1", "manager"}},
		{name: "compact one line", out: `[{"ID":"n1","Spec":{},"Description":{"Hostname":"h1"}}]`, want: []string{"h1"}},
		{name: "two arrays", out: `[{"ID":"n1","Spec":{},"Description":{"Hostname":"h1"}}]` + "\nnoise\n" + `[{"ID":"n2","Spec":{},"Description":{"Hostname":"h2"}}]`, want: []string{"h1", "h2"}},
		{name: "json lines", out: `{"ID":"n1","Spec":{},"Description":{"Hostname":"h1"}}` + "\n" + `{"ID":"n2","Spec":{},"Description":{"Hostname":"h2"}}`, want: []string{"h1", "h2"}},
		{name: "truncated array", out: pretty[:len(pretty)/2], wantErr: "line 1: malformed JSON"},
		{name: "truncated after warning", out: "WARNING: x\n" + pretty[:40], wantErr: "line 2: malformed JSON"},
		{name: "element not an object", out: "[\n  \"n1\"\n]\n", wantErr: "not an object"},
		{name: "no Spec", out: `[{"ID":"n1"}]`, wantErr: "node n1: no Spec"},
		{name: "no ID", out: `[{"Spec":{}}]`, wantErr: "no ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes, err := NodeInspect(tt.out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range nodes {
				got = append(got, n.Hostname)
				if n.Labels == nil {
					t.Errorf("%s: Labels is nil", n.ID)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("hostnames = %v, want %v", got, tt.want)
			}
		})
	}
}

// bufio.Scanner's default 64 KiB token limit must not apply: labels or env can make one
// line of --format json (or a compact inspect array) very long.
func TestLongLines(t *testing.T) {
	long := strings.Repeat("x", 200_000)
	ls := `{"ID":"a1","Name":"web","Image":"` + long + `"}` + "\n" + `{"ID":"b2","Name":"db"}` + "\n"
	rows, err := ServiceLs(ls)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || len(rows[0].Image) != len(long) || rows[1].Name != "db" {
		t.Fatalf("got %d rows, image length %d", len(rows), len(rows[0].Image))
	}

	inspect := `[{"ID":"s1","Spec":{"Name":"web","Labels":{"big":"` + long + `"},"Mode":{"Replicated":{"Replicas":3}},"TaskTemplate":{"ContainerSpec":{"Image":"img"}}}}]`
	svcs, err := ServiceInspect(inspect)
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) != 1 || len(svcs[0].Labels["big"]) != len(long) || svcs[0].Replicas != 3 {
		t.Fatalf("got %+v", svcs)
	}
}

// Errors must not quote the input: inspect output carries tokens in labels.
func TestErrorsDoNotQuoteInput(t *testing.T) {
	const secret = "s3cr3t-token-value"
	out := `[{"ID":"s1","Spec":{"Labels":{"swarm-utils.update.token":"` + secret + `"}` // truncated
	_, err := ServiceInspect(out)
	if err == nil {
		t.Fatal("want an error for truncated JSON")
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("error quotes the input: %v", err)
	}
}
