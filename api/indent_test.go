package api

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/operation"
)

// appendIndented must write exactly what json.Indent writes, for every compact JSON text that
// encoding/json produces.
func TestAppendIndentedIsJSONIndent(t *testing.T) {
	cases := []struct {
		name string
		v    any
	}{
		{"empty object and array", map[string]any{"a": map[string]any{}, "b": []int{}, "c": struct{}{}}},
		{"nested", map[string]any{"x": []any{1, "two", nil, true, map[string]any{"y": []any{[]any{}, 2.5}}}}},
		{"punctuation in strings", map[string]string{`{"a":[1,2]}`: `x, y: {z} [w] \"q\" \\`, "é\u2028<>&": "\t\n"}},
		{"a string ending in backslashes", []string{`\`, `\\`, `"`, `a\"b`}},
		{"scalars", []any{0, -1.5e-9, "", false}},
		{"top-level string", `"quoted" {not an object}`},
		{"an operation result", operation.Result{Operation: OpCleanService, Target: "shop_web", OK: true, Duration: operation.Duration(time.Second),
			Steps: []operation.Step{{Name: "exec", Tasks: []operation.TaskResult{{TaskID: "t1", Logs: "line 1\nline {2}, [3]: \"4\""}}}}}},
		{"an error body", errorBody{OK: false, Error: `field "token": bad`, ErrorKind: "invalid", Status: 400}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			compact, err := json.Marshal(c.v)
			if err != nil {
				t.Fatal(err)
			}
			checkIndented(t, compact)
		})
	}
}

func FuzzAppendIndented(f *testing.F) {
	for _, s := range []string{`{"a":[1,{"b":"}\\\""},[]],"c":{}}`, `[]`, `"x"`, `{"":""}`, `[[[[1]]],{"k":null}]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var compact bytes.Buffer
		if json.Compact(&compact, []byte(s)) != nil {
			return // only valid JSON, compact as encoding/json writes it, is ever indented
		}
		checkIndented(t, compact.Bytes())
	})
}

func checkIndented(t *testing.T, compact []byte) {
	t.Helper()
	var want bytes.Buffer
	if err := json.Indent(&want, compact, "", "  "); err != nil {
		t.Fatal(err)
	}
	if got := appendIndented([]byte("prefix:"), compact); string(got) != "prefix:"+want.String() {
		t.Errorf("appendIndented(%s) =\n%s\nwant\n%s", compact, got[len("prefix:"):], want.String())
	}
}
