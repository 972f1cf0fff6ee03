package restore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
)

const (
	svcName   = "shop_db"
	accessKey = "AKIA-test-access"
	secretKey = "s3-secret-never-shown"
)

func testConfig() config.Config {
	return config.Config{
		S3: config.S3{URL: "s3.example:9000", HTTPS: true, Bucket: "backups", AccessKey: accessKey, SecretKey: secretKey, RetentionDays: 5},
	}
}

// fakeStore is a bucket per S3 location (URL/bucket), recording what was listed.
type fakeStore struct {
	objects map[string][]Object // "url/bucket" -> objects
	err     error
	listed  []string // "url/bucket/prefix access-key"
}

func (s *fakeStore) List(_ context.Context, s3 config.S3, prefix string, max int) ([]Object, bool, error) {
	s.listed = append(s.listed, s3.URL+"/"+s3.Bucket+"/"+prefix+" "+s3.AccessKey)
	if s.err != nil {
		return nil, false, s.err
	}
	var out []Object
	for _, o := range s.objects[s3.URL+"/"+s3.Bucket] {
		if strings.HasPrefix(o.Key, prefix) {
			if len(out) == max {
				return out, true, nil
			}
			out = append(out, o)
		}
	}
	return out, false, nil
}

func obj(key string, size int64) Object { return Object{Key: key, Size: size} }

func keys(as []Archive) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Key)
	}
	return out
}

func TestParseKey(t *testing.T) {
	at := time.Date(2026, 12, 1, 20, 5, 9, 0, time.UTC)
	for _, tc := range []struct {
		key  string
		want Archive
		ok   bool
	}{
		{"shop_db/shop_db_worker-1_2026-12-01T20-05-09.tar.gz", Archive{Node: "worker-1", Time: at}, true},
		{"shop_db/shop_db_worker-2_pre-restore_2026-12-01T20-05-09.tar.gz", Archive{Node: "worker-2", Time: at, Safety: true}, true},
		{"shop_db/shop_db_worker-1_2026-12-01T20-05-09.tar.gz.gpg", Archive{Node: "worker-1", Time: at, Encrypted: true}, true},
		{"shop_db/shop_db_worker-1_2026-12-01T20-05-09.tar.gz.age", Archive{Node: "worker-1", Time: at, Encrypted: true}, true},
		{"shop_db/shop_db_x_worker-1_2026-12-01T20-05-09.tar.gz", Archive{}, false},        // service shop_db_x's name
		{"shop/shop_db_worker-1_2026-12-01T20-05-09.tar.gz", Archive{}, false},             // another folder
		{"shop_db/sub/shop_db_worker-1_2026-12-01T20-05-09.tar.gz", Archive{}, false},      // sub-folder
		{"shop_db/shop_db_worker-1_2026-12-01T20-05-09.tar", Archive{}, false},             // not offen's gzip
		{"shop_db/shop_db_worker-1_2026-13-01T20-05-09.tar.gz", Archive{}, false},          // no such month
		{"shop_db/shop_db__2026-12-01T20-05-09.tar.gz", Archive{}, false},                  // no node
		{"shop_db/shop_db_2026-12-01T20-05-09.tar.gz", Archive{}, false},                   // no node
		{"shop_db/shop_db_worker-1_pre-restore_2026-12-01T20-05.tar.gz", Archive{}, false}, // short time
	} {
		t.Run(tc.key, func(t *testing.T) {
			got, ok := ParseKey(svcName, tc.key)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v (%+v)", ok, tc.ok, got)
			}
			if !ok {
				return
			}
			tc.want.Key = tc.key
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCatalogueList(t *testing.T) {
	own := []Object{
		obj("shop_db/shop_db_worker-1_2026-11-30T02-00-00.tar.gz", 100),
		obj("shop_db/shop_db_worker-2_2026-12-01T02-00-01.tar.gz", 200),
		obj("shop_db/shop_db_worker-1_pre-restore_2026-12-01T21-00-00.tar.gz", 300),
		obj("shop_db/shop_db_worker-1_2026-12-01T02-00-00.tar.gz.age", 400),
	}
	foreign := []Object{
		obj("shop_db2/shop_db2_worker-1_2026-12-02T02-00-00.tar.gz", 1),
		obj("shop/shop_worker-1_2026-12-02T02-00-00.tar.gz", 1),
		obj("shop_db/shop_db_x_worker-1_2026-12-02T02-00-00.tar.gz", 1),
		obj("shop_db/notes.txt", 1),
	}
	newestFirst := []string{own[2].Key, own[1].Key, own[3].Key, own[0].Key}
	for _, tc := range []struct {
		name    string
		labels  map[string]string
		store   map[string][]Object
		err     error
		want    []string
		listed  string
		kind    operation.Kind
		errText string
	}{
		{name: "own archives only, newest first",
			labels: map[string]string{parse.LabelBackupEnable: "true", parse.LabelBackupVolumes: "data"},
			store:  map[string][]Object{"s3.example:9000/backups": append(slices.Clone(foreign), own...)},
			want:   newestFirst, listed: "s3.example:9000/backups/shop_db/ " + accessKey},
		{name: "label overrides pick the location and keys",
			labels: map[string]string{parse.LabelBackupEnable: "true", parse.LabelBackupVolumes: "data",
				parse.LabelBackupS3URL: "other:9000", parse.LabelBackupS3Bucket: "team", parse.LabelBackupS3AccessKey: "AKIA-team-key"},
			store: map[string][]Object{"s3.example:9000/backups": own, "other:9000/team": own[:1]},
			want:  []string{own[0].Key}, listed: "other:9000/team/shop_db/ AKIA-team-key"},
		{name: "none yet is an empty list",
			labels: map[string]string{parse.LabelBackupEnable: "true", parse.LabelBackupVolumes: "data"},
			store:  map[string][]Object{"s3.example:9000/backups": foreign},
			want:   nil, listed: "s3.example:9000/backups/shop_db/ " + accessKey},
		{name: "not enabled", labels: map[string]string{}, kind: operation.KindNotFound, errText: "not enabled for backup"},
		{name: "bad labels", labels: map[string]string{parse.LabelBackupEnable: "true"}, kind: operation.KindConfig, errText: parse.LabelBackupVolumes},
		{name: "S3 refuses",
			labels: map[string]string{parse.LabelBackupEnable: "true", parse.LabelBackupVolumes: "data"},
			err:    errors.New("[Message]: 'Access Denied.', [Code]: AccessDenied, [StatusCode]: 403"),
			kind:   operation.KindDocker, errText: "list the archives of service shop_db in s3://backups/shop_db/: [Message]: 'Access Denied.'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
			f.AddService(parse.Service{Name: svcName, Mode: parse.ModeReplicated, Replicas: 1, Labels: tc.labels})
			store := &fakeStore{objects: tc.store, err: tc.err}
			c := &Catalogue{Swarm: f, Store: store, Config: testConfig()}
			got, err := c.List(context.Background(), svcName)
			if tc.kind != "" {
				if err == nil || operation.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("err = %v (kind %s), want kind %s containing %q", err, operation.KindOf(err), tc.kind, tc.errText)
				}
				if strings.Contains(err.Error(), secretKey) {
					t.Errorf("the secret key is in the error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got == nil {
				t.Errorf("an empty catalogue must be [] in JSON, not null")
			}
			if !slices.Equal(keys(got), tc.want) {
				t.Errorf("keys = %q, want %q", keys(got), tc.want)
			}
			if len(store.listed) != 1 || store.listed[0] != tc.listed {
				t.Errorf("listed %q, want %q", store.listed, tc.listed)
			}
			if len(got) == 4 && (got[0].Size != 300 || !got[0].Safety || !got[2].Encrypted || got[1].Node != "worker-2") {
				t.Errorf("fields of the archives wrong: %+v", got)
			}
			if len(f.Changes()) != 0 {
				t.Errorf("a listing changed the cluster: %v", f.Changes())
			}
		})
	}
	t.Run("unknown service", func(t *testing.T) {
		c := &Catalogue{Swarm: swarmtest.New(), Store: &fakeStore{}, Config: testConfig()}
		if _, err := c.List(context.Background(), "nope"); operation.KindOf(err) != operation.KindNotFound {
			t.Errorf("err = %v, want not found", err)
		}
	})
}

func TestChoose(t *testing.T) {
	a := func(node, stamp string, safety bool) Archive {
		tm, err := time.Parse(archiveTimeLayout, stamp)
		if err != nil {
			t.Fatal(err)
		}
		key := svcName + "/" + svcName + "_" + node + "_"
		if safety {
			key += SafetyMark + "_"
		}
		return Archive{Key: key + stamp + ".tar.gz", Node: node, Time: tm, Safety: safety}
	}
	cat := Archives(svcName, nil)
	for _, x := range []Archive{
		a("worker-1", "2026-12-01T21-00-00", true), // safety backup of an earlier restore
		a("worker-2", "2026-12-01T21-00-01", true),
		a("worker-1", "2026-12-01T02-00-00", false),
		a("worker-2", "2026-12-01T02-00-03", false),
		a("worker-1", "2026-11-30T02-00-00", false),
		a("worker-2", "2026-11-30T02-00-02", false),
		a("worker-1", "2026-11-29T02-00-00", false), // worker-2 had no task that night
	} {
		cat = append(cat, x)
	}
	slices.SortFunc(cat, func(x, y Archive) int { return y.Time.Compare(x.Time) })
	for _, tc := range []struct {
		which string
		want  []string
		kind  operation.Kind
	}{
		{"", []string{cat[3].Key, cat[2].Key}, ""},
		{"latest", []string{cat[3].Key, cat[2].Key}, ""},
		{"2026-11-30T12:00:00Z", []string{cat[5].Key, cat[4].Key}, ""},
		{"2026-11-30T02-00-01", []string{cat[5].Key}, ""}, // worker-2's archive of that run is later
		{"2026-11-29T23:00:00+02:00", []string{cat[6].Key}, ""},
		{cat[0].Key, []string{cat[0].Key}, ""}, // a key picks even a safety backup
		{"2026-11-01T00:00:00Z", nil, operation.KindNotFound},
		{"yesterday", nil, operation.KindInvalid},
		{svcName + "/other.tar.gz", nil, operation.KindInvalid},
	} {
		t.Run(tc.which, func(t *testing.T) {
			got, err := Choose(cat, tc.which)
			if tc.kind != "" {
				if operation.KindOf(err) != tc.kind {
					t.Fatalf("err = %v, want kind %s", err, tc.kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(keys(got), tc.want) {
				t.Errorf("got %q, want %q", keys(got), tc.want)
			}
		})
	}
	if _, err := Choose([]Archive{a("worker-1", "2026-12-01T21-00-00", true)}, "latest"); operation.KindOf(err) != operation.KindNotFound {
		t.Errorf("only safety backups: err = %v, want not found", err)
	}
}

// The listing is bounded: the newest MaxListed archives of at most MaxKeysRead keys, and it
// says so when either cut applied.
func TestCatalogueListingIsBounded(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	objects := func(n int) []Object {
		out := make([]Object, n)
		for i := range out {
			out[i] = obj("shop_db/shop_db_worker-1_"+base.Add(time.Duration(i)*time.Minute).Format(archiveTimeLayout)+".tar.gz", 1)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		n       int
		listed  int
		newest  time.Time
		cutText string // in Cut; "" = not cut
	}{
		{"small: whole", 3, 3, base.Add(2 * time.Minute), ""},
		{"the newest MaxListed", 1200, MaxListed, base.Add(1199 * time.Minute), "the newest 1000 of 1200 archives"},
		{"more keys than are read", MaxKeysRead + 5, MaxListed, base.Add((MaxKeysRead - 1) * time.Minute), "more than 10000 keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := parse.Service{Name: svcName, Labels: map[string]string{parse.LabelBackupEnable: "true", parse.LabelBackupVolumes: "data"}}
			c := &Catalogue{Store: &fakeStore{objects: map[string][]Object{"s3.example:9000/backups": objects(tc.n)}}, Config: testConfig()}
			l, err := c.ListingOf(context.Background(), svc)
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Archives) != tc.listed || !l.Archives[0].Time.Equal(tc.newest) {
				t.Errorf("%d archives, newest %v; want %d, newest %v", len(l.Archives), l.Archives[0].Time, tc.listed, tc.newest)
			}
			if (tc.cutText == "") != (l.Cut == "") || !strings.Contains(l.Cut, tc.cutText) {
				t.Errorf("cut %q, want %q", l.Cut, tc.cutText)
			}
		})
	}
}
