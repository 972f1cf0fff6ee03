//go:build integration

package jobs_test

import (
	"context"
	"testing"

	"github.com/swarm-utils/swarm-utils/internal/s3client"
	"github.com/swarm-utils/swarm-utils/internal/testbed"
	"github.com/swarm-utils/swarm-utils/jobs/restore"
)

// newRsService is newBkService whose archives are removed from S3 when the test ends.
func newRsService(t *testing.T, tb testbed.Bed, extraLabels ...string) bkService {
	t.Helper()
	s := newBkService(t, tb, extraLabels...)
	rsRemoveArchives(t, tb, s.Name+"/")
	return s
}

// rsRemoveArchives removes every object under the prefixes (a service's folder: NAME/) from
// the bed's bucket when the test ends.
func rsRemoveArchives(t *testing.T, tb testbed.Bed, prefixes ...string) {
	t.Helper()
	s3 := tb.S3(t)
	t.Cleanup(func() {
		for _, p := range prefixes {
			objs, _ := s3client.List(context.Background(), s3, tb.S3Bucket, p)
			_ = s3client.Remove(context.Background(), s3, tb.S3Bucket, objs)
		}
	})
}

// rsSafetyBackups counts the safety backups (pre-restore) of a catalogue.
func rsSafetyBackups(cat []restore.Archive) int {
	n := 0
	for _, a := range cat {
		if a.Safety {
			n++
		}
	}
	return n
}
