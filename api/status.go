package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/swarm-utils/swarm-utils/operation"
	"net/http"
	"sync"

	"github.com/swarm-utils/swarm-utils/api/authz"
)

// StatusFor maps an operation's error Kind to the HTTP status of its response.
//
// KindConfig is 422, like KindImpossible: the request was well formed and authorised, but the
// target cannot be acted on until an operator sets what is missing (the Result's error names the
// variable and the label that would fix it). 500 would page the swarm-utils maintainers for what
// is a deployment setting, and 400 would blame the CI call, which cannot fix it either.
func StatusFor(k operation.Kind) int {
	switch k {
	case "":
		return http.StatusOK
	case operation.KindNotFound:
		return http.StatusNotFound
	case operation.KindBusy:
		return http.StatusConflict
	case operation.KindInvalid:
		return http.StatusBadRequest
	case operation.KindImpossible, operation.KindConfig:
		return http.StatusUnprocessableEntity
	case operation.KindTimeout:
		return http.StatusGatewayTimeout
	case operation.KindDocker:
		return http.StatusBadGateway
	case operation.KindForbidden:
		return http.StatusForbidden
	case operation.KindCanceled:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// resultStatus is the status of an operation's response: 200 when it succeeded (or had
// nothing to do), else its Kind's status; a failure without a Kind is an internal error.
func resultStatus(r operation.Result) int {
	if r.OK {
		return http.StatusOK
	}
	if r.ErrorKind == "" {
		return http.StatusInternalServerError
	}
	return StatusFor(r.ErrorKind)
}

// Kinds of request errors beyond operation.Kind, for the errorKind field of error bodies.
const (
	kindUnauthorized = authz.KindUnauthorized
	kindTooLarge     = "too_large"
	kindTooMany      = "too_many"
	kindInternal     = "internal"
	kindUnavailable  = authz.KindUnavailable
)

// apiError is a request that failed before (or instead of) an operation: a JSON body a CI log
// reader understands, and its status.
type apiError struct {
	Status int
	Kind   string
	Msg    string
}

func (e *apiError) Error() string { return e.Msg }

func errorf(status int, kind string, format string, args ...any) *apiError {
	return &apiError{Status: status, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// fromErr turns an error of a Targets call (inspect, list) into an apiError by its Kind.
func fromErr(what string, err error) *apiError {
	k := operation.KindOf(err)
	return &apiError{Status: StatusFor(k), Kind: string(k), Msg: what + ": " + err.Error()}
}

// fromAuth is an authorisation refusal as a request error; nil stays nil.
func fromAuth(e *authz.Error) *apiError {
	switch {
	case e == nil:
		return nil
	case e.Err != nil:
		return fromErr(e.Msg, e.Err)
	}
	return &apiError{Status: e.Status, Kind: e.Kind, Msg: e.Msg}
}

// errorBody is the JSON of every error response that is not an operation's Result. It has the
// same ok/error/errorKind fields as a Result so that scripts read both alike.
type errorBody struct {
	OK        bool   `json:"ok"`
	Error     string `json:"error"`
	ErrorKind string `json:"errorKind"`
	Status    int    `json:"status"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Status, errorBody{OK: false, Error: e.Msg, ErrorKind: e.Kind, Status: e.Status})
}

// writeJSON answers v indented, as json.MarshalIndent(v, "", "  ") and a newline.
func writeJSON(w http.ResponseWriter, status int, v any) {
	rb := responseBuffers.Get().(*responseBuffer)
	defer rb.release()
	body := encodeFailed
	if err := rb.enc.Encode(v); err == nil {
		body = rb.buf.Bytes()
	} else {
		status = http.StatusInternalServerError
	}
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	h["Cache-Control"] = noStore
	h["X-Content-Type-Options"] = noSniff
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// The headers of every JSON answer, shared: net/http only reads them.
var (
	encodeFailed    = []byte(`{"ok":false,"error":"encode response failed","errorKind":"internal","status":500}` + "\n")
	contentTypeJSON = []string{"application/json; charset=utf-8"}
	noStore         = []string{"no-store"}
	noSniff         = []string{"nosniff"}
)

// responseBuffer is an encoder and its buffer, reused across answers (sync.Pool): an answer
// costs no fresh buffer for the JSON and none for its indentation.
type responseBuffer struct {
	buf bytes.Buffer
	enc *json.Encoder
}

// maxPooledResponse is the largest buffer kept for reuse: a long listing's is let go, so the
// pool holds small buffers only.
const maxPooledResponse = 64 << 10

var responseBuffers = sync.Pool{New: func() any {
	rb := &responseBuffer{}
	rb.enc = json.NewEncoder(&rb.buf)
	rb.enc.SetIndent("", "  ")
	return rb
}}

func (rb *responseBuffer) release() {
	if rb.buf.Cap() > maxPooledResponse {
		return
	}
	rb.buf.Reset()
	responseBuffers.Put(rb)
}
