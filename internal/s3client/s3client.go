// Package s3client opens S3 the way offen/docker-volume-backup does: github.com/minio/minio-go/v7
// with static V4 keys, TLS chosen by AWS_ENDPOINT_PROTO, the bucket's region asked from the
// server, path-style addressing for endpoints that are not AWS or Google. The uploader stand-in
// uploads, lists and prunes through it, and the tests look into the bucket with it, so both speak
// to S3 as offen does; the product lists a service's archives with it (jobs/restore).
package s3client

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// New returns a client for endpoint (host[:port], no scheme).
func New(endpoint string, https bool, accessKey, secretKey string) (*minio.Client, error) {
	transport, err := minio.DefaultTransport(https)
	if err != nil {
		return nil, fmt.Errorf("create S3 transport: %w", err)
	}
	c, err := minio.New(endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(accessKey, secretKey, ""),
		Secure:    https,
		Transport: transport,
	})
	if err != nil {
		return nil, fmt.Errorf("set up S3 client for %s: %w", endpoint, err)
	}
	return c, nil
}

// List returns every object whose key starts with prefix, sub-folders included: offen's
// recursive listing.
func List(ctx context.Context, c *minio.Client, bucket, prefix string) ([]minio.ObjectInfo, error) {
	var out []minio.ObjectInfo
	for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return out, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, Describe(o.Err))
		}
		out = append(out, o)
	}
	return out, nil
}

// Get reads one object whole (the tests' archives are small).
func Get(ctx context.Context, c *minio.Client, bucket, key string) ([]byte, error) {
	obj, err := c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", bucket, key, Describe(err))
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", bucket, key, Describe(err))
	}
	return data, nil
}

// Remove deletes objects with multi-object deletes, as offen prunes; every key that could not
// be deleted is in the error.
func Remove(ctx context.Context, c *minio.Client, bucket string, objects []minio.ObjectInfo) error {
	ch := make(chan minio.ObjectInfo)
	go func() {
		defer close(ch)
		for _, o := range objects {
			select {
			case ch <- o:
			case <-ctx.Done():
				return
			}
		}
	}()
	var errs []error
	for r := range c.RemoveObjects(ctx, bucket, ch, minio.RemoveObjectsOptions{}) {
		errs = append(errs, fmt.Errorf("delete s3://%s/%s: %w", bucket, r.ObjectName, Describe(r.Err)))
	}
	if err := ctx.Err(); err != nil && len(errs) == 0 {
		return fmt.Errorf("delete from s3://%s: %w", bucket, err)
	}
	return errors.Join(errs...)
}

// IsNotFound tells whether err is S3's NoSuchKey or NoSuchBucket, or a bare 404.
func IsNotFound(err error) bool {
	var resp minio.ErrorResponse
	return errors.As(err, &resp) && (resp.Code == "NoSuchKey" || resp.Code == "NoSuchBucket" || resp.StatusCode == 404)
}

// Error is an S3 error response with what minio-go's Error() leaves out (code and status), so
// that a log line tells AccessDenied from NoSuchBucket. It never holds credentials.
type Error struct {
	Message, Code string
	StatusCode    int
	err           error
}

// Error is offen's wording: "[Message]: '…', [Code]: …, [StatusCode]: …".
func (e *Error) Error() string {
	return fmt.Sprintf("[Message]: '%s', [Code]: %s, [StatusCode]: %d", e.Message, e.Code, e.StatusCode)
}

func (e *Error) Unwrap() error { return e.err }

// Describe turns an S3 error response into an *Error; other errors (network, context) are
// returned as they are.
func Describe(err error) error {
	var resp minio.ErrorResponse
	if err == nil || !errors.As(err, &resp) || resp.Code == "" && resp.StatusCode == 0 {
		return err
	}
	return &Error{Message: resp.Message, Code: resp.Code, StatusCode: resp.StatusCode, err: err}
}
