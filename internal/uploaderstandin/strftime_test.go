package uploaderstandin

import (
	"testing"
	"time"
)

func TestStrftime(t *testing.T) {
	ts := time.Date(2024, 3, 7, 14, 5, 9, 0, time.UTC)
	tests := []struct {
		pattern string
		want    string
		wantErr bool
	}{
		{DefaultFilename, "backup-2024-03-07T14-05-09.tar.gz", false},
		{"node-1_app_data_%Y%m%d-%H%M%S.tar.gz", "node-1_app_data_20240307-140509.tar.gz", false},
		{"100%%-%y-%j-%e-%I%p", "100%-24-067- 7-02PM", false},
		{"%F_%T_%a_%b_%A_%B_%u_%w_%Z", "2024-03-07_14:05:09_Thu_Mar_Thursday_March_4_4_UTC", false},
		{"plain.tar.gz", "plain.tar.gz", false},
		{"", "", false},
		{"bad-%Q", "", true},
		{"trailing-%", "", true},
	}
	for _, tt := range tests {
		got, err := Strftime(tt.pattern, ts)
		if (err != nil) != tt.wantErr {
			t.Errorf("Strftime(%q) error = %v, wantErr %v", tt.pattern, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("Strftime(%q) = %q, want %q", tt.pattern, got, tt.want)
		}
	}
}

func TestStrftimeMidnightAndNoon(t *testing.T) {
	for _, tt := range []struct {
		hour int
		want string
	}{{0, "12AM"}, {12, "12PM"}, {23, "11PM"}} {
		got, err := Strftime("%I%p", time.Date(2024, 1, 1, tt.hour, 0, 0, 0, time.UTC))
		if err != nil || got != tt.want {
			t.Errorf("hour %d: %q, %v; want %q", tt.hour, got, err, tt.want)
		}
	}
}
