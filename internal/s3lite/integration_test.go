//go:build integration

package s3lite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// s3FromEnv returns a client for the real S3 server named by SU_S3_URL
// (http://host:port or https://host:port) and the bucket, or skips.
func s3FromEnv(t *testing.T) (*Client, string) {
	t.Helper()
	raw, ak, sk, bucket := os.Getenv("SU_S3_URL"), os.Getenv("SU_S3_ACCESS_KEY"), os.Getenv("SU_S3_SECRET_KEY"), os.Getenv("SU_S3_BUCKET")
	if raw == "" || ak == "" || sk == "" || bucket == "" {
		t.Skip("SU_S3_URL, SU_S3_ACCESS_KEY, SU_S3_SECRET_KEY and SU_S3_BUCKET are not all set")
	}
	// The bed gives host:port, like SWARM_UTILS_S3_URL; a scheme is accepted too.
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		t.Fatalf("SU_S3_URL %q is not a URL like http://host:port", raw)
	}
	return New(u.Host, u.Scheme == "https", ak, sk, os.Getenv("SU_S3_REGION")), bucket
}

func TestIntegrationPutListGetDelete(t *testing.T) {
	c, bucket := s3FromEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	prefix := "s3lite-it-" + time.Now().UTC().Format("20060102T150405.000000000") + "/"

	objects := map[string]string{
		prefix + "signed.bin":           "signed payload",              // strings.Reader seeks: sha256 payload
		prefix + "unsigned.bin":         "unsigned payload",            // streamed: UNSIGNED-PAYLOAD
		prefix + "dir/a b ü+$=&.tar.gz": "key that needs every escape", // strict path encoding
		prefix + "empty":                "",
	}
	t.Cleanup(func() {
		for key := range objects {
			_ = c.DeleteObject(context.Background(), bucket, key)
		}
	})
	for key, body := range objects {
		var r io.Reader = strings.NewReader(body)
		if strings.HasSuffix(key, "unsigned.bin") {
			r = onlyReader{strings.NewReader(body)}
		}
		if err := c.PutObject(ctx, bucket, key, r, int64(len(body))); err != nil {
			t.Fatalf("PutObject %q: %v", key, err)
		}
	}

	listed, err := c.ListObjects(ctx, bucket, prefix)
	if err != nil {
		t.Fatalf("ListObjects: %v", err)
	}
	seen := map[string]Object{}
	for _, o := range listed {
		seen[o.Key] = o
	}
	for key, body := range objects {
		o, ok := seen[key]
		if !ok {
			t.Errorf("%q missing from listing %v", key, listed)
			continue
		}
		if o.Size != int64(len(body)) {
			t.Errorf("%q size %d, want %d", key, o.Size, len(body))
		}
		if time.Since(o.LastModified) > 10*time.Minute || time.Until(o.LastModified) > 10*time.Minute {
			t.Errorf("%q LastModified %v is not about now", key, o.LastModified)
		}
		got, err := c.GetObject(ctx, bucket, key)
		if err != nil {
			t.Fatalf("GetObject %q: %v", key, err)
		}
		if string(got) != body {
			t.Errorf("GetObject %q = %q, want %q", key, got, body)
		}
	}
	if len(listed) != len(objects) {
		t.Errorf("listed %d objects under %s, want %d", len(listed), prefix, len(objects))
	}

	for key := range objects {
		if err := c.DeleteObject(ctx, bucket, key); err != nil {
			t.Fatalf("DeleteObject %q: %v", key, err)
		}
	}
	if _, err := c.GetObject(ctx, bucket, prefix+"signed.bin"); !IsNotFound(err) {
		t.Errorf("GetObject after delete: %v, want not found", err)
	}
	listed, err = c.ListObjects(ctx, bucket, prefix)
	if err != nil || len(listed) != 0 {
		t.Errorf("listing after delete = %v, %v", listed, err)
	}

	bad := New(c.endpoint, c.scheme == "https", c.accessKey, "not-the-secret", c.region)
	_, err = bad.ListObjects(ctx, bucket, prefix)
	if err == nil {
		t.Fatal("ListObjects with a wrong secret succeeded")
	}
	if se := (*Error)(nil); !errors.As(err, &se) || se.StatusCode != 403 || se.Code == "" {
		t.Errorf("wrong secret gave %v, want an *Error with HTTP 403 and an S3 code", err)
	}
	if strings.Contains(err.Error(), "not-the-secret") {
		t.Errorf("error contains the secret: %v", err)
	}
}

func TestIntegrationManyKeysPaginate(t *testing.T) {
	c, bucket := s3FromEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prefix := "s3lite-page-" + time.Now().UTC().Format("20060102T150405.000000000") + "/"
	// More than one default page (1000 keys) forces a continuation token.
	const n = 1003
	for i := range n {
		key := prefix + fmt.Sprintf("%04d", i)
		if err := c.PutObject(ctx, bucket, key, strings.NewReader("x"), 1); err != nil {
			t.Fatalf("PutObject %d: %v", i, err)
		}
		t.Cleanup(func() { _ = c.DeleteObject(context.Background(), bucket, key) })
	}
	listed, err := c.ListObjects(ctx, bucket, prefix)
	if err != nil {
		t.Fatalf("ListObjects: %v", err)
	}
	if len(listed) != n {
		t.Fatalf("listed %d objects, want %d", len(listed), n)
	}
}
