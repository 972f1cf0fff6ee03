package api

import (
	"slices"
	"testing"

	"github.com/swarm-utils/swarm-utils/operation"
)

// newestOf: per set of target keys, the newest job of each operation on any of its keys,
// newest first; a key in two sets counts in both; a set none of whose keys has a job is empty.
func TestJobStoreNewestOf(t *testing.T) {
	store := newJobStore(10, 4)
	ids := map[string]string{}
	for _, n := range []struct{ name, op, key string }{
		{"db-clean-old", OpCleanService, "service:shop_db"},
		{"db-backup", OpBackupService, "service:shop_db"},
		{"w1-by-name", OpCleanNode, "node:worker-1"},
		{"db-clean-new", OpCleanService, "service:shop_db"},
		{"w1-by-id", OpCleanNode, "node:id-w1"},
		{"web-update", OpUpdateService, "service:shop_web"},
	} {
		j, e := store.add(newJob{operation: n.op, target: n.key, key: n.key, admin: true})
		if e != nil {
			t.Fatal(e)
		}
		ids[j.id] = n.name
		if n.name == "db-backup" {
			store.finish(j, operation.Result{Operation: n.op, OK: true})
		}
	}
	for _, tc := range []struct {
		name string
		sets [][]string
		want [][]string
	}{
		{"a service", [][]string{{"service:shop_db"}}, [][]string{{"db-clean-new", "db-backup"}}},
		{"a node by name and ID", [][]string{{"node:worker-1", "node:id-w1"}}, [][]string{{"w1-by-id"}}},
		{"a node by name alone", [][]string{{"node:worker-1"}}, [][]string{{"w1-by-name"}}},
		{"several at once", [][]string{{"service:shop_web"}, {"service:none"}, {"service:shop_db"}, {"node:id-w1"}},
			[][]string{{"web-update"}, nil, {"db-clean-new", "db-backup"}, {"w1-by-id"}}},
		{"one key in two sets", [][]string{{"service:shop_web"}, {"service:shop_web", "service:shop_db"}},
			[][]string{{"web-update"}, {"web-update", "db-clean-new", "db-backup"}}},
		{"none", nil, [][]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := [][]string{}
			for _, views := range store.newestOf(tc.sets) {
				var names []string
				for _, v := range views {
					names = append(names, ids[v.ID])
				}
				got = append(got, names)
			}
			if !slices.EqualFunc(got, tc.want, slices.Equal) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	if v := store.newestOf([][]string{{"service:shop_db"}})[0][1]; v.Result == nil || !v.Result.OK || v.State != JobDone {
		t.Errorf("the finished backup's view lacks its result: %+v", v)
	}
}
