// Command presign prints a presigned GET URL of one S3 object, for scripts/bench's restore floor:
// a bare job on a node downloads the archive with plain wget, as the restore helper downloads
// it with its own S3 client. Usage: presign BUCKET KEY; SU_S3_URL (host:port),
// SU_S3_ACCESS_KEY and SU_S3_SECRET_KEY from the environment (the keys never in argv).
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/swarm-utils/swarm-utils/internal/s3client"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: presign BUCKET KEY")
		os.Exit(2)
	}
	c, err := s3client.New(os.Getenv("SU_S3_URL"), false, os.Getenv("SU_S3_ACCESS_KEY"), os.Getenv("SU_S3_SECRET_KEY"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "presign:", err)
		os.Exit(1)
	}
	u, err := c.PresignedGetObject(context.Background(), os.Args[1], os.Args[2], time.Hour, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "presign:", err)
		os.Exit(1)
	}
	fmt.Println(u.String())
}
