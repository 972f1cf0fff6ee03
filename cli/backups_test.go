package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/jobs"
	"github.com/swarm-utils/swarm-utils/jobs/restore"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
)

type cliStore []restore.Object

func (s cliStore) List(_ context.Context, _ config.S3, prefix string, _ int) ([]restore.Object, bool, error) {
	var out []restore.Object
	for _, o := range s {
		if strings.HasPrefix(o.Key, prefix) {
			out = append(out, o)
		}
	}
	return out, false, nil
}

func TestBackupsCommand(t *testing.T) {
	f := swarmtest.New()
	f.AddService(parse.Service{Name: "app", Mode: parse.ModeReplicated, Replicas: 1, Labels: map[string]string{
		parse.LabelBackupEnable: "true", parse.LabelBackupVolumes: "data"}})
	f.AddService(parse.Service{Name: "plain", Mode: parse.ModeReplicated, Replicas: 1})
	d := jobs.NewDeps(config.Config{S3: config.S3{URL: "s3:7070", Bucket: "b", AccessKey: "access-key-1234", SecretKey: "secret-key-5678", RetentionDays: 1}}, nil, nil, nil)
	d.Swarm = f
	d.BackupStore = cliStore{
		{Key: "app/app_worker-1_2026-12-01T02-00-00.tar.gz", Size: 10},
		{Key: "app/app_worker-1_pre-restore_2026-12-01T03-00-00.tar.gz", Size: 11},
		{Key: "app2/app2_worker-1_2026-12-01T04-00-00.tar.gz", Size: 12},
	}
	run := func(args ...string) (string, error) { return runCommands(jobCommands(depsOf(d)), args...) }
	out, err := run("backups", "--service", "app")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Service string            `json:"service"`
		Backups []restore.Archive `json:"backups"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Service != "app" || len(got.Backups) != 2 || !got.Backups[0].Safety || got.Backups[1].Size != 10 {
		t.Errorf("output %s", out)
	}
	if out, err = run("backups", "--service", "app", "--text"); err != nil || !strings.Contains(out, "(safety backup)") || strings.Contains(out, "app2") {
		t.Errorf("--text: %v\n%s", err, out)
	}
	if _, err := run("backups", "--service", "plain"); err == nil || !strings.Contains(err.Error(), "not enabled for backup") {
		t.Errorf("a service without backup: %v", err)
	}
	if _, err := run("backups"); err == nil {
		t.Errorf("no --service accepted")
	}
}
