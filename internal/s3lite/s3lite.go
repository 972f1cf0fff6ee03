// Package s3lite is a minimal S3 client (standard library only): AWS
// Signature V4, path-style URLs (scheme://endpoint/bucket/key), and the four
// object calls swarm-utils and its test uploader need. It is deliberately
// small: no multipart uploads, no retries, no virtual-host addressing.
package s3lite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultRegion is used when New is given an empty region.
const DefaultRegion = "us-east-1"

// maxErrorBody bounds how much of an error response is read for its XML.
const maxErrorBody = 64 << 10

// Client talks to one S3 endpoint with one set of credentials.
type Client struct {
	endpoint  string // host[:port], no scheme
	scheme    string // "http" or "https"
	accessKey string
	secretKey string
	region    string

	// HTTPClient sends the requests; replace it to tune transport or timeouts.
	HTTPClient *http.Client

	now func() time.Time // overridable clock for tests
}

// Object is one entry of a listing.
type Object struct {
	Key          string
	Size         int64
	LastModified time.Time
}

// Error is a failed S3 call: the HTTP status plus, when the server sent one,
// the S3 error Code and Message. It never carries credentials.
type Error struct {
	Op         string // "PutObject", "GetObject", ...
	Bucket     string
	Key        string
	StatusCode int
	Code       string
	Message    string
	RequestID  string
}

func (e *Error) Error() string {
	target := e.Bucket
	if e.Key != "" {
		target += "/" + e.Key
	}
	msg := fmt.Sprintf("s3 %s %s: HTTP %d", e.Op, target, e.StatusCode)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.RequestID != "" {
		msg += " (request id " + e.RequestID + ")"
	}
	return msg
}

// IsNotFound reports whether err is an S3 NoSuchKey/NoSuchBucket or a 404.
func IsNotFound(err error) bool {
	var se *Error
	if !errors.As(err, &se) {
		return false
	}
	return se.StatusCode == http.StatusNotFound || se.Code == "NoSuchKey" || se.Code == "NoSuchBucket"
}

// New returns a client for endpoint (host[:port], no scheme; a scheme or
// trailing slash given by mistake is stripped). https selects the scheme.
// An empty region means DefaultRegion.
func New(endpoint string, https bool, accessKey, secretKey, region string) *Client {
	endpoint = strings.TrimPrefix(strings.TrimPrefix(endpoint, "https://"), "http://")
	endpoint = strings.TrimRight(endpoint, "/")
	scheme := "http"
	if https {
		scheme = "https"
	}
	if region == "" {
		region = DefaultRegion
	}
	return &Client{
		endpoint:   endpoint,
		scheme:     scheme,
		accessKey:  accessKey,
		secretKey:  secretKey,
		region:     region,
		HTTPClient: &http.Client{},
		now:        time.Now,
	}
}

// String describes the client without its secret.
func (c *Client) String() string {
	return fmt.Sprintf("s3lite.Client{%s://%s region=%s access_key=%s}", c.scheme, c.endpoint, c.region, c.accessKey)
}

// GoString keeps %#v from printing the secret key.
func (c *Client) GoString() string { return c.String() }

// PutObject uploads size bytes from body to bucket/key. When body is an
// io.ReadSeeker (an *os.File, a *bytes.Reader) the payload is hashed and the
// hash signed; otherwise it is streamed as UNSIGNED-PAYLOAD.
func (c *Client) PutObject(ctx context.Context, bucket, key string, body io.Reader, size int64) error {
	const op = "PutObject"
	if err := checkNames(bucket, key); err != nil {
		return fmt.Errorf("s3 %s: %w", op, err)
	}
	if size < 0 {
		return fmt.Errorf("s3 %s %s/%s: negative size %d", op, bucket, key, size)
	}
	payloadHash := unsignedPayload
	if rs, ok := body.(io.ReadSeeker); ok {
		start, err := rs.Seek(0, io.SeekCurrent)
		if err != nil {
			return fmt.Errorf("s3 %s %s/%s: seek body: %w", op, bucket, key, err)
		}
		h := sha256.New()
		n, err := io.CopyN(h, rs, size)
		if err != nil {
			return fmt.Errorf("s3 %s %s/%s: hash body (%d of %d bytes read): %w", op, bucket, key, n, size, err)
		}
		if _, err := rs.Seek(start, io.SeekStart); err != nil {
			return fmt.Errorf("s3 %s %s/%s: rewind body: %w", op, bucket, key, err)
		}
		payloadHash = hex.EncodeToString(h.Sum(nil))
	}
	var reqBody io.Reader = http.NoBody
	if size > 0 {
		// The limit keeps a longer body from being sent past the declared size.
		reqBody = io.LimitReader(body, size)
	}
	req, err := c.newRequest(ctx, http.MethodPut, bucket, key, nil, reqBody, payloadHash)
	if err != nil {
		return fmt.Errorf("s3 %s %s/%s: %w", op, bucket, key, err)
	}
	req.ContentLength = size
	resp, err := c.do(req)
	if err != nil {
		return fmt.Errorf("s3 %s %s/%s: %w", op, bucket, key, err)
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return responseError(op, bucket, key, resp)
	}
	return nil
}

// GetObject downloads bucket/key into memory.
func (c *Client) GetObject(ctx context.Context, bucket, key string) ([]byte, error) {
	const op = "GetObject"
	if err := checkNames(bucket, key); err != nil {
		return nil, fmt.Errorf("s3 %s: %w", op, err)
	}
	req, err := c.newRequest(ctx, http.MethodGet, bucket, key, nil, http.NoBody, emptyPayloadHash)
	if err != nil {
		return nil, fmt.Errorf("s3 %s %s/%s: %w", op, bucket, key, err)
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, fmt.Errorf("s3 %s %s/%s: %w", op, bucket, key, err)
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, responseError(op, bucket, key, resp)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("s3 %s %s/%s: read body: %w", op, bucket, key, err)
	}
	return data, nil
}

// DeleteObject removes bucket/key. S3 reports success for a missing key too.
func (c *Client) DeleteObject(ctx context.Context, bucket, key string) error {
	const op = "DeleteObject"
	if err := checkNames(bucket, key); err != nil {
		return fmt.Errorf("s3 %s: %w", op, err)
	}
	req, err := c.newRequest(ctx, http.MethodDelete, bucket, key, nil, http.NoBody, emptyPayloadHash)
	if err != nil {
		return fmt.Errorf("s3 %s %s/%s: %w", op, bucket, key, err)
	}
	resp, err := c.do(req)
	if err != nil {
		return fmt.Errorf("s3 %s %s/%s: %w", op, bucket, key, err)
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		return responseError(op, bucket, key, resp)
	}
	return nil
}

type listBucketResult struct {
	IsTruncated           bool   `xml:"IsTruncated"`
	NextContinuationToken string `xml:"NextContinuationToken"`
	Contents              []struct {
		Key          string    `xml:"Key"`
		Size         int64     `xml:"Size"`
		LastModified time.Time `xml:"LastModified"`
	} `xml:"Contents"`
}

// ListObjects returns every object in bucket whose key starts with prefix
// (ListObjectsV2, following continuation tokens), in the server's order.
func (c *Client) ListObjects(ctx context.Context, bucket, prefix string) ([]Object, error) {
	const op = "ListObjects"
	if err := checkNames(bucket, "-"); err != nil {
		return nil, fmt.Errorf("s3 %s: %w", op, err)
	}
	var objects []Object
	token := ""
	for page := 1; ; page++ {
		query := url.Values{"list-type": {"2"}}
		if prefix != "" {
			query.Set("prefix", prefix)
		}
		if token != "" {
			query.Set("continuation-token", token)
		}
		req, err := c.newRequest(ctx, http.MethodGet, bucket, "", query, http.NoBody, emptyPayloadHash)
		if err != nil {
			return nil, fmt.Errorf("s3 %s %s prefix %q: %w", op, bucket, prefix, err)
		}
		resp, err := c.do(req)
		if err != nil {
			return nil, fmt.Errorf("s3 %s %s prefix %q: %w", op, bucket, prefix, err)
		}
		if resp.StatusCode != http.StatusOK {
			err := responseError(op, bucket, "", resp)
			drainClose(resp.Body)
			return nil, err
		}
		var result listBucketResult
		err = xml.NewDecoder(resp.Body).Decode(&result)
		drainClose(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("s3 %s %s prefix %q: decode page %d: %w", op, bucket, prefix, page, err)
		}
		for _, o := range result.Contents {
			objects = append(objects, Object{Key: o.Key, Size: o.Size, LastModified: o.LastModified})
		}
		if !result.IsTruncated {
			return objects, nil
		}
		if result.NextContinuationToken == "" || result.NextContinuationToken == token {
			return nil, fmt.Errorf("s3 %s %s prefix %q: page %d is truncated but has no new continuation token", op, bucket, prefix, page)
		}
		token = result.NextContinuationToken
	}
}

// checkNames rejects names that would change the request's meaning.
func checkNames(bucket, key string) error {
	if bucket == "" {
		return errors.New("empty bucket name")
	}
	if strings.Contains(bucket, "/") {
		return fmt.Errorf("bucket name %q contains '/'", bucket)
	}
	if key == "" {
		return errors.New("empty object key")
	}
	return nil
}

// newRequest builds a signed path-style request. An empty key addresses the
// bucket itself.
func (c *Client) newRequest(ctx context.Context, method, bucket, key string, query url.Values, body io.Reader, payloadHash string) (*http.Request, error) {
	path := "/" + bucket
	if key != "" {
		path += "/" + key
	}
	u := &url.URL{
		Scheme: c.scheme,
		Host:   c.endpoint,
		Path:   path,
		// RawPath carries SigV4's strict encoding so that what is signed is
		// byte-for-byte what is sent.
		RawPath:  uriEncode(path, false),
		RawQuery: canonicalQuery(query),
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if body == http.NoBody {
		req.ContentLength = 0
	}
	// NewRequest re-parses the URL; restore the exact encodings.
	req.URL.RawPath = u.RawPath
	req.URL.RawQuery = u.RawQuery
	signV4(req, payloadHash, c.accessKey, c.secretKey, c.region, "s3", c.now())
	return req, nil
}

func (c *Client) do(req *http.Request) (*http.Response, error) {
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, scrubURLError(err)
	}
	return resp, nil
}

// scrubURLError keeps transport errors short; the URL holds no secret, but
// the request method and URL are already named by the caller's wrap.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

type errorResponse struct {
	Code      string `xml:"Code"`
	Message   string `xml:"Message"`
	RequestID string `xml:"RequestId"`
}

func responseError(op, bucket, key string, resp *http.Response) error {
	e := &Error{Op: op, Bucket: bucket, Key: key, StatusCode: resp.StatusCode}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var er errorResponse
	if len(bytes.TrimSpace(body)) > 0 && xml.Unmarshal(body, &er) == nil {
		e.Code, e.Message, e.RequestID = er.Code, er.Message, er.RequestID
	}
	if e.Code == "" {
		// HEAD-like or proxy answers have no XML; fall back to the status text.
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxErrorBody))
	_ = body.Close()
}
