package parse

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// objects returns every JSON object in out, in order: objects that start a line (the
// one-per-line `--format json` output) and the elements of arrays that start a line (inspect
// output, pretty-printed or not). Any other line is docker noise and is skipped. what names the
// command in errors.
func objects(out, what string) ([]gjson.Result, error) {
	var objs []gjson.Result
	for pos := 0; pos < len(out); {
		end := strings.IndexByte(out[pos:], '\n')
		next := len(out)
		if end >= 0 {
			next = pos + end + 1
		}
		line := strings.TrimSuffix(out[pos:next], "\n")
		indent := len(line) - len(strings.TrimLeft(line, " \t\r\ufeff"))
		kind := jsonStart(line[indent:])
		if kind == 0 {
			pos = next
			continue
		}
		start := pos + indent
		dec := json.NewDecoder(strings.NewReader(out[start:]))
		var raw json.RawMessage
		lineNo := func() int { return 1 + strings.Count(out[:start], "\n") }
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%s output, line %d: malformed JSON: %w", what, lineNo(), err)
		}
		consumed := int(dec.InputOffset())
		v := gjson.Parse(string(raw))
		if kind == '{' {
			objs = append(objs, v)
		} else {
			var bad error
			v.ForEach(func(_, el gjson.Result) bool {
				if !el.IsObject() {
					bad = fmt.Errorf("%s output, line %d: array element is %s, not an object", what, lineNo(), el.Type)
					return false
				}
				objs = append(objs, el)
				return true
			})
			if bad != nil {
				return nil, bad
			}
		}
		// Whatever follows the value on its last line is noise; the loop skips it.
		pos = start + consumed
	}
	return objs, nil
}

// jsonStart tells whether a line (without its indentation) starts a JSON value docker prints:
// '{' for an object, '[' for an array of objects, 0 for anything else. "[DEPRECATION NOTICE]"
// and similar bracketed warnings are not arrays: an array's '[' is followed by '{', ']' or
// the end of the line.
func jsonStart(line string) byte {
	if line == "" {
		return 0
	}
	switch line[0] {
	case '{':
		return '{'
	case '[':
		rest := strings.TrimLeft(line[1:], " \t\r")
		if rest == "" || rest[0] == '{' || rest[0] == ']' {
			return '['
		}
	}
	return 0
}

// requireString returns the string at path, or an error when it is missing or empty; rows
// without their key field are not docker rows.
func requireString(obj gjson.Result, path, what string, index int) (string, error) {
	v := obj.Get(path)
	if v.Type != gjson.String || v.Str == "" {
		return "", fmt.Errorf("%s output, object %d: no %s", what, index+1, path)
	}
	return v.Str, nil
}

// stringMap converts a JSON object of strings (labels) to a map; a missing or null object
// gives an empty, non-nil map so callers can read it without nil checks.
func stringMap(v gjson.Result) map[string]string {
	m := make(map[string]string)
	v.ForEach(func(key, value gjson.Result) bool {
		m[key.String()] = value.String()
		return true
	})
	return m
}

// timeAt parses an RFC 3339 timestamp; missing or empty gives the zero time.
func timeAt(obj gjson.Result, path string) (time.Time, error) {
	v := obj.Get(path)
	if !v.Exists() || v.String() == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v.String())
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// boolField reads a JSON bool, also accepting the string forms "true"/"false".
func boolField(v gjson.Result) bool {
	if v.Type == gjson.String {
		return strings.EqualFold(v.Str, "true")
	}
	return v.Bool()
}
