//go:build integration

package jobs_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/swarm-utils/swarm-utils/internal/s3client"
	"github.com/swarm-utils/swarm-utils/internal/testbed"
	"github.com/swarm-utils/swarm-utils/jobs"
)

// TestIntegrationBackupCatalogueListsOnlyTheService backs a 2-volume service up on both
// workers, with archives of two services whose names start with its own in the bucket, and
// lists the catalogue from the real S3: exactly the two new archives, one per worker, with the
// sizes S3 reports, newest first.
func TestIntegrationBackupCatalogueListsOnlyTheService(t *testing.T) {
	jobs.ParallelSafe(t)
	tb := testbed.Get(t)
	ctx := context.Background()
	s := newBkService(t, tb)
	s3 := tb.S3(t)
	foreign := []string{
		s.Name + "2/" + s.Name + "2_worker-1_2030-01-01T00-00-00.tar.gz",
		s.Name + "_x/" + s.Name + "_x_worker-1_2030-01-01T00-00-00.tar.gz",
	}
	rsRemoveArchives(t, tb, s.Name+"/", s.Name+"2/", s.Name+"_x/")
	for _, key := range foreign {
		if _, err := s3.PutObject(ctx, tb.S3Bucket, key, strings.NewReader("other"), 5, minio.PutObjectOptions{}); err != nil {
			t.Fatalf("seed %s: %v", key, err)
		}
	}
	d, logs := bkDeps(t, tb.Config())
	if r := d.BackupService(ctx, s.Name); !r.OK {
		js, _ := json.MarshalIndent(r, "", "  ")
		t.Fatalf("backup failed: %s", js)
	}

	got, err := d.Backups(ctx, s.Name)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := s3client.List(ctx, s3, tb.S3Bucket, s.Name+"/")
	if err != nil {
		t.Fatal(err)
	}
	size := map[string]int64{}
	for _, o := range objs {
		size[o.Key] = o.Size
	}
	var nodes []string
	for i, a := range got {
		nodes = append(nodes, a.Node)
		if want, ok := size[a.Key]; !ok || want != a.Size || a.Size == 0 {
			t.Errorf("archive %s size %d, S3 has %d (listed: %v)", a.Key, a.Size, want, ok)
		}
		if a.Encrypted || a.Safety || a.Time.IsZero() {
			t.Errorf("archive %+v: want plain, not a safety backup, with its time", a)
		}
		if i > 0 && a.Time.After(got[i-1].Time) {
			t.Errorf("not newest first: %v", got)
		}
	}
	if slices.Sort(nodes); !slices.Equal(nodes, []string{"worker-1", "worker-2"}) || len(got) != len(objs) {
		t.Errorf("catalogue %+v, want the %d archives of %s, one per worker", got, len(objs), s.Name)
	}
	if strings.Contains(logs.String(), tb.S3SecretKey) {
		t.Errorf("the S3 secret key is in the logs")
	}

	// Another service's catalogue holds none of these.
	if _, err := d.Backups(ctx, "it-bk-nosuch-"+bkRand(t)); err == nil {
		t.Errorf("the catalogue of a service that does not exist answered")
	}
}
