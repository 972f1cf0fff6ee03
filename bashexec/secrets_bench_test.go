package bashexec

import (
	"strings"
	"testing"
)

// Mask runs on every logged command line and every collected log; most texts hold no secret.

func benchSecrets() *Secrets {
	return NewSecrets("registry-password-0123456789", "s3-access-key-AKIAEXAMPLE", "s3-secret-key-wJalrXUtnFEMI/K7MDENG",
		"admin-token-1", "admin-token-2", "service-token-abcdef")
}

// benchLog is ~64 KiB of helper log.
var benchLog = strings.Repeat("deleted: sha256:57bbd002f2ff7201e5df2a640e279f8b340ec4264bbfab46fec18d16f1b7f6ad\n", 800)

func BenchmarkMaskNoSecretInLine(b *testing.B) {
	s := benchSecrets()
	line := "docker service create --detach --quiet --name swarm-utils-clean-node-worker-1-prune --mode replicated-job --restart-condition none 192.168.213.1:5000/su/helper:1"
	b.ReportAllocs()
	for b.Loop() {
		if s.Mask(line) != line {
			b.Fatal("masked a line without secrets")
		}
	}
}

func BenchmarkMaskNoSecretInLog(b *testing.B) {
	s := benchSecrets()
	b.SetBytes(int64(len(benchLog)))
	b.ReportAllocs()
	for b.Loop() {
		if s.Mask(benchLog) != benchLog {
			b.Fatal("masked a log without secrets")
		}
	}
}

func BenchmarkMaskSecretsInLog(b *testing.B) {
	s := benchSecrets()
	text := benchLog + "login with registry-password-0123456789 and s3-secret-key-wJalrXUtnFEMI/K7MDENG\n" + benchLog
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		if out := s.Mask(text); strings.Contains(out, "registry-password") || !strings.Contains(out, "***") {
			b.Fatal("secret not masked")
		}
	}
}

// The access log masks each of its short fields against every label token of the cluster:
// 900 values, as 300 services with three tokens each register.
func BenchmarkMaskManySecretsShortField(b *testing.B) {
	s := benchSecrets()
	for i := range 900 {
		s.Add("label-token-" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('A'+i/26)))
	}
	field := "POST /api/clean/service"
	b.ReportAllocs()
	for b.Loop() {
		if s.Mask(field) != field {
			b.Fatal("masked a field without secrets")
		}
	}
}
