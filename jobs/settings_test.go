package jobs_test

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/jobs/backup"
	"github.com/swarm-utils/swarm-utils/jobs/cleannode"
	"github.com/swarm-utils/swarm-utils/jobs/cleanservice"
	"github.com/swarm-utils/swarm-utils/jobs/update"
	"github.com/swarm-utils/swarm-utils/parse"
)

// The job settings read from labels, each owned by its job package; tested here together, on
// the labels captured from a real daemon (parse/testdata).

func mustParse[T any](t *testing.T, decode func(string) ([]T, error), file string) []T {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "parse", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	out, err := decode(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func testdataF(f *testing.F, name string) string {
	b, err := os.ReadFile(filepath.Join("..", "parse", "testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	return string(b)
}

func testConfig() config.Config {
	return config.Config{
		BackupExecShell: "/bin/sh",
		CleanExecShell:  "/bin/ash",
		Timeouts: config.Timeouts{
			BackupExec: 600 * time.Second, BackupStop: 30 * time.Second, BackupUpload: 600 * time.Second,
			BackupStart: 300 * time.Second, CleanServiceExec: 60 * time.Second, UpdateService: 60 * time.Second,
			CleanNodeImage: 61 * time.Second, CleanNodeBuilder: 62 * time.Second, CleanNodeContainer: 63 * time.Second,
		},
		S3:       config.S3{URL: "s3.local:7070", HTTPS: true, Bucket: "backups", AccessKey: "cfg-ak", SecretKey: "cfg-sk", RetentionDays: 5},
		Registry: config.Registry{User: "cfg-user", Password: "cfg-pass", URL: "reg.local:5000"},
	}
}

func TestCleanSettingsFromLabels(t *testing.T) {
	tests := []struct {
		name    string
		labels  map[string]string
		want    cleanservice.Settings
		wantErr string
	}{
		{name: "no labels", labels: nil, want: cleanservice.Settings{}},
		{name: "disabled, other labels inert", labels: map[string]string{parse.LabelCleanEnable: "false", parse.LabelCleanExecTimeout: "soon"}, want: cleanservice.Settings{}},
		{name: "enabled with defaults", labels: map[string]string{parse.LabelCleanEnable: "TRUE", parse.LabelCleanExec: "registry garbage-collect /etc/config.yml"},
			want: cleanservice.Settings{Enabled: true, Exec: "registry garbage-collect /etc/config.yml", Shell: "/bin/ash", ExecTimeout: 60 * time.Second}},
		{name: "every label", labels: map[string]string{parse.LabelCleanEnable: " true ", parse.LabelCleanExec: "echo a; echo b", parse.LabelCleanExecShell: "/bin/bash",
			parse.LabelCleanExecTimeout: "1_500"},
			want: cleanservice.Settings{Enabled: true, Exec: "echo a; echo b", Shell: "/bin/bash", ExecTimeout: 1500 * time.Millisecond}},
		{name: "timeout in Go syntax", labels: map[string]string{parse.LabelCleanEnable: "true", parse.LabelCleanExec: "x", parse.LabelCleanExecTimeout: "2m30s"},
			want: cleanservice.Settings{Enabled: true, Exec: "x", Shell: "/bin/ash", ExecTimeout: 150 * time.Second}},
		{name: "bad bool", labels: map[string]string{parse.LabelCleanEnable: "yes"}, wantErr: "label swarm-utils.clean.enable: \"yes\" is not true or false"},
		{name: "empty bool", labels: map[string]string{parse.LabelCleanEnable: ""}, wantErr: "label swarm-utils.clean.enable"},
		{name: "no exec", labels: map[string]string{parse.LabelCleanEnable: "true"}, wantErr: "label swarm-utils.clean.exec: is required"},
		{name: "blank exec", labels: map[string]string{parse.LabelCleanEnable: "true", parse.LabelCleanExec: "  "}, wantErr: "label swarm-utils.clean.exec: is required"},
		{name: "bad timeout", labels: map[string]string{parse.LabelCleanEnable: "true", parse.LabelCleanExec: "x", parse.LabelCleanExecTimeout: "60 s"}, wantErr: "label swarm-utils.clean.exec.timeout"},
		{name: "zero timeout", labels: map[string]string{parse.LabelCleanEnable: "true", parse.LabelCleanExec: "x", parse.LabelCleanExecTimeout: "0"}, wantErr: "more than 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cleanservice.SettingsFromLabels(tt.labels, testConfig())
			checkSettings(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestBackupSettingsFromLabels(t *testing.T) {
	base := map[string]string{parse.LabelBackupEnable: "true", parse.LabelBackupVolumes: "data"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	cfg := testConfig()
	defaults := backup.Settings{Enabled: true, Shell: "/bin/sh", Volumes: []string{"data"}, S3: cfg.S3,
		ExecTimeout: 600 * time.Second, StopTimeout: 30 * time.Second, UploadTimeout: 600 * time.Second, StartTimeout: 300 * time.Second}
	tests := []struct {
		name    string
		labels  map[string]string
		cfg     func(*config.Config)
		want    func(*backup.Settings)
		wantErr string
	}{
		{name: "defaults from config", labels: base},
		{name: "volume list trimmed, empties and duplicates dropped",
			labels: with(map[string]string{parse.LabelBackupVolumes: " db , ,files,db,, logs "}),
			want:   func(s *backup.Settings) { s.Volumes = []string{"db", "files", "logs"} }},
		{name: "each S3 field overrides alone",
			labels: with(map[string]string{parse.LabelBackupS3Bucket: "team-a", parse.LabelBackupS3HTTPS: "False", parse.LabelBackupS3Retention: "8"}),
			want: func(s *backup.Settings) {
				s.S3.Bucket, s.S3.HTTPS, s.S3.RetentionDays = "team-a", false, 8
			}},
		{name: "every S3 field",
			labels: with(map[string]string{parse.LabelBackupS3URL: "minio:9000", parse.LabelBackupS3HTTPS: "true", parse.LabelBackupS3AccessKey: "ak",
				parse.LabelBackupS3SecretKey: "sk", parse.LabelBackupS3Bucket: "b", parse.LabelBackupS3Retention: "1"}),
			cfg: func(c *config.Config) { c.S3 = config.S3{} },
			want: func(s *backup.Settings) {
				s.S3 = config.S3{URL: "minio:9000", HTTPS: true, AccessKey: "ak", SecretKey: "sk", Bucket: "b", RetentionDays: 1}
			}},
		{name: "exec, stop, token, timeouts",
			labels: with(map[string]string{parse.LabelBackupExec: "pg_dump -f /data/dump.sql", parse.LabelBackupExecShell: "/bin/bash", parse.LabelBackupStop: "true",
				parse.LabelBackupExecTimeout: "1_000", parse.LabelBackupStopTimeout: "2000", parse.LabelBackupUploadTimeout: "3_000_000",
				parse.LabelBackupStartTimeout: "4"}),
			want: func(s *backup.Settings) {
				s.Exec, s.Shell, s.Stop = "pg_dump -f /data/dump.sql", "/bin/bash", true
				s.ExecTimeout, s.StopTimeout, s.UploadTimeout, s.StartTimeout = time.Second, 2*time.Second, 3000*time.Second, 4*time.Millisecond
			}},
		{name: "disabled", labels: map[string]string{parse.LabelBackupEnable: "false", parse.LabelBackupStop: "maybe"},
			want: func(s *backup.Settings) { *s = backup.Settings{} }},
		{name: "bad stop", labels: with(map[string]string{parse.LabelBackupStop: "1"}), wantErr: "label swarm-utils.backup.stop: \"1\" is not true or false"},
		{name: "bad https", labels: with(map[string]string{parse.LabelBackupS3HTTPS: "on"}), wantErr: "label swarm-utils.backup.volume-list-upload.s3.https"},
		{name: "retention 0", labels: with(map[string]string{parse.LabelBackupS3Retention: "0"}), wantErr: "label swarm-utils.backup.volume-list-upload.s3.retention-days"},
		{name: "retention word", labels: with(map[string]string{parse.LabelBackupS3Retention: "week"}), wantErr: "retention-days: \"week\""},
		{name: "url with scheme", labels: with(map[string]string{parse.LabelBackupS3URL: "https://s3"}), wantErr: "label swarm-utils.backup.volume-list-upload.s3.url"},
		{name: "no volumes", labels: map[string]string{parse.LabelBackupEnable: "true", parse.LabelBackupVolumes: " , "}, wantErr: "label swarm-utils.backup.volume-list-upload: is required"},
		{name: "no bucket anywhere", labels: base, cfg: func(c *config.Config) { c.S3.Bucket = "" },
			wantErr: "label swarm-utils.backup.volume-list-upload.s3.bucket: is not set and neither is SWARM_UTILS_S3_BUCKET"},
		{name: "no secret key anywhere", labels: base, cfg: func(c *config.Config) { c.S3.SecretKey = "" }, wantErr: "SWARM_UTILS_S3_SECRET_KEY"},
		{name: "bad upload timeout", labels: with(map[string]string{parse.LabelBackupUploadTimeout: "1__000"}), wantErr: "label swarm-utils.backup.volume-list-upload.timeout"},
		{name: "negative start timeout", labels: with(map[string]string{parse.LabelBackupStartTimeout: "-5"}), wantErr: "label swarm-utils.backup.start.timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig()
			if tt.cfg != nil {
				tt.cfg(&c)
			}
			want := defaults
			want.Volumes = slices.Clone(defaults.Volumes)
			if tt.want != nil {
				tt.want(&want)
			}
			got, err := backup.SettingsFromLabels(tt.labels, c)
			checkSettings(t, got, err, want, tt.wantErr)
		})
	}
}

func TestUpdateSettingsFromLabels(t *testing.T) {
	cfgReg := testConfig().Registry
	tests := []struct {
		name    string
		labels  map[string]string
		cfg     func(*config.Config)
		want    update.Settings
		wantErr string
	}{
		{name: "absent", labels: map[string]string{"com.example": "x"}, want: update.Settings{}},
		{name: "enabled, no auth", labels: map[string]string{parse.LabelUpdateEnable: "true"},
			want: update.Settings{Enabled: true, Registry: cfgReg}},
		{name: "registry fields fall back one by one",
			labels: map[string]string{parse.LabelUpdateEnable: "true", parse.LabelUpdateRegistryAuth: "true", parse.LabelUpdateRegistryUser: "ci"},
			want:   update.Settings{Enabled: true, RegistryAuth: true, Registry: config.Registry{User: "ci", Password: "cfg-pass", URL: "reg.local:5000"}}},
		{name: "exec-pre, exec-post",
			labels: map[string]string{parse.LabelUpdateEnable: "true", parse.LabelUpdateExecPre: "./migrate.sh", parse.LabelUpdateExecPost: "  "},
			want:   update.Settings{Enabled: true, Registry: cfgReg, ExecPre: "./migrate.sh", ExecPreShell: "/bin/sh", ExecPreTimeout: time.Minute}},
		{name: "exec-pre and exec-post with shell, timeout, on-failure",
			labels: map[string]string{parse.LabelUpdateEnable: "true",
				parse.LabelUpdateExecPre: "a", parse.LabelUpdateExecPreShell: "/bin/bash", parse.LabelUpdateExecPreTimeout: "5_000", parse.LabelUpdateExecPreOnFailure: "continue",
				parse.LabelUpdateExecPost: "b", parse.LabelUpdateExecPostTimeout: "7000", parse.LabelUpdateExecPostOnFail: "abort"},
			want: update.Settings{Enabled: true, Registry: cfgReg, ExecPre: "a", ExecPreShell: "/bin/bash", ExecPreTimeout: 5 * time.Second, ExecPreContinue: true,
				ExecPost: "b", ExecPostShell: "/bin/sh", ExecPostTimeout: 7 * time.Second}},
		{name: "bad on-failure", labels: map[string]string{parse.LabelUpdateEnable: "true", parse.LabelUpdateExecPost: "b", parse.LabelUpdateExecPostOnFail: "ignore"},
			wantErr: `label swarm-utils.update.exec-post.on-failure: "ignore" must be abort or continue`},
		{name: "bad exec timeout", labels: map[string]string{parse.LabelUpdateEnable: "true", parse.LabelUpdateExecPre: "a", parse.LabelUpdateExecPreTimeout: "soon"},
			wantErr: "label swarm-utils.update.exec-pre.timeout"},
		{name: "rollback from the label", labels: map[string]string{parse.LabelUpdateEnable: "true", parse.LabelUpdateRollback: "true"},
			want: update.Settings{Enabled: true, Registry: cfgReg, RollbackOnFailure: true}},
		{name: "rollback from the configuration", labels: map[string]string{parse.LabelUpdateEnable: "true"},
			cfg: func(c *config.Config) { c.UpdateRollbackOnFailure = true }, want: update.Settings{Enabled: true, Registry: cfgReg, RollbackOnFailure: true}},
		{name: "the label turns the configured rollback off", labels: map[string]string{parse.LabelUpdateEnable: "true", parse.LabelUpdateRollback: "false"},
			cfg: func(c *config.Config) { c.UpdateRollbackOnFailure = true }, want: update.Settings{Enabled: true, Registry: cfgReg}},
		{name: "auth without a password anywhere", labels: map[string]string{parse.LabelUpdateEnable: "true", parse.LabelUpdateRegistryAuth: "true"},
			cfg:     func(c *config.Config) { c.Registry.Password = "" },
			wantErr: "label swarm-utils.update.registry.password: is not set and neither is SWARM_UTILS_REGISTRY_PASSWORD"},
		{name: "no auth needs no credentials", labels: map[string]string{parse.LabelUpdateEnable: "true", parse.LabelUpdateRegistryAuth: "false"},
			cfg: func(c *config.Config) { c.Registry = config.Registry{} }, want: update.Settings{Enabled: true}},
		{name: "bad auth", labels: map[string]string{parse.LabelUpdateEnable: "true", parse.LabelUpdateRegistryAuth: "tru"}, wantErr: "label swarm-utils.update.registry.auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig()
			if tt.cfg != nil {
				tt.cfg(&c)
			}
			got, err := update.SettingsFromLabels(tt.labels, c)
			checkSettings(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestNodeCleanSettingsFromLabels(t *testing.T) {
	all := cleannode.Settings{Enabled: true, Image: true, Builder: true, Container: true,
		ImageTimeout: 61 * time.Second, BuilderTimeout: 62 * time.Second, ContainerTimeout: 63 * time.Second}
	tests := []struct {
		name    string
		labels  map[string]string
		want    func(*cleannode.Settings)
		wantErr string
	}{
		{name: "unlabelled node: everything on", labels: map[string]string{}},
		{name: "opted out", labels: map[string]string{parse.LabelNodeCleanEnable: "false", parse.LabelNodeCleanImageTimeout: "bad"},
			want: func(s *cleannode.Settings) { *s = cleannode.Settings{} }},
		{name: "steps and timeouts", labels: map[string]string{parse.LabelNodeCleanImageEnable: "false", parse.LabelNodeCleanBuilderTimeout: "120_000",
			parse.LabelNodeCleanContainerEnable: "False"},
			want: func(s *cleannode.Settings) {
				s.Image, s.Container, s.BuilderTimeout = false, false, 120*time.Second
			}},
		{name: "bad step bool", labels: map[string]string{parse.LabelNodeCleanBuilderEnable: "off"}, wantErr: "label swarm-utils.clean.builder.enable"},
		{name: "bad timeout", labels: map[string]string{parse.LabelNodeCleanContainerTimeout: "1e3"}, wantErr: "label swarm-utils.clean.container.timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := all
			if tt.want != nil {
				tt.want(&want)
			}
			got, err := cleannode.SettingsFromLabels(tt.labels, testConfig())
			checkSettings(t, got, err, want, tt.wantErr)
		})
	}
}

// The labels of the captured capture-web service, read as the commands will read them.
func TestSettingsFromCapturedLabels(t *testing.T) {
	svcs := mustParse(t, parse.ServiceInspect, "service-inspect.txt")
	i := slices.IndexFunc(svcs, func(s parse.Service) bool { return s.Name == "capture-web" })
	if i < 0 {
		t.Fatal("no capture-web")
	}
	web, cfg := svcs[i], testConfig()

	clean, err := cleanservice.SettingsFromLabels(web.Labels, cfg)
	checkSettings(t, clean, err, cleanservice.Settings{Enabled: true, Exec: "echo cleaned; date", Shell: "/bin/sh",
		ExecTimeout: 60 * time.Second}, "")

	bk, err := backup.SettingsFromLabels(web.Labels, cfg)
	wantS3 := cfg.S3
	wantS3.Bucket, wantS3.RetentionDays = "capture-bucket", 8
	checkSettings(t, bk, err, backup.Settings{Enabled: true, Shell: "/bin/sh", Stop: true,
		Volumes: []string{"capture-data", "capture-logs"}, S3: wantS3,
		ExecTimeout: 120 * time.Second, StopTimeout: 30 * time.Second, UploadTimeout: 600 * time.Second, StartTimeout: 300 * time.Second}, "")
	// Every volume to upload is a named volume mount of the service.
	for _, v := range bk.Volumes {
		if !slices.ContainsFunc(web.Mounts, func(m parse.Mount) bool { return m.Type == "volume" && m.Source == v }) {
			t.Errorf("volume %s is not mounted by capture-web", v)
		}
	}

	upd, err := update.SettingsFromLabels(web.Labels, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !upd.Enabled || !upd.RegistryAuth || upd.Registry != cfg.Registry {
		t.Errorf("update settings %+v (image %s)", upd, web.Image)
	}

	global := svcs[slices.IndexFunc(svcs, func(s parse.Service) bool { return s.Name == "capture-global" })]
	if s, err := cleanservice.SettingsFromLabels(global.Labels, cfg); err != nil || s.Enabled {
		t.Errorf("capture-global clean: %+v, %v; want disabled", s, err)
	}

	nodes := mustParse(t, parse.NodeInspect, "node-inspect.txt")
	for _, n := range nodes {
		s, err := cleannode.SettingsFromLabels(n.Labels, cfg)
		if err != nil || !s.Enabled || !s.Image || !s.Builder || !s.Container {
			t.Errorf("node %s: %+v, %v; want every step on", n.Hostname, s, err)
		}
	}
}

func checkSettings[T any](t *testing.T, got T, err error, want T, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want one containing %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

// FuzzSettings sets one label to an arbitrary value on top of an enabled, valid set, and checks
// the settings are either an error naming a label or consistent.
func FuzzSettings(f *testing.F) {
	labelNames := []string{
		parse.LabelCleanEnable, parse.LabelCleanExec, parse.LabelCleanExecShell, parse.LabelCleanExecTimeout, "swarm-utils.clean.token",
		parse.LabelBackupEnable, parse.LabelBackupExec, parse.LabelBackupExecShell, parse.LabelBackupExecTimeout, parse.LabelBackupStop,
		parse.LabelBackupStopTimeout, parse.LabelBackupStartTimeout, parse.LabelBackupVolumes, parse.LabelBackupUploadTimeout,
		parse.LabelBackupS3URL, parse.LabelBackupS3HTTPS, parse.LabelBackupS3AccessKey, parse.LabelBackupS3SecretKey, parse.LabelBackupS3Bucket,
		parse.LabelBackupS3Retention, "swarm-utils.backup.token", parse.LabelUpdateEnable, parse.LabelUpdateRegistryAuth, parse.LabelUpdateRegistryUser,
		parse.LabelUpdateRegistryPassword, parse.LabelUpdateRegistryURL, parse.LabelUpdateExecPre, parse.LabelUpdateExecPost,
		parse.LabelUpdateExecPreShell, parse.LabelUpdateExecPreTimeout, parse.LabelUpdateExecPreOnFailure, parse.LabelUpdateExecPostShell,
		parse.LabelUpdateExecPostTimeout, parse.LabelUpdateExecPostOnFail, parse.LabelUpdateRollback,
		"swarm-utils.update.image-allow", "swarm-utils.update.token", parse.LabelNodeCleanImageEnable, parse.LabelNodeCleanImageTimeout,
		parse.LabelNodeCleanBuilderEnable, parse.LabelNodeCleanBuilderTimeout, parse.LabelNodeCleanContainerEnable, parse.LabelNodeCleanContainerTimeout,
	}
	for _, name := range labelNames {
		for _, v := range []string{"", "true", "FALSE", "600_000", "9223372036854775807", "a,b,,a", "[", "x://y", "0", "-1"} {
			f.Add(name, v)
		}
	}
	if svcs, err := parse.ServiceInspect(testdataF(f, "service-inspect.txt")); err == nil {
		for _, s := range svcs {
			for k, v := range s.Labels {
				f.Add(k, v)
			}
		}
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		labels := map[string]string{
			parse.LabelCleanEnable: "true", parse.LabelCleanExec: "echo", parse.LabelBackupEnable: "true", parse.LabelBackupVolumes: "v",
			parse.LabelUpdateEnable: "true",
		}
		labels[key] = value
		cfg := testConfig()
		checkErr := func(err error) {
			if !strings.HasPrefix(err.Error(), "label "+parse.LabelPrefix) {
				t.Fatalf("error does not name a label: %v", err)
			}
		}
		if s, err := cleanservice.SettingsFromLabels(labels, cfg); err != nil {
			checkErr(err)
		} else if s.Enabled && (strings.TrimSpace(s.Exec) == "" || s.Shell == "" || s.ExecTimeout <= 0) {
			t.Fatalf("inconsistent clean settings %+v", s)
		}
		if s, err := backup.SettingsFromLabels(labels, cfg); err != nil {
			checkErr(err)
		} else if s.Enabled {
			seen := map[string]bool{}
			for _, v := range s.Volumes {
				if v == "" || v != strings.TrimSpace(v) || seen[v] {
					t.Fatalf("bad volume list %q", s.Volumes)
				}
				seen[v] = true
			}
			if len(s.Volumes) == 0 || s.S3.RetentionDays < 1 || s.S3.URL == "" || s.S3.Bucket == "" ||
				s.ExecTimeout <= 0 || s.StopTimeout <= 0 || s.UploadTimeout <= 0 || s.StartTimeout <= 0 {
				t.Fatalf("inconsistent backup settings %+v", s)
			}
		}
		if _, err := update.SettingsFromLabels(labels, cfg); err != nil {
			checkErr(err)
		}
		if s, err := cleannode.SettingsFromLabels(labels, cfg); err != nil {
			checkErr(err)
		} else if s.Enabled && (s.ImageTimeout <= 0 || s.BuilderTimeout <= 0 || s.ContainerTimeout <= 0) {
			t.Fatalf("inconsistent node settings %+v", s)
		}
	})
}
