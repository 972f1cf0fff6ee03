package restore

import (
	"context"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/internal/s3client"
)

// S3Store lists S3 with minio-go, as offen does.
type S3Store struct{}

// List implements Store: it stops reading at max keys.
func (S3Store) List(ctx context.Context, s3 config.S3, prefix string, max int) ([]Object, bool, error) {
	c, err := s3client.New(s3.URL, s3.HTTPS, s3.AccessKey, s3.SecretKey)
	if err != nil {
		return nil, false, fmt.Errorf("open S3 %s: %w", s3.URL, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends minio-go's listing when we stop early
	var out []Object
	for o := range c.ListObjects(ctx, s3.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, false, fmt.Errorf("list s3://%s/%s: %w", s3.Bucket, prefix, s3client.Describe(o.Err))
		}
		if len(out) == max {
			return out, true, nil
		}
		out = append(out, Object{Key: o.Key, Size: o.Size, LastModified: o.LastModified})
	}
	return out, false, nil
}

// Fetch downloads the object key of the S3 location into the file dst.
func Fetch(ctx context.Context, s3 config.S3, key, dst string) error {
	c, err := s3client.New(s3.URL, s3.HTTPS, s3.AccessKey, s3.SecretKey)
	if err != nil {
		return fmt.Errorf("open S3 %s: %w", s3.URL, err)
	}
	if err := c.FGetObject(ctx, s3.Bucket, key, dst, minio.GetObjectOptions{}); err != nil {
		return fmt.Errorf("download s3://%s/%s: %w", s3.Bucket, key, s3client.Describe(err))
	}
	return nil
}

// Peek reads the first n bytes of the object key (all of a shorter one).
func (S3Store) Peek(ctx context.Context, s3 config.S3, key string, n int64) ([]byte, error) {
	c, err := s3client.New(s3.URL, s3.HTTPS, s3.AccessKey, s3.SecretKey)
	if err != nil {
		return nil, fmt.Errorf("open S3 %s: %w", s3.URL, err)
	}
	var opts minio.GetObjectOptions
	if err := opts.SetRange(0, n-1); err != nil {
		return nil, err
	}
	obj, err := c.GetObject(ctx, s3.Bucket, key, opts)
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", s3.Bucket, key, s3client.Describe(err))
	}
	defer obj.Close()
	b, err := io.ReadAll(io.LimitReader(obj, n))
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", s3.Bucket, key, s3client.Describe(err))
	}
	return b, nil
}
