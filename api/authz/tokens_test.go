package authz

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/parse"
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

// TestCheckTokenLabel: token labels accept plain and sha256:<hex> tokens and reject malformed
// hashed ones without echoing the value.
func TestCheckTokenLabel(t *testing.T) {
	sum := sha256.Sum256([]byte("ci-token"))
	tests := []struct {
		name, label, value, wantErr string
	}{
		{name: "absent", label: LabelCleanToken},
		{name: "plain", label: LabelCleanToken, value: "ci-token"},
		{name: "hashed", label: LabelBackupToken, value: "sha256:" + hex.EncodeToString(sum[:])},
		{name: "malformed hashed clean token", label: LabelCleanToken, value: "sha256:not-a-digest-secretish",
			wantErr: "label swarm-utils.clean.token: a hashed token must be sha256: followed by the 64 hex digits"},
		{name: "malformed hashed update token", label: LabelUpdateToken, value: "sha256:short-secretish", wantErr: "label swarm-utils.update.token"},
		{name: "malformed hashed node token", label: LabelNodeCleanToken, value: " SHA256:12-secretish ", wantErr: "label swarm-utils.clean.token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			labels := map[string]string{}
			if tt.value != "" {
				labels[tt.label] = tt.value
			}
			err := CheckTokenLabel(labels, tt.label)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want %q", err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), "secretish"):
				t.Errorf("the error echoes the label value: %v", err)
			}
		})
	}
	if m := parse.MaskedLabels(map[string]string{LabelCleanToken: "sha256:" + hex.EncodeToString(sum[:])}); m[LabelCleanToken] != "***" {
		t.Errorf("a hashed token is not masked: %v", m)
	}
}

func TestEqualToken(t *testing.T) {
	sum := sha256.Sum256([]byte("abc"))
	hashed := "sha256:" + hex.EncodeToString(sum[:])
	for _, tt := range []struct {
		given, configured string
		want              bool
	}{
		{"abc", "abc", true},
		{"abc", "abcd", false},
		{"abcd", "abc", false},
		{"", "", false},
		{"x", "", false},
		{"", "x", false},
		{"ABC", "abc", false},
		{"abc", hashed, true},
		{"abc", strings.ToUpper(hashed), true},
		{hashed, hashed, false}, // the digest is no token
		{"sha256:short", "sha256:short", false},
	} {
		if got := Equal(tt.given, tt.configured); got != tt.want {
			t.Errorf("Equal(%q, %q) = %v", tt.given, tt.configured, got)
		}
	}
	if !Any("b", []string{"a", "b", "c"}) || Any("d", []string{"a", "b", "c"}) || Any("", []string{""}) {
		t.Error("Any")
	}
}
