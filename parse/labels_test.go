package parse

import (
	"reflect"
	"testing"
)

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
