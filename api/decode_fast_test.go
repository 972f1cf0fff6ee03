package api

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The fast path of decodeBody (plainKeys, then json.Unmarshal) must accept only what the full
// reading (decodeChecked) accepts, with the same result; what it declines, decodeChecked
// decides and words.
func TestDecodeFastPathAgreesWithTheFullReading(t *testing.T) {
	cases := []struct {
		name string
		body string
		fast bool // taken by the fast path
	}{
		{"plain", `{"token":"t","serviceName":"shop_web"}`, true},
		{"spaces everywhere", " \n{ \"token\" :\t\"t\" , \"serviceName\" : \"a\" }\r\n", true},
		{"empty object", `{}`, true},
		{"flag as string and as bool", `{"serviceName":"a","waitRes":"false"}`, true},
		{"flag as object", `{"serviceName":"a","waitRes":{"x":["}",1]}}`, true},
		{"escaped value", `{"serviceName":"a\"b\\","token":"\u0074"}`, true},
		{"escaped key", `{"serv\u0069ceName":"a"}`, false},
		{"key by case", `{"servicename":"a"}`, false},
		{"repeated key", `{"serviceName":"a","serviceName":"b"}`, false},
		{"unknown key", `{"serviceName":"a","force":true}`, false},
		{"two objects", `{"serviceName":"a"}{"serviceName":"b"}`, false},
		{"data after", `{"serviceName":"a"} x`, false},
		{"wrong type", `{"serviceName":1}`, false},
		{"not an object", `["serviceName"]`, false},
		{"null", `null`, false},
		{"empty", ``, false},
		{"cut short", `{"serviceName":"a"`, false},
		{"cut in a string", `{"serviceName":"a`, false},
		{"missing colon", `{"serviceName" "a"}`, false},
		{"trailing comma", `{"serviceName":"a",}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fast, full := checkFastPath(t, c.body)
			if fast != c.fast {
				t.Errorf("fast path taken: %v, want %v", fast, c.fast)
			}
			if fast && !full {
				t.Errorf("the fast path accepted %q, which the full reading refuses", c.body)
			}
		})
	}
}

// FuzzDecodeFastPath: for any body, the fast path accepts only what the full reading accepts,
// with the same fields.
func FuzzDecodeFastPath(f *testing.F) {
	for _, s := range []string{`{"token":"t","serviceName":"a","waitRes":false}`, `{"image":"x","isForce":"true"}`,
		`{"serviceName":"a\"","waitRes":[{"}":"]"}]}`, `{"nodeName":"n"} `, `{"serviceName":"a",}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if fast, full := checkFastPath(t, body); fast && !full {
			t.Fatalf("the fast path accepted %q, which the full reading refuses", body)
		}
	})
}

// checkFastPath decodes body into each request type both ways; fast tells whether the fast
// path took it (for serviceRequest), full whether the full reading accepted it. Where both
// accept, they must agree on every field.
func checkFastPath(t *testing.T, body string) (fast, full bool) {
	t.Helper()
	for i, pair := range [][2]any{{&serviceRequest{}, &serviceRequest{}}, {&updateRequest{}, &updateRequest{}},
		{&restoreRequest{}, &restoreRequest{}}, {&nodeRequest{}, &nodeRequest{}}} {
		byFast, byFull := pair[0], pair[1]
		took := plainKeys([]byte(body), fieldNames(byFast)) && jsonUnmarshalOK(body, byFast)
		accepted := decodeChecked([]byte(body), byFull) == nil
		if took && !accepted {
			return true, false
		}
		if took && !reflect.DeepEqual(byFast, byFull) {
			t.Fatalf("%q: fast path read %+v, full reading %+v", body, byFast, byFull)
		}
		if i == 0 {
			fast, full = took, accepted
		}
	}
	return fast, full
}

func jsonUnmarshalOK(body string, dst any) bool { return json.Unmarshal([]byte(body), dst) == nil }
