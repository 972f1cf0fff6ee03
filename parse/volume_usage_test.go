package parse

import (
	"os"
	"reflect"
	"testing"
)

func TestVolumeUsageRows(t *testing.T) {
	captured, err := os.ReadFile("testdata/system-df-volumes.txt") // a current engine, one volume in use
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		out         string
		want        []VolumeUsage
		wantSkipped int
	}{
		{"captured", string(captured), []VolumeUsage{
			{Name: "tvol1", Driver: "local", Links: 0, Size: "0B", Bytes: 0},
			{Name: "cap-unused", Driver: "local", Links: 0, Size: "0B", Bytes: 0},
			{Name: "cap-used", Driver: "local", Links: 1, Size: "20kB", Bytes: 20000},
		}, 0},
		{"cut to its tail", "[… 1200 bytes cut]\n\"Links\":\"0\",\"Size\":\"1B\"}\n{\"Name\":\"b\",\"Driver\":\"local\",\"Links\":\"2\",\"Size\":\"1.5GB\"}\n",
			[]VolumeUsage{{Name: "b", Driver: "local", Links: 2, Size: "1.5GB", Bytes: 1_500_000_000}}, 2},
		{"docker did not say", `{"Name":"c","Driver":"local","Links":"N/A","Size":"N/A"}`,
			[]VolumeUsage{{Name: "c", Driver: "local", Links: -1, Bytes: -1}}, 0},
		{"a name with a newline cannot forge a row", `{"Name":"x\n{\"Name\":\"forged\"}","Driver":"local","Links":"1","Size":"0B"}`,
			[]VolumeUsage{{Name: "x\n{\"Name\":\"forged\"}", Driver: "local", Links: 1, Size: "0B", Bytes: 0}}, 0},
		{"no name, noise", "WARNING: something\n{\"Driver\":\"local\"}\n", nil, 2},
		{"empty", "", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, skipped := VolumeUsageRows(tt.out)
			if !reflect.DeepEqual(got, tt.want) || skipped != tt.wantSkipped {
				t.Errorf("got %+v (%d skipped), want %+v (%d skipped)", got, skipped, tt.want, tt.wantSkipped)
			}
		})
	}
}

func TestSize(t *testing.T) {
	for in, want := range map[string]int64{"0B": 0, "20kB": 20000, "1.5GB": 1_500_000_000, "3MB": 3_000_000, "x": -1, "-1B": -1, "": -1} {
		if got := Size(in); got != want {
			t.Errorf("Size(%q) = %d, want %d", in, got, want)
		}
	}
}
