package parse

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
)

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
		want    CleanSettings
		wantErr string
	}{
		{name: "no labels", labels: nil, want: CleanSettings{}},
		{name: "disabled, other labels inert", labels: map[string]string{LabelCleanEnable: "false", LabelCleanExecTimeout: "soon"}, want: CleanSettings{}},
		{name: "enabled with defaults", labels: map[string]string{LabelCleanEnable: "TRUE", LabelCleanExec: "registry garbage-collect /etc/config.yml"},
			want: CleanSettings{Enabled: true, Exec: "registry garbage-collect /etc/config.yml", Shell: "/bin/ash", ExecTimeout: 60 * time.Second}},
		{name: "every label", labels: map[string]string{LabelCleanEnable: " true ", LabelCleanExec: "echo a; echo b", LabelCleanExecShell: "/bin/bash",
			LabelCleanExecTimeout: "1_500"},
			want: CleanSettings{Enabled: true, Exec: "echo a; echo b", Shell: "/bin/bash", ExecTimeout: 1500 * time.Millisecond}},
		{name: "bad bool", labels: map[string]string{LabelCleanEnable: "yes"}, wantErr: "label swarm-utils.clean.enable: \"yes\" is not true or false"},
		{name: "empty bool", labels: map[string]string{LabelCleanEnable: ""}, wantErr: "label swarm-utils.clean.enable"},
		{name: "no exec", labels: map[string]string{LabelCleanEnable: "true"}, wantErr: "label swarm-utils.clean.exec: is required"},
		{name: "blank exec", labels: map[string]string{LabelCleanEnable: "true", LabelCleanExec: "  "}, wantErr: "label swarm-utils.clean.exec: is required"},
		{name: "bad timeout", labels: map[string]string{LabelCleanEnable: "true", LabelCleanExec: "x", LabelCleanExecTimeout: "60s"}, wantErr: "label swarm-utils.clean.exec.timeout"},
		{name: "zero timeout", labels: map[string]string{LabelCleanEnable: "true", LabelCleanExec: "x", LabelCleanExecTimeout: "0"}, wantErr: "more than 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CleanSettingsFromLabels(tt.labels, testConfig())
			checkSettings(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestBackupSettingsFromLabels(t *testing.T) {
	base := map[string]string{LabelBackupEnable: "true", LabelBackupVolumes: "data"}
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
	defaults := BackupSettings{Enabled: true, Shell: "/bin/sh", Volumes: []string{"data"}, S3: cfg.S3,
		ExecTimeout: 600 * time.Second, StopTimeout: 30 * time.Second, UploadTimeout: 600 * time.Second, StartTimeout: 300 * time.Second}
	tests := []struct {
		name    string
		labels  map[string]string
		cfg     func(*config.Config)
		want    func(*BackupSettings)
		wantErr string
	}{
		{name: "defaults from config", labels: base},
		{name: "volume list trimmed, empties and duplicates dropped",
			labels: with(map[string]string{LabelBackupVolumes: " db , ,files,db,, logs "}),
			want:   func(s *BackupSettings) { s.Volumes = []string{"db", "files", "logs"} }},
		{name: "each S3 field overrides alone",
			labels: with(map[string]string{LabelBackupS3Bucket: "team-a", LabelBackupS3HTTPS: "False", LabelBackupS3Retention: "8"}),
			want: func(s *BackupSettings) {
				s.S3.Bucket, s.S3.HTTPS, s.S3.RetentionDays = "team-a", false, 8
			}},
		{name: "every S3 field",
			labels: with(map[string]string{LabelBackupS3URL: "minio:9000", LabelBackupS3HTTPS: "true", LabelBackupS3AccessKey: "ak",
				LabelBackupS3SecretKey: "sk", LabelBackupS3Bucket: "b", LabelBackupS3Retention: "1"}),
			cfg: func(c *config.Config) { c.S3 = config.S3{} },
			want: func(s *BackupSettings) {
				s.S3 = config.S3{URL: "minio:9000", HTTPS: true, AccessKey: "ak", SecretKey: "sk", Bucket: "b", RetentionDays: 1}
			}},
		{name: "exec, stop, token, timeouts",
			labels: with(map[string]string{LabelBackupExec: "pg_dump -f /data/dump.sql", LabelBackupExecShell: "/bin/bash", LabelBackupStop: "true",
				LabelBackupExecTimeout: "1_000", LabelBackupStopTimeout: "2000", LabelBackupUploadTimeout: "3_000_000",
				LabelBackupStartTimeout: "4"}),
			want: func(s *BackupSettings) {
				s.Exec, s.Shell, s.Stop = "pg_dump -f /data/dump.sql", "/bin/bash", true
				s.ExecTimeout, s.StopTimeout, s.UploadTimeout, s.StartTimeout = time.Second, 2*time.Second, 3000*time.Second, 4*time.Millisecond
			}},
		{name: "disabled", labels: map[string]string{LabelBackupEnable: "false", LabelBackupStop: "maybe"},
			want: func(s *BackupSettings) { *s = BackupSettings{} }},
		{name: "bad stop", labels: with(map[string]string{LabelBackupStop: "1"}), wantErr: "label swarm-utils.backup.stop: \"1\" is not true or false"},
		{name: "bad https", labels: with(map[string]string{LabelBackupS3HTTPS: "on"}), wantErr: "label swarm-utils.backup.volume-list-upload.s3.https"},
		{name: "retention 0", labels: with(map[string]string{LabelBackupS3Retention: "0"}), wantErr: "label swarm-utils.backup.volume-list-upload.s3.retention-days"},
		{name: "retention word", labels: with(map[string]string{LabelBackupS3Retention: "week"}), wantErr: "retention-days: \"week\""},
		{name: "url with scheme", labels: with(map[string]string{LabelBackupS3URL: "https://s3"}), wantErr: "label swarm-utils.backup.volume-list-upload.s3.url"},
		{name: "no volumes", labels: map[string]string{LabelBackupEnable: "true", LabelBackupVolumes: " , "}, wantErr: "label swarm-utils.backup.volume-list-upload: is required"},
		{name: "no bucket anywhere", labels: base, cfg: func(c *config.Config) { c.S3.Bucket = "" },
			wantErr: "label swarm-utils.backup.volume-list-upload.s3.bucket: is not set and neither is SWARM_UTILS_S3_BUCKET"},
		{name: "no secret key anywhere", labels: base, cfg: func(c *config.Config) { c.S3.SecretKey = "" }, wantErr: "SWARM_UTILS_S3_SECRET_KEY"},
		{name: "bad upload timeout", labels: with(map[string]string{LabelBackupUploadTimeout: "1__000"}), wantErr: "label swarm-utils.backup.volume-list-upload.timeout"},
		{name: "negative start timeout", labels: with(map[string]string{LabelBackupStartTimeout: "-5"}), wantErr: "label swarm-utils.backup.start.timeout"},
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
			got, err := BackupSettingsFromLabels(tt.labels, c)
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
		want    UpdateSettings
		wantErr string
	}{
		{name: "absent", labels: map[string]string{"com.example": "x"}, want: UpdateSettings{}},
		{name: "enabled, no auth", labels: map[string]string{LabelUpdateEnable: "true"},
			want: UpdateSettings{Enabled: true, Registry: cfgReg}},
		{name: "registry fields fall back one by one",
			labels: map[string]string{LabelUpdateEnable: "true", LabelUpdateRegistryAuth: "true", LabelUpdateRegistryUser: "ci"},
			want:   UpdateSettings{Enabled: true, RegistryAuth: true, Registry: config.Registry{User: "ci", Password: "cfg-pass", URL: "reg.local:5000"}}},
		{name: "exec-pre, exec-post",
			labels: map[string]string{LabelUpdateEnable: "true", LabelUpdateExecPre: "./migrate.sh", LabelUpdateExecPost: "  "},
			want:   UpdateSettings{Enabled: true, Registry: cfgReg, ExecPre: "./migrate.sh"}},
		{name: "auth without a password anywhere", labels: map[string]string{LabelUpdateEnable: "true", LabelUpdateRegistryAuth: "true"},
			cfg:     func(c *config.Config) { c.Registry.Password = "" },
			wantErr: "label swarm-utils.update.registry.password: is not set and neither is SWARM_UTILS_REGISTRY_PASSWORD"},
		{name: "no auth needs no credentials", labels: map[string]string{LabelUpdateEnable: "true", LabelUpdateRegistryAuth: "false"},
			cfg: func(c *config.Config) { c.Registry = config.Registry{} }, want: UpdateSettings{Enabled: true}},
		{name: "bad auth", labels: map[string]string{LabelUpdateEnable: "true", LabelUpdateRegistryAuth: "tru"}, wantErr: "label swarm-utils.update.registry.auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig()
			if tt.cfg != nil {
				tt.cfg(&c)
			}
			got, err := UpdateSettingsFromLabels(tt.labels, c)
			checkSettings(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestNodeCleanSettingsFromLabels(t *testing.T) {
	all := NodeCleanSettings{Enabled: true, Image: true, Builder: true, Container: true,
		ImageTimeout: 61 * time.Second, BuilderTimeout: 62 * time.Second, ContainerTimeout: 63 * time.Second}
	tests := []struct {
		name    string
		labels  map[string]string
		want    func(*NodeCleanSettings)
		wantErr string
	}{
		{name: "unlabelled node: everything on", labels: map[string]string{}},
		{name: "opted out", labels: map[string]string{LabelNodeCleanEnable: "false", LabelNodeCleanImageTimeout: "bad"},
			want: func(s *NodeCleanSettings) { *s = NodeCleanSettings{} }},
		{name: "steps and timeouts", labels: map[string]string{LabelNodeCleanImageEnable: "false", LabelNodeCleanBuilderTimeout: "120_000",
			LabelNodeCleanContainerEnable: "False"},
			want: func(s *NodeCleanSettings) {
				s.Image, s.Container, s.BuilderTimeout = false, false, 120*time.Second
			}},
		{name: "bad step bool", labels: map[string]string{LabelNodeCleanBuilderEnable: "off"}, wantErr: "label swarm-utils.clean.builder.enable"},
		{name: "bad timeout", labels: map[string]string{LabelNodeCleanContainerTimeout: "1e3"}, wantErr: "label swarm-utils.clean.container.timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := all
			if tt.want != nil {
				tt.want(&want)
			}
			got, err := NodeCleanSettingsFromLabels(tt.labels, testConfig())
			checkSettings(t, got, err, want, tt.wantErr)
		})
	}
}

// The labels of the captured capture-web service, read as the commands will read them.
func TestSettingsFromCapturedLabels(t *testing.T) {
	svcs := mustParse(t, ServiceInspect, "service-inspect.txt")
	i := slices.IndexFunc(svcs, func(s Service) bool { return s.Name == "capture-web" })
	if i < 0 {
		t.Fatal("no capture-web")
	}
	web, cfg := svcs[i], testConfig()

	clean, err := CleanSettingsFromLabels(web.Labels, cfg)
	checkSettings(t, clean, err, CleanSettings{Enabled: true, Exec: "echo cleaned; date", Shell: "/bin/sh",
		ExecTimeout: 60 * time.Second}, "")

	backup, err := BackupSettingsFromLabels(web.Labels, cfg)
	wantS3 := cfg.S3
	wantS3.Bucket, wantS3.RetentionDays = "capture-bucket", 8
	checkSettings(t, backup, err, BackupSettings{Enabled: true, Shell: "/bin/sh", Stop: true,
		Volumes: []string{"capture-data", "capture-logs"}, S3: wantS3,
		ExecTimeout: 120 * time.Second, StopTimeout: 30 * time.Second, UploadTimeout: 600 * time.Second, StartTimeout: 300 * time.Second}, "")
	// Every volume to upload is a named volume mount of the service.
	for _, v := range backup.Volumes {
		if !slices.ContainsFunc(web.Mounts, func(m Mount) bool { return m.Type == "volume" && m.Source == v }) {
			t.Errorf("volume %s is not mounted by capture-web", v)
		}
	}

	update, err := UpdateSettingsFromLabels(web.Labels, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !update.Enabled || !update.RegistryAuth || update.Registry != cfg.Registry {
		t.Errorf("update settings %+v (image %s)", update, web.Image)
	}

	global := svcs[slices.IndexFunc(svcs, func(s Service) bool { return s.Name == "capture-global" })]
	if s, err := CleanSettingsFromLabels(global.Labels, cfg); err != nil || s.Enabled {
		t.Errorf("capture-global clean: %+v, %v; want disabled", s, err)
	}

	nodes := mustParse(t, NodeInspect, "node-inspect.txt")
	for _, n := range nodes {
		s, err := NodeCleanSettingsFromLabels(n.Labels, cfg)
		if err != nil || !s.Enabled || !s.Image || !s.Builder || !s.Container {
			t.Errorf("node %s: %+v, %v; want every step on", n.Hostname, s, err)
		}
	}
}

func TestMaskedLabels(t *testing.T) {
	in := map[string]string{
		"swarm-utils.clean.token":   "t1",
		LabelUpdateRegistryPassword: "p1",
		LabelBackupS3SecretKey:      "sk",
		LabelBackupS3AccessKey:      "ak",
		"swarm-utils.backup.token":  "",
		"com.example.api-token":     "t2",
		LabelCleanExec:              "echo hi",
		LabelUpdateRegistryUser:     "ci",
	}
	want := map[string]string{
		"swarm-utils.clean.token":   "***",
		LabelUpdateRegistryPassword: "***",
		LabelBackupS3SecretKey:      "***",
		LabelBackupS3AccessKey:      "***",
		"swarm-utils.backup.token":  "",
		"com.example.api-token":     "***",
		LabelCleanExec:              "echo hi",
		LabelUpdateRegistryUser:     "ci",
	}
	got := MaskedLabels(in)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if in["swarm-utils.clean.token"] != "t1" {
		t.Fatal("MaskedLabels changed its input")
	}
	if MaskedLabels(nil) == nil {
		t.Fatal("MaskedLabels(nil) is nil")
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
