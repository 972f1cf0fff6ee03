package parse

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
)

func TestTokenHash(t *testing.T) {
	sum := sha256.Sum256([]byte("ci-token"))
	hexSum := hex.EncodeToString(sum[:])
	tests := []struct {
		value          string
		hashed, wellOK bool
	}{
		{"ci-token", false, false},
		{"", false, false},
		{"sha256:" + hexSum, true, true},
		{"SHA256:" + strings.ToUpper(hexSum), true, true},
		{"sha256:" + hexSum[:63], true, false},
		{"sha256:" + hexSum + "00", true, false},
		{"sha256:" + hexSum[:62] + "zz", true, false},
		{"sha256:", true, false},
		{"sha25", false, false},
	}
	for _, tt := range tests {
		digest, hashed, ok := TokenHash(tt.value)
		if hashed != tt.hashed || ok != tt.wellOK {
			t.Errorf("TokenHash(%q) = hashed %v ok %v, want %v %v", tt.value, hashed, ok, tt.hashed, tt.wellOK)
		}
		if ok && digest != sum {
			t.Errorf("TokenHash(%q) digest %x, want %x", tt.value, digest, sum)
		}
	}
}

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
