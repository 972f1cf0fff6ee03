package procstat

import "testing"

func TestBytes(t *testing.T) {
	rss, err := Bytes("VmRSS")
	if err != nil || rss <= 0 {
		t.Fatalf("VmRSS = %d, %v", rss, err)
	}
	if hwm, err := Bytes("VmHWM"); err != nil || hwm < rss {
		t.Errorf("VmHWM = %d, %v; want at least VmRSS %d", hwm, err, rss)
	}
	if _, err := Bytes("NoSuchField"); err == nil {
		t.Error("a field that is not there: want an error")
	}
}
