//go:build integration

package s3client

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// bedS3 is the S3 server named by SU_S3_URL (host:port, or http:// / https:// host:port) with
// its keys and bucket, or a skip.
type bedS3 struct {
	endpoint, accessKey, secretKey, bucket string
	https                                  bool
}

func s3FromEnv(t *testing.T) bedS3 {
	t.Helper()
	raw, ak, sk, bucket := os.Getenv("SU_S3_URL"), os.Getenv("SU_S3_ACCESS_KEY"), os.Getenv("SU_S3_SECRET_KEY"), os.Getenv("SU_S3_BUCKET")
	if raw == "" || ak == "" || sk == "" || bucket == "" {
		t.Skip("SU_S3_URL, SU_S3_ACCESS_KEY, SU_S3_SECRET_KEY and SU_S3_BUCKET are not all set")
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		t.Fatalf("SU_S3_URL %q is not a URL like http://host:port", raw)
	}
	return bedS3{u.Host, ak, sk, bucket, u.Scheme == "https"}
}

func (b bedS3) client(t *testing.T, secret string) *minio.Client {
	t.Helper()
	c, err := New(b.endpoint, b.https, b.accessKey, secret)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIntegrationPutListGetRemove(t *testing.T) {
	s3 := s3FromEnv(t)
	c := s3.client(t, s3.secretKey)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prefix := "s3client-it-" + time.Now().UTC().Format("20060102T150405.000000000") + "/"

	// An archive above minio-go's 16 MiB part size goes up in parts, as offen's large backups do.
	big := filepath.Join(t.TempDir(), "big.tar.gz")
	if err := os.WriteFile(big, []byte(strings.Repeat("0123456789abcdef", 17<<16)), 0o600); err != nil {
		t.Fatal(err)
	}
	objects := map[string]string{
		prefix + "small.tar.gz":         "small payload",
		prefix + "dir/a b ü+$=&.tar.gz": "key that needs every escape",
		prefix + "empty":                "",
	}
	t.Cleanup(func() {
		left, _ := List(context.Background(), c, s3.bucket, prefix)
		_ = Remove(context.Background(), c, s3.bucket, left)
	})
	for key, body := range objects {
		if _, err := c.PutObject(ctx, s3.bucket, key, strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatalf("put %q: %v", key, err)
		}
	}
	bigKey := prefix + "big.tar.gz"
	if _, err := c.FPutObject(ctx, s3.bucket, bigKey, big, minio.PutObjectOptions{ContentType: "application/tar+gzip"}); err != nil {
		t.Fatalf("multipart upload: %v", err)
	}

	listed, err := List(ctx, c, s3.bucket, prefix)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	seen := map[string]minio.ObjectInfo{}
	for _, o := range listed {
		seen[o.Key] = o
	}
	if len(listed) != len(objects)+1 {
		t.Errorf("listed %d objects under %s, want %d: %v", len(listed), prefix, len(objects)+1, seen)
	}
	if o := seen[bigKey]; o.Size != 17<<20 {
		t.Errorf("multipart object is %d bytes, want %d", o.Size, 17<<20)
	}
	for key, body := range objects {
		o, ok := seen[key]
		if !ok {
			t.Errorf("%q missing from the listing", key)
			continue
		}
		if o.Size != int64(len(body)) || time.Since(o.LastModified).Abs() > 10*time.Minute {
			t.Errorf("%q listed with size %d, modified %v; want %d, about now", key, o.Size, o.LastModified, len(body))
		}
		if got, err := Get(ctx, c, s3.bucket, key); err != nil || string(got) != body {
			t.Errorf("Get %q = %q, %v; want %q", key, got, err, body)
		}
	}

	if err := Remove(ctx, c, s3.bucket, listed); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := Get(ctx, c, s3.bucket, prefix+"small.tar.gz"); !IsNotFound(err) {
		t.Errorf("Get after Remove: %v, want not found", err)
	}
	if left, err := List(ctx, c, s3.bucket, prefix); err != nil || len(left) != 0 {
		t.Errorf("listing after Remove = %v, %v", left, err)
	}
}

func TestIntegrationWrongSecret(t *testing.T) {
	s3 := s3FromEnv(t)
	wrong := "not-the-secret-" + fmt.Sprint(time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := List(ctx, s3.client(t, wrong), s3.bucket, "")
	if err == nil {
		t.Fatal("List with a wrong secret succeeded")
	}
	if !strings.Contains(err.Error(), "[StatusCode]: 403") || strings.Contains(err.Error(), "[Code]: ,") {
		t.Errorf("wrong secret gave %q, want S3's code and status 403", err)
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), s3.secretKey) {
		t.Errorf("error contains a secret: %v", err)
	}
}

func TestIntegrationManyKeysPaginate(t *testing.T) {
	s3 := s3FromEnv(t)
	c := s3.client(t, s3.secretKey)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	prefix := "s3client-page-" + time.Now().UTC().Format("20060102T150405.000000000") + "/"
	t.Cleanup(func() {
		left, _ := List(context.Background(), c, s3.bucket, prefix)
		_ = Remove(context.Background(), c, s3.bucket, left)
	})
	// More than one page (1000 keys) of listing and of multi-object delete.
	const n = 1003
	for i := range n {
		if _, err := c.PutObject(ctx, s3.bucket, fmt.Sprintf("%s%04d", prefix, i), strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	listed, err := List(ctx, c, s3.bucket, prefix)
	if err != nil || len(listed) != n {
		t.Fatalf("listed %d objects, %v; want %d", len(listed), err, n)
	}
	if err := Remove(ctx, c, s3.bucket, listed); err != nil {
		t.Fatalf("Remove %d objects: %v", n, err)
	}
	if left, err := List(ctx, c, s3.bucket, prefix); err != nil || len(left) != 0 {
		t.Errorf("%d objects left after Remove, %v", len(left), err)
	}
}
