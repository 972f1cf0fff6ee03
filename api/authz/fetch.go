package authz

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

const (
	maxOIDCDocBytes  = 1 << 20
	oidcFetchTimeout = 10 * time.Second
	// OIDCRefetchEvery is the least time between two requests for one issuer URL (discovery
	// document or keys). go-oidc fetches the keys again for every token it cannot verify (key
	// rotation); this bound keeps tokens with made-up key ids, and a failing issuer, from
	// making swarm-utils hammer it.
	OIDCRefetchEvery = 30 * time.Second
)

// fetcher is the issuers' HTTP transport: https only (http to loopback hosts), bodies of at
// most maxOIDCDocBytes that are JSON, and at most one request per URL every `every`; in
// between it answers with what the last request got, success or failure.
type fetcher struct {
	base  http.RoundTripper
	now   func() time.Time
	every time.Duration

	mu    sync.Mutex
	byURL map[string]*fetched
}

type fetched struct {
	mu       sync.Mutex // held while fetching: concurrent requests wait for one fetch
	at       time.Time
	status   int    // 200, or a redirect the client follows (at most 3)
	location string // of a redirect
	body     []byte // of a 200: JSON
	err      error
}

// fetchError is a failed request to an issuer; its text names the URL, never a token.
type fetchError struct{ msg string }

func (e *fetchError) Error() string { return e.msg }

func newFetcher(now func() time.Time, every time.Duration) *fetcher {
	base := http.DefaultTransport.(*http.Transport).Clone() // honours HTTPS_PROXY
	return &fetcher{base: base, now: now, every: every, byURL: map[string]*fetched{}}
}

func (f *fetcher) entry(url string) *fetched {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.byURL[url]
	if e == nil {
		e = &fetched{}
		f.byURL[url] = e
	}
	return e
}

func (f *fetcher) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := secureURL(req.URL); err != nil {
		return nil, &fetchError{err.Error()}
	}
	if req.Method != http.MethodGet {
		return nil, &fetchError{fmt.Sprintf("%s %s: only GET is sent to issuers", req.Method, req.URL.Redacted())}
	}
	e := f.entry(req.URL.String())
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.at.IsZero() || f.now().Sub(e.at) >= f.every {
		e.at = f.now()
		e.err = f.get(req, e)
	}
	if e.err != nil {
		return nil, e.err
	}
	res := &http.Response{StatusCode: e.status, Status: fmt.Sprintf("%d %s", e.status, http.StatusText(e.status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(e.body)),
		ContentLength: int64(len(e.body)), Request: req}
	if e.location != "" {
		res.Header.Set("Location", e.location)
	} else {
		res.Header.Set("Content-Type", "application/json")
	}
	return res, nil
}

// get sends req and keeps its answer in e: a JSON body of a 200, or a redirect's location.
func (f *fetcher) get(req *http.Request, e *fetched) error {
	shown := req.URL.Redacted()
	e.status, e.location, e.body = 0, "", nil
	req = req.Clone(req.Context())
	req.Header.Set("Accept", "application/json")
	res, err := f.base.RoundTrip(req)
	if err != nil {
		return &fetchError{fmt.Sprintf("GET %s: %v", shown, err)}
	}
	defer res.Body.Close()
	switch res.StatusCode {
	case http.StatusOK:
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		e.status, e.location = res.StatusCode, res.Header.Get("Location")
		return nil
	default:
		return &fetchError{fmt.Sprintf("GET %s: %s", shown, res.Status)}
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxOIDCDocBytes+1))
	switch {
	case err != nil:
		return &fetchError{fmt.Sprintf("GET %s: %v", shown, err)}
	case len(body) > maxOIDCDocBytes:
		return &fetchError{fmt.Sprintf("GET %s: larger than %d bytes", shown, maxOIDCDocBytes)}
	case !json.Valid(body):
		return &fetchError{fmt.Sprintf("GET %s: not JSON", shown)}
	}
	e.status, e.body = http.StatusOK, body
	return nil
}

// publishedKey tells whether the key set last fetched from jwksURL has the key kid (a token
// without kid: the set's only key), and its type (RSA, EC, …). It only words refusals.
func (f *fetcher) publishedKey(jwksURL, kid string) (kty string, ok bool) {
	f.mu.Lock()
	e := f.byURL[jwksURL]
	f.mu.Unlock()
	if e == nil {
		return "", false
	}
	e.mu.Lock()
	body := e.body
	e.mu.Unlock()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
			Kty string `json:"kty"`
		} `json:"keys"`
	}
	if json.Unmarshal(body, &set) != nil {
		return "", false
	}
	if kid == "" && len(set.Keys) == 1 {
		return set.Keys[0].Kty, true
	}
	for _, k := range set.Keys {
		if kid != "" && k.Kid == kid {
			return k.Kty, true
		}
	}
	return "", false
}
