//go:build integration

package api

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/internal/s3client"
	"github.com/swarm-utils/swarm-utils/internal/testbed"
)

// TestAPIBackupsAndRestoreOnTheCluster: through the live API, a backup token backs a service
// up and reads its catalogue (one archive, of worker-1), the restore token restores it (the
// file changed since is back), the backup token may not restore, and a global service is 422.
func TestAPIBackupsAndRestoreOnTheCluster(t *testing.T) {
	tb := testbed.Get(t)
	id := randID()
	cfg := tb.Config()
	cfg.AdminTokens = []string{itAdmin}
	cfg.SelfImage = os.Getenv("SWARM_UTILS_IMAGE")
	if cfg.SelfImage == "" {
		t.Fatal("SWARM_UTILS_IMAGE is not set: eval \"$(scripts/cluster env)\"")
	}
	a := startAPI(t, cfg, "127.0.0.1:0")
	name, global := "it-api-"+id+"-rs", "it-api-"+id+"-rsg"
	vol := name + "-data"
	backupTok, restoreTok := "it-api-backup-"+id, "it-api-restore-"+id
	a.secrets = append(a.secrets, backupTok, restoreTok, tb.S3SecretKey)
	s3 := tb.S3(t)
	t.Cleanup(func() {
		objs, _ := s3client.List(context.Background(), s3, tb.S3Bucket, name+"/")
		_ = s3client.Remove(context.Background(), s3, tb.S3Bucket, objs)
		_, _ = tb.TryDockerOn("worker-1", "volume", "rm", "-f", vol)
		_, _ = tb.TryDockerOn("worker-2", "volume", "rm", "-f", vol)
	})
	labels := []string{"--label", "swarm-utils.backup.enable=true", "--label", "swarm-utils.backup.volume-list-upload=" + vol,
		"--label", "swarm-utils.backup.token=" + backupTok, "--label", "swarm-utils.restore.token=" + restoreTok,
		"--mount", "type=volume,src=" + vol + ",dst=/data"}
	tb.Service(t, name, append(append([]string{"--replicas", "1", "--constraint", "node.hostname==worker-1"}, labels...), tb.WorkloadImage)...)
	tb.Service(t, global, append(append([]string{"--mode", "global", "--constraint", "node.hostname==worker-1"}, labels...), tb.WorkloadImage)...)

	inTask := func(script string) string {
		row := strings.TrimSpace(tb.Docker(t, "service", "ps", "--filter", "desired-state=running", "--format", "{{.ID}}", name))
		ctr := strings.TrimSpace(tb.Docker(t, "inspect", "--type", "task", "--format", "{{.Status.ContainerStatus.ContainerID}}", row))
		return tb.DockerOn(t, "worker-1", "exec", ctr, "sh", "-c", script)
	}
	inTask("echo original > /data/f.txt")
	expect(t, "backup", a.call(t, "POST", "/api/backup/service", backupTok, jsonBody(map[string]any{"serviceName": name})), 200, `"ok": true`)

	r := a.call(t, "GET", "/api/backups?serviceName="+name, backupTok, "")
	expect(t, "catalogue", r, 200, `"node": "worker-1"`)
	if n := strings.Count(r.body, `"key": "`+name+"/"+name+"_worker-1_"); n != 1 {
		t.Errorf("catalogue lists %d archives of worker-1, want 1:\n%s", n, r.body)
	}
	expect(t, "catalogue, restore token", a.call(t, "GET", "/api/backups?serviceName="+name, restoreTok, ""), 401, "backup.token")
	expect(t, "catalogue, no token", a.call(t, "GET", "/api/backups?serviceName="+name, "", ""), 401, "token")

	inTask("echo changed > /data/f.txt")
	expect(t, "restore, backup token", a.call(t, "POST", "/api/restore/service", backupTok, jsonBody(map[string]any{"serviceName": name})), 401, "restore-service")
	expect(t, "restore, global", a.call(t, "POST", "/api/restore/service", restoreTok, jsonBody(map[string]any{"serviceName": global})), 422, "replicated")
	expect(t, "restore", a.call(t, "POST", "/api/restore/service", restoreTok, jsonBody(map[string]any{"serviceName": name, "safetyBackup": false})), 200, `"ok": true`)
	testbed.WaitFor(t, time.Minute, "the service running again", func() bool { return tb.RunningReplicas(t, name) == 1 })
	if got := strings.TrimSpace(inTask("cat /data/f.txt")); got != "original" {
		t.Errorf("after the restore f.txt holds %q, want original", got)
	}

	// Move: admins only; an unknown node is 404, a global service 422; then to worker-2.
	move := func(tok, service, node string) reply {
		return a.call(t, "POST", "/api/move/service", tok, jsonBody(map[string]any{"serviceName": service, "node": node}))
	}
	expect(t, "move, restore token", move(restoreTok, name, "worker-2"), 401, "admin tokens only")
	expect(t, "move, unknown node", move(itAdmin, name, "worker-9"), 404, "not in the swarm")
	expect(t, "move, global", move(itAdmin, global, "worker-2"), 422, "replicated")
	expect(t, "move", move(itAdmin, name, "worker-2"), 200, `"ok": true`)
	testbed.WaitFor(t, time.Minute, "the service running on worker-2", func() bool {
		return strings.HasPrefix(tb.Docker(t, "service", "ps", "--filter", "desired-state=running", "--format", "{{.Node}} {{.CurrentState}}", name), "worker-2 Running")
	})
	row := strings.TrimSpace(tb.Docker(t, "service", "ps", "--filter", "desired-state=running", "--format", "{{.ID}}", name))
	ctr := strings.TrimSpace(tb.Docker(t, "inspect", "--type", "task", "--format", "{{.Status.ContainerStatus.ContainerID}}", row))
	if got := strings.TrimSpace(tb.DockerOn(t, "worker-2", "exec", ctr, "cat", "/data/f.txt")); got != "original" {
		t.Errorf("after the move f.txt on worker-2 holds %q, want original", got)
	}
	assertNoHelpersFor(t, tb, id)
}
