package authz

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/parse"
)

func TestOIDCRuleFromLabels(t *testing.T) {
	tests := []struct {
		name    string
		labels  map[string]string
		action  string
		want    OIDCRule
		wantErr string
	}{
		{name: "none", labels: map[string]string{LabelCleanToken: "x"}, action: "clean", want: OIDCRule{}},
		{name: "repository only", labels: map[string]string{LabelUpdateOIDCRepository: " org/app "}, action: "update",
			want: OIDCRule{Repositories: []string{"org/app"}}},
		{name: "every label", action: "backup", labels: map[string]string{
			LabelBackupOIDCRepository: "org/app, org/app-deploy,org/app", "swarm-utils.backup.oidc.ref": "refs/heads/main,refs/tags/v1",
			"swarm-utils.backup.oidc.ref-protected": "TRUE", "swarm-utils.backup.oidc.issuer": "https://gitlab.example.com/"},
			want: OIDCRule{Repositories: []string{"org/app", "org/app-deploy"}, Refs: []string{"refs/heads/main", "refs/tags/v1"},
				RefProtected: true, Issuer: "https://gitlab.example.com"}},
		{name: "issuer alias", action: "clean", labels: map[string]string{LabelCleanOIDCRepository: "g/p", "swarm-utils.clean.oidc.issuer": "GitLab"},
			want: OIDCRule{Repositories: []string{"g/p"}, Issuer: "https://gitlab.com"}},
		{name: "another action's labels", action: "clean", labels: map[string]string{LabelUpdateOIDCRepository: "org/app"}, want: OIDCRule{}},
		{name: "bad bool", action: "clean", labels: map[string]string{LabelCleanOIDCRepository: "org/app", "swarm-utils.clean.oidc.ref-protected": "yes"},
			wantErr: `label swarm-utils.clean.oidc.ref-protected: "yes" is not true or false`},
		{name: "ref without repository", action: "update", labels: map[string]string{"swarm-utils.update.oidc.ref": "main"},
			wantErr: "label swarm-utils.update.oidc.repository: is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := OIDCRuleFromLabels(tt.labels, tt.action)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestImageAllowFromLabels(t *testing.T) {
	tests := []struct {
		name, value string
		want        ImageAllow
		wantErr     string
	}{
		{name: "absent"},
		{name: "trimmed, empties and duplicates dropped", value: "reg.local:5000/team/*, ,reg.local:5000/team/*,reg.local:5000/base:1.?",
			want: ImageAllow{"reg.local:5000/team/*", "reg.local:5000/base:1.?"}},
		{name: "bad glob", value: "reg/[a", wantErr: `label swarm-utils.update.image-allow: "reg/[a" is not a valid glob`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			labels := map[string]string{parse.LabelUpdateEnable: "true"}
			if tt.value != "" {
				labels[LabelUpdateImageAllow] = tt.value
			}
			got, err := ImageAllowFromLabels(labels)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestImageAllowed(t *testing.T) {
	two := ImageAllow{"reg:5000/team/*", "reg:5000/base:1.?"}
	star := ImageAllow{"*"}
	tests := []struct {
		allow ImageAllow
		image string
		want  bool
	}{
		{two, "reg:5000/team/app:1.2", true},
		{two, "reg:5000/team/app@sha256:abc", true},
		{two, "reg:5000/team/x/app:1", false}, // * does not cross /
		{two, "reg:5000/base:1.4", true},
		{two, "reg:5000/base:1.40", false},
		{two, "evil.example/team/app:1", false},
		{two, "", false},
		{star, "busybox", true}, // a lone * allows any image, / included
		{star, "reg:5000/team/x/app:1", true},
		{star, "a/b/c@sha256:" + strings.Repeat("0", 64), true},
		{ImageAllow{"reg:5000/team/*"}, "reg:5000/other/app:2", false},
		{nil, "anything:1", true}, // no globs: every image (callers check len)
	}
	for _, tt := range tests {
		if got := tt.allow.Allowed(tt.image); got != tt.want {
			t.Errorf("%q.Allowed(%q) = %v, want %v", tt.allow, tt.image, got, tt.want)
		}
	}
}

// The authorisation labels of the captured capture-web service (parse's testdata), read as the
// API reads them.
func TestCapturedAuthLabels(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "parse", "testdata", "service-inspect.txt"))
	if err != nil {
		t.Fatal(err)
	}
	svcs, err := parse.ServiceInspect(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(svcs, func(s parse.Service) bool { return s.Name == "capture-web" })
	if i < 0 {
		t.Fatal("no capture-web")
	}
	web := svcs[i]
	for label, want := range map[string]string{LabelCleanToken: "capture-clean-token", LabelBackupToken: "capture-backup-token", LabelUpdateToken: "capture-update-token"} {
		if got := labelValue(web.Labels, label); got != want || CheckTokenLabel(web.Labels, label) != nil {
			t.Errorf("%s = %q, want %q", label, got, want)
		}
	}
	allow, err := ImageAllowFromLabels(web.Labels)
	if err != nil || len(allow) != 1 || !allow.Allowed(web.Image) || allow.Allowed("docker.io/library/busybox:latest") {
		t.Errorf("image-allow %q, %v (image %s)", allow, err, web.Image)
	}
}
