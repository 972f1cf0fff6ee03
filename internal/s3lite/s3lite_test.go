package s3lite

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testAccessKey = "test-access-key"
	testSecretKey = "test-secret-key-do-not-leak"
)

// fakeS3 is an in-process path-style S3 that checks every request's SigV4
// signature the way a server does (from the decoded path, re-encoded) and
// pages listings pageSize keys at a time.
type fakeS3 struct {
	t        *testing.T
	secret   string
	pageSize int

	mu       sync.Mutex
	objects  map[string][]byte // "bucket/key" -> body
	modified map[string]time.Time
	payloads []string // X-Amz-Content-Sha256 of each PUT
}

func newFakeS3(t *testing.T) (*fakeS3, *httptest.Server) {
	f := &fakeS3{t: t, secret: testSecretKey, pageSize: 2, objects: map[string][]byte{}, modified: map[string]time.Time{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func writeXMLError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>req-1</RequestId></Error>`, code, msg)
}

func (f *fakeS3) verify(r *http.Request, body []byte) error {
	auth := r.Header.Get("Authorization")
	const prefix = "AWS4-HMAC-SHA256 Credential="
	if !strings.HasPrefix(auth, prefix) {
		return fmt.Errorf("bad Authorization %q", auth)
	}
	parts := strings.Split(strings.TrimPrefix(auth, prefix), ", ")
	if len(parts) != 3 {
		return fmt.Errorf("bad Authorization %q", auth)
	}
	cred := strings.Split(parts[0], "/")
	if len(cred) != 5 || cred[0] != testAccessKey || cred[2] != "us-east-1" || cred[3] != "s3" {
		return fmt.Errorf("bad credential %q", parts[0])
	}
	signed := strings.Split(strings.TrimPrefix(parts[1], "SignedHeaders="), ";")
	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	if payloadHash != unsignedPayload && payloadHash != hexSHA256(body) {
		return fmt.Errorf("payload hash %s does not match the body", payloadHash)
	}
	var hdrs strings.Builder
	for _, name := range signed {
		v := r.Header.Get(name)
		if name == "host" {
			v = r.Host
		}
		hdrs.WriteString(name + ":" + strings.TrimSpace(v) + "\n")
	}
	canonical := strings.Join([]string{r.Method, uriEncode(r.URL.Path, false), canonicalQueryFromRaw(r.URL.RawQuery),
		hdrs.String(), strings.Join(signed, ";"), payloadHash}, "\n")
	amzDate := r.Header.Get("X-Amz-Date")
	scope := cred[1] + "/us-east-1/s3/aws4_request"
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hexSHA256([]byte(canonical))
	k := hmacSHA256([]byte("AWS4"+f.secret), cred[1])
	k = hmacSHA256(k, "us-east-1")
	k = hmacSHA256(k, "s3")
	k = hmacSHA256(k, "aws4_request")
	want := fmt.Sprintf("%x", hmacSHA256(k, sts))
	if got := strings.TrimPrefix(parts[2], "Signature="); got != want {
		return fmt.Errorf("signature mismatch for canonical request:\n%s", canonical)
	}
	return nil
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := f.verify(r, body); err != nil {
		f.t.Logf("fake s3: %v", err)
		writeXMLError(w, http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
		return
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if bucket != "bucket" {
		writeXMLError(w, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodPut && key != "":
		f.objects[bucket+"/"+key] = body
		f.modified[bucket+"/"+key] = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
		f.payloads = append(f.payloads, r.Header.Get("X-Amz-Content-Sha256"))
	case r.Method == http.MethodGet && key != "":
		data, ok := f.objects[bucket+"/"+key]
		if !ok {
			writeXMLError(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
			return
		}
		w.Write(data)
	case r.Method == http.MethodDelete && key != "":
		delete(f.objects, bucket+"/"+key)
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet && key == "" && r.URL.Query().Get("list-type") == "2":
		f.list(w, bucket, r.URL.Query())
	default:
		writeXMLError(w, http.StatusNotImplemented, "NotImplemented", "not in the fake")
	}
}

func (f *fakeS3) list(w http.ResponseWriter, bucket string, q url.Values) {
	var keys []string
	for full := range f.objects {
		key := strings.TrimPrefix(full, bucket+"/")
		if strings.HasPrefix(key, q.Get("prefix")) {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	start := 0
	if tok := q.Get("continuation-token"); tok != "" {
		start, _ = strconv.Atoi(strings.TrimPrefix(tok, "tok-"))
	}
	end := min(start+f.pageSize, len(keys))
	type content struct {
		Key          string
		Size         int64
		LastModified string
	}
	result := struct {
		XMLName               xml.Name `xml:"ListBucketResult"`
		IsTruncated           bool
		NextContinuationToken string `xml:",omitempty"`
		Contents              []content
	}{IsTruncated: end < len(keys)}
	if result.IsTruncated {
		result.NextContinuationToken = "tok-" + strconv.Itoa(end)
	}
	for _, k := range keys[start:end] {
		result.Contents = append(result.Contents, content{k, int64(len(f.objects[bucket+"/"+k])), f.modified[bucket+"/"+k].Format(time.RFC3339Nano)})
	}
	w.Header().Set("Content-Type", "application/xml")
	xml.NewEncoder(w).Encode(result)
}

func newTestClient(srv *httptest.Server, secret string) *Client {
	return New(strings.TrimPrefix(srv.URL, "http://"), false, testAccessKey, secret, "")
}

// onlyReader hides any Seek method so PutObject must stream unsigned.
type onlyReader struct{ io.Reader }

func TestRoundTrip(t *testing.T) {
	f, srv := newFakeS3(t)
	c := newTestClient(srv, testSecretKey)
	ctx := context.Background()

	objects := map[string]string{
		"svc/backup-1.tar.gz":     "one",
		"svc/backup 2 ü+$.tar.gz": "two, with a key that needs encoding",
		"svc/sub/backup-3.tar.gz": "three",
		"other/backup-4.tar.gz":   "four",
		"svc/empty":               "",
	}
	for key, body := range objects {
		if err := c.PutObject(ctx, "bucket", key, strings.NewReader(body), int64(len(body))); err != nil {
			t.Fatalf("PutObject %q: %v", key, err)
		}
	}
	// A body that cannot seek is streamed with UNSIGNED-PAYLOAD.
	if err := c.PutObject(ctx, "bucket", "svc/streamed", onlyReader{strings.NewReader("streamed")}, 8); err != nil {
		t.Fatalf("PutObject streamed: %v", err)
	}
	objects["svc/streamed"] = "streamed"
	var unsigned int
	for _, p := range f.payloads {
		if p == unsignedPayload {
			unsigned++
		}
	}
	if unsigned != 1 {
		t.Errorf("%d PUTs used UNSIGNED-PAYLOAD, want exactly the streamed one (payloads %v)", unsigned, f.payloads)
	}

	for key, want := range objects {
		got, err := c.GetObject(ctx, "bucket", key)
		if err != nil {
			t.Fatalf("GetObject %q: %v", key, err)
		}
		if string(got) != want {
			t.Errorf("GetObject %q = %q, want %q", key, got, want)
		}
	}

	// Five keys under svc/ at two per page: three pages.
	listed, err := c.ListObjects(ctx, "bucket", "svc/")
	if err != nil {
		t.Fatalf("ListObjects: %v", err)
	}
	var keys []string
	for _, o := range listed {
		keys = append(keys, o.Key)
		if int(o.Size) != len(objects[o.Key]) {
			t.Errorf("%q size %d, want %d", o.Key, o.Size, len(objects[o.Key]))
		}
		if !o.LastModified.Equal(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)) {
			t.Errorf("%q LastModified %v", o.Key, o.LastModified)
		}
	}
	wantKeys := []string{"svc/backup 2 ü+$.tar.gz", "svc/backup-1.tar.gz", "svc/empty", "svc/streamed", "svc/sub/backup-3.tar.gz"}
	if strings.Join(keys, "|") != strings.Join(wantKeys, "|") {
		t.Errorf("listed %q, want %q", keys, wantKeys)
	}

	if err := c.DeleteObject(ctx, "bucket", "svc/backup 2 ü+$.tar.gz"); err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}
	_, err = c.GetObject(ctx, "bucket", "svc/backup 2 ü+$.tar.gz")
	if !IsNotFound(err) {
		t.Fatalf("GetObject after delete: %v, want not found", err)
	}
	var se *Error
	if !errors.As(err, &se) || se.Code != "NoSuchKey" || se.StatusCode != 404 || se.Message == "" {
		t.Errorf("error %#v lacks the S3 code, status or message", se)
	}
	listed, err = c.ListObjects(ctx, "bucket", "nothing-here/")
	if err != nil || len(listed) != 0 {
		t.Errorf("empty listing = %v, %v", listed, err)
	}
}

func TestErrorsCarryS3CodeAndNeverTheSecret(t *testing.T) {
	_, srv := newFakeS3(t)
	wrongSecret := "wrong-secret-XYZ"
	bad := newTestClient(srv, wrongSecret)
	good := newTestClient(srv, testSecretKey)
	ctx := context.Background()

	tests := []struct {
		name   string
		call   func() error
		status int
		code   string
		secret string
	}{
		{"put with wrong secret", func() error {
			return bad.PutObject(ctx, "bucket", "k", strings.NewReader("x"), 1)
		}, 403, "SignatureDoesNotMatch", wrongSecret},
		{"list with wrong secret", func() error {
			_, err := bad.ListObjects(ctx, "bucket", "")
			return err
		}, 403, "SignatureDoesNotMatch", wrongSecret},
		{"delete in missing bucket", func() error {
			return good.DeleteObject(ctx, "nope", "k")
		}, 404, "NoSuchBucket", testSecretKey},
		{"get missing key", func() error {
			_, err := good.GetObject(ctx, "bucket", "missing")
			return err
		}, 404, "NoSuchKey", testSecretKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not an *s3lite.Error", err)
			}
			if se.StatusCode != tt.status || se.Code != tt.code {
				t.Errorf("got HTTP %d %s, want %d %s", se.StatusCode, se.Code, tt.status, tt.code)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.code) || !strings.Contains(msg, strconv.Itoa(tt.status)) {
				t.Errorf("message %q lacks code or status", msg)
			}
			for _, text := range []string{msg, fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				if strings.Contains(text, tt.secret) {
					t.Errorf("error text contains the secret key: %s", text)
				}
			}
		})
	}
	for _, text := range []string{fmt.Sprint(bad), fmt.Sprintf("%v", bad), fmt.Sprintf("%+v", bad), fmt.Sprintf("%#v", bad)} {
		if strings.Contains(text, wrongSecret) {
			t.Errorf("client formats with its secret: %s", text)
		}
	}
}

func TestTransportErrorNeverTheSecret(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	endpoint := strings.TrimPrefix(srv.URL, "http://")
	srv.Close() // nothing listens there any more
	c := New(endpoint, false, testAccessKey, testSecretKey, "")
	err := c.PutObject(context.Background(), "bucket", "k", bytes.NewReader([]byte("x")), 1)
	if err == nil {
		t.Fatal("PutObject to a closed port succeeded")
	}
	if strings.Contains(err.Error(), testSecretKey) {
		t.Errorf("error contains the secret: %v", err)
	}
	if !strings.Contains(err.Error(), "bucket/k") {
		t.Errorf("error %q does not say what failed", err)
	}
}

func TestPutObjectRejectsShortBody(t *testing.T) {
	_, srv := newFakeS3(t)
	c := newTestClient(srv, testSecretKey)
	err := c.PutObject(context.Background(), "bucket", "k", strings.NewReader("abc"), 10)
	if err == nil {
		t.Fatal("PutObject with a body shorter than size succeeded")
	}
}

func TestInvalidNames(t *testing.T) {
	c := New("127.0.0.1:1", false, "a", "s", "")
	ctx := context.Background()
	if err := c.PutObject(ctx, "", "k", strings.NewReader(""), 0); err == nil {
		t.Error("empty bucket accepted")
	}
	if err := c.DeleteObject(ctx, "b", ""); err == nil {
		t.Error("empty key accepted by DeleteObject (it would address the bucket)")
	}
	if _, err := c.GetObject(ctx, "a/b", "k"); err == nil {
		t.Error("bucket with a slash accepted")
	}
}

func TestListObjectsStopsOnRepeatedToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>same</NextContinuationToken></ListBucketResult>`)
	}))
	defer srv.Close()
	c := newTestClient(srv, testSecretKey)
	if _, err := c.ListObjects(context.Background(), "bucket", ""); err == nil {
		t.Fatal("a server repeating its continuation token made ListObjects loop or succeed")
	}
}
