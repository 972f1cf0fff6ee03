package parse

import (
	"os"
	"path/filepath"
	"testing"
)

// seedCaptures adds every testdata capture, plus noisy and truncated variants, to f.
func seedCaptures(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no testdata: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		s := string(b)
		f.Add(s)
		f.Add("WARNING: x\n" + s)
		f.Add(s[:len(s)/2])
	}
	f.Add("")
	f.Add("[]")
	f.Add("[\n")
	f.Add("{")
	f.Add(`[{"ID":"x","Spec":{"Mode":{"Replicated":{"Replicas":-1}}}}]`)
}

func FuzzServiceInspect(f *testing.F) {
	seedCaptures(f)
	f.Fuzz(func(t *testing.T, out string) {
		svcs, err := ServiceInspect(out)
		if err != nil {
			return
		}
		if svcs == nil {
			t.Fatal("nil slice without an error")
		}
		for _, s := range svcs {
			if s.ID == "" || s.Name == "" || s.Mode == "" || s.Labels == nil {
				t.Fatalf("junk service %+v", s)
			}
		}
	})
}

func FuzzServicePs(f *testing.F) {
	seedCaptures(f)
	f.Fuzz(func(t *testing.T, out string) {
		rows, err := ServicePs(out)
		if err != nil {
			return
		}
		if rows == nil {
			t.Fatal("nil slice without an error")
		}
		for _, r := range rows {
			if r.ID == "" {
				t.Fatalf("junk row %+v", r)
			}
			_ = r.State()
		}
	})
}

// FuzzOtherParsers runs the remaining parsers on the same inputs.
func FuzzOtherParsers(f *testing.F) {
	seedCaptures(f)
	f.Fuzz(func(t *testing.T, out string) {
		if rows, err := NodeLs(out); err == nil {
			for _, r := range rows {
				if r.ID == "" {
					t.Fatalf("junk node row %+v", r)
				}
			}
		}
		if nodes, err := NodeInspect(out); err == nil {
			for _, n := range nodes {
				if n.ID == "" || n.Labels == nil {
					t.Fatalf("junk node %+v", n)
				}
			}
		}
		if rows, err := ServiceLs(out); err == nil {
			for _, r := range rows {
				if r.ID == "" {
					t.Fatalf("junk service row %+v", r)
				}
			}
		}
		if tasks, err := TaskInspect(out); err == nil {
			for _, task := range tasks {
				if task.ID == "" {
					t.Fatalf("junk task %+v", task)
				}
				_, _ = task.Terminal(), task.Succeeded()
			}
		}
		if rows, err := VolumeLs(out); err == nil {
			for _, r := range rows {
				if r.Name == "" {
					t.Fatalf("junk volume %+v", r)
				}
			}
		}
	})
}

// FuzzLabels sets one label to an arbitrary value and checks MaskedLabels hides every secret
// label (the job settings are fuzzed in package jobs).
func FuzzLabels(f *testing.F) {
	labelNames := []string{
		LabelCleanEnable, LabelCleanExec, LabelCleanExecShell, LabelCleanExecTimeout, "swarm-utils.clean.token",
		LabelBackupEnable, LabelBackupExec, LabelBackupExecShell, LabelBackupExecTimeout, LabelBackupStop,
		LabelBackupStopTimeout, LabelBackupStartTimeout, LabelBackupVolumes, LabelBackupUploadTimeout,
		LabelBackupS3URL, LabelBackupS3HTTPS, LabelBackupS3AccessKey, LabelBackupS3SecretKey, LabelBackupS3Bucket,
		LabelBackupS3Retention, "swarm-utils.backup.token", LabelUpdateEnable, LabelUpdateRegistryAuth, LabelUpdateRegistryUser,
		LabelUpdateRegistryPassword, LabelUpdateRegistryURL, LabelUpdateExecPre, LabelUpdateExecPost,
		"swarm-utils.update.image-allow", "swarm-utils.update.token", LabelNodeCleanImageEnable, LabelNodeCleanImageTimeout,
		LabelNodeCleanBuilderEnable, LabelNodeCleanBuilderTimeout, LabelNodeCleanContainerEnable, LabelNodeCleanContainerTimeout,
	}
	for _, name := range labelNames {
		for _, v := range []string{"", "true", "FALSE", "600_000", "9223372036854775807", "a,b,,a", "[", "x://y", "0", "-1"} {
			f.Add(name, v)
		}
	}
	if svcs, err := ServiceInspect(testdataF(f, "service-inspect.txt")); err == nil {
		for _, s := range svcs {
			for k, v := range s.Labels {
				f.Add(k, v)
			}
		}
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		labels := map[string]string{
			LabelCleanEnable: "true", LabelCleanExec: "echo", LabelBackupEnable: "true", LabelBackupVolumes: "v",
			LabelUpdateEnable: "true",
		}
		labels[key] = value
		masked := MaskedLabels(labels)
		if len(masked) != len(labels) {
			t.Fatal("MaskedLabels lost labels")
		}
		if isSecretLabel(key) && value != "" && masked[key] != "***" {
			t.Fatalf("secret label %s not masked", key)
		}
	})
}

func testdataF(f *testing.F, name string) string {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	return string(b)
}
