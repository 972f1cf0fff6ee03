package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
)

// MaxBodyBytes bounds every request body; larger ones get 413. Real bodies are ~200 bytes.
const MaxBodyBytes = 64 << 10

// Request bodies. Booleans are json.RawMessage so that an error names its field and so that
// "true"/"false" strings, which shell-built CI bodies often send, are accepted too.
type serviceRequest struct {
	Token       string          `json:"token"`
	ServiceName string          `json:"serviceName"`
	WaitRes     json.RawMessage `json:"waitRes"`
}

type restoreRequest struct {
	Token        string          `json:"token"`
	ServiceName  string          `json:"serviceName"`
	Backup       string          `json:"backup"`
	SafetyBackup json.RawMessage `json:"safetyBackup"`
	WaitRes      json.RawMessage `json:"waitRes"`
}

type updateRequest struct {
	Token       string          `json:"token"`
	ServiceName string          `json:"serviceName"`
	Image       string          `json:"image"`
	IsForce     json.RawMessage `json:"isForce"`
	WaitRes     json.RawMessage `json:"waitRes"`
}

type nodeRequest struct {
	Token    string          `json:"token"`
	NodeName string          `json:"nodeName"`
	WaitRes  json.RawMessage `json:"waitRes"`
}

// decodeBody reads one JSON object into dst: at most MaxBodyBytes, only dst's fields, each
// spelled exactly and given once, nothing after the object.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) *apiError {
	if r.ContentLength > MaxBodyBytes {
		return tooLarge()
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return tooLarge()
		}
		return errorf(http.StatusBadRequest, "invalid", "read the request body: %v", err)
	}
	if plainKeys(data, fieldNames(dst)) && json.Unmarshal(data, dst) == nil {
		return nil
	}
	// The rules below decide; they also word the refusal. What the fast path may have half
	// decoded goes first.
	reflect.ValueOf(dst).Elem().SetZero()
	return decodeChecked(data, dst)
}

// decodeChecked is decodeBody's full reading of data: checkKeys, then the decoder without
// unknown fields, then nothing after the object.
func decodeChecked(data []byte, dst any) *apiError {
	if e := checkKeys(data, dst); e != nil {
		return e
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err, dst)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errorf(http.StatusBadRequest, "invalid", "the body must be one JSON object; found more data after it")
	}
	return nil
}

// plainKeys tells whether data is a JSON object whose keys are all in allowed, each once and
// written without escapes, as CI bodies are: then json.Unmarshal reads it exactly as
// decodeChecked would (no key can match a field by case, none is repeated or unknown, and
// Unmarshal refuses data after the object), without the token-by-token pass. It does not
// validate the values: Unmarshal does; anything else is left to decodeChecked.
func plainKeys(data []byte, allowed []string) bool {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	if i = skipSpace(data, i+1); i < len(data) && data[i] == '}' {
		return true
	}
	var seen uint64 // a bit per allowed field
	for {
		if i >= len(data) || data[i] != '"' {
			return false
		}
		end := bytes.IndexByte(data[i+1:], '"')
		if end < 0 {
			return false
		}
		key := data[i+1 : i+1+end]
		if bytes.IndexByte(key, '\\') >= 0 {
			return false
		}
		k := -1
		for j, name := range allowed {
			if string(key) == name {
				k = j
				break
			}
		}
		if k < 0 || k >= 64 || seen&(1<<k) != 0 {
			return false
		}
		seen |= 1 << k
		if i = skipSpace(data, i+end+2); i >= len(data) || data[i] != ':' {
			return false
		}
		if i = skipValue(data, skipSpace(data, i+1)); i < 0 {
			return false
		}
		if i = skipSpace(data, i); i >= len(data) {
			return false
		}
		switch data[i] {
		case '}':
			return true
		case ',':
			i = skipSpace(data, i+1)
		default:
			return false
		}
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just after the JSON value that starts at i (-1 when data ends
// first); for valid JSON only, as plainKeys needs.
func skipValue(data []byte, i int) int {
	depth := 0
	for i < len(data) {
		switch data[i] {
		case '"':
			i++
			for i < len(data) && data[i] != '"' {
				if data[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(data) {
				return -1
			}
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			if depth--; depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	if depth > 0 {
		return -1
	}
	return i
}

// fieldNames are dst's JSON field names (fieldList's), read once per type.
func fieldNames(dst any) []string {
	t := reflect.TypeOf(dst)
	if names, ok := fieldNamesByType.Load(t); ok {
		return names.([]string)
	}
	names := strings.Split(fieldList(dst), ", ")
	fieldNamesByType.Store(t, names)
	return names
}

var fieldNamesByType sync.Map // reflect.Type → []string; one entry per request type

// checkKeys rejects what encoding/json lets through: keys that match a field only when case is
// ignored ("servicename") and keys given twice, where the last one silently wins. Other
// problems are left to the decoder, which describes them better.
func checkKeys(data []byte, dst any) *apiError {
	allowed := map[string]bool{}
	for _, f := range strings.Split(fieldList(dst), ", ") {
		allowed[f] = true
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		key, _ := tok.(string)
		switch {
		case !allowed[key]:
			return errorf(http.StatusBadRequest, "invalid", "unknown field %.64q: the allowed fields are %s (names are case-sensitive)", key, fieldList(dst))
		case seen[key]:
			return errorf(http.StatusBadRequest, "invalid", "field %.64q is given more than once", key)
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	return nil
}

func tooLarge() *apiError {
	return errorf(http.StatusRequestEntityTooLarge, kindTooLarge, "request body is larger than %d bytes (64 KiB)", MaxBodyBytes)
}

func decodeError(err error, dst any) *apiError {
	var (
		maxErr    *http.MaxBytesError
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	bad := func(format string, args ...any) *apiError {
		return errorf(http.StatusBadRequest, "invalid", format, args...)
	}
	switch {
	case errors.As(err, &maxErr):
		return tooLarge()
	case errors.Is(err, io.EOF):
		return bad("the request body is empty: send a JSON object with the fields %s", fieldList(dst))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return bad("malformed JSON: the body ends before the object is complete")
	case errors.As(err, &syntaxErr):
		return bad("malformed JSON at byte %d: %s", syntaxErr.Offset, syntaxErr.Error())
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return bad("the body must be a JSON object with the fields %s, not a JSON %s", fieldList(dst), typeErr.Value)
		}
		return bad("field %q must be a JSON %s, not %s", typeErr.Field, jsonType(typeErr.Type), typeErr.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return bad("unknown field %s: the allowed fields are %s", name, fieldList(dst))
	}
	return bad("malformed JSON: %v", err)
}

// fieldList names dst's JSON fields, for error messages.
func fieldList(dst any) string {
	t := reflect.TypeOf(dst)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return ""
	}
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); tag != "" && tag != "-" {
			names = append(names, tag)
		}
	}
	return strings.Join(names, ", ")
}

func jsonType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice:
		return "array or value"
	}
	return t.String()
}

// flag reads an optional boolean field: absent or null gives def; true, false, "true" and
// "false" are accepted.
func flag(name string, raw json.RawMessage, def bool) (bool, *apiError) {
	v := bytes.TrimSpace(raw)
	switch string(v) {
	case "", "null":
		return def, nil
	case "true", `"true"`:
		return true, nil
	case "false", `"false"`:
		return false, nil
	}
	shown := string(v)
	if len(shown) > 40 {
		shown = shown[:40] + "..."
	}
	return false, errorf(http.StatusBadRequest, "invalid", "field %q must be true or false, got %s", name, shown)
}

// required reports the missing (empty) fields in one 400.
func required(fields ...[2]string) *apiError {
	var missing []string
	for _, f := range fields {
		if f[1] == "" {
			missing = append(missing, f[0])
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return errorf(http.StatusBadRequest, "invalid", "missing required field(s): %s", strings.Join(missing, ", "))
}

// validImage rejects image references that cannot be one: docker would read a leading "-" as a
// flag, and spaces or control characters are never part of a reference. The full grammar is
// checked by update-service.
func validImage(image string) *apiError {
	if strings.HasPrefix(image, "-") || len(image) > 512 || strings.IndexFunc(image, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return errorf(http.StatusBadRequest, "invalid", "field \"image\" is not an image reference: %s", fmt.Sprintf("%.80q", image))
	}
	return nil
}
