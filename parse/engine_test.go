package parse

import "testing"

func TestEngineMajor(t *testing.T) {
	for version, want := range map[string]struct {
		major int
		ok    bool
	}{
		"20.10.24+dfsg1": {20, true},
		"23.0.6":         {23, true},
		"24.0.0":         {24, true},
		"29.1.3":         {29, true},
		" 28.2.2 ":       {28, true},
		"library-import": {0, false},
		"dev":            {0, false},
		"":               {0, false},
		"v2.0.0-beta.24": {0, false},
		"0.1":            {0, false},
	} {
		major, ok := EngineMajor(version)
		if major != want.major || ok != want.ok {
			t.Errorf("EngineMajor(%q) = %d, %v; want %d, %v", version, major, ok, want.major, want.ok)
		}
	}
}

func TestCompareAPIVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.41", "1.43", -1},
		{"1.43", "1.43", 0},
		{"1.56", "1.43", 1},
		{"1.100", "1.99", 1},
		{"1.9", "1.10", -1},
		{"2", "1.99", 1},
	} {
		if got := CompareAPIVersions(c.a, c.b); got != c.want {
			t.Errorf("CompareAPIVersions(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
