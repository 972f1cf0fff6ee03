package parse

import "testing"

func TestConfigInspect(t *testing.T) {
	out := `[{"ID":"abc123","Version":{"Index":11},"CreatedAt":"2026-12-01T21:00:00.123456789Z","UpdatedAt":"2026-12-01T21:00:00.123456789Z",
"Spec":{"Name":"swarm-utils-lock-service-shop_db","Labels":{"swarm-utils.lock":"service:shop_db","swarm-utils.lock.expires":"2026-12-01T21:02:00Z"},"Data":"bG9jaw=="}}]`
	got, err := ConfigInspect(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "abc123" || got[0].Name != "swarm-utils-lock-service-shop_db" ||
		got[0].Labels["swarm-utils.lock"] != "service:shop_db" || got[0].CreatedAt.Year() != 2026 {
		t.Fatalf("got %+v", got)
	}
	if _, err := ConfigInspect(`[{"Spec":{}}]`); err == nil {
		t.Fatal("a config without ID must be an error")
	}
}
