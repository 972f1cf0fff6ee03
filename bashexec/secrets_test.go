package bashexec

import (
	"slices"
	"strconv"
	"sync"
	"testing"
)

func TestMask(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		text    string
		want    string
	}{
		{name: "no secrets", text: "plain text", want: "plain text"},
		{name: "one", secrets: []string{"abc123"}, text: "token abc123 end", want: "token *** end"},
		{name: "every occurrence", secrets: []string{"pw"}, text: "pw=pw;pw", want: "***=***;***"},
		{name: "overlapping", secrets: []string{"abcd", "cdef"}, text: "xabcdefy", want: "x***y"},
		{name: "nested, longest wins", secrets: []string{"pass", "password"}, text: "my password!", want: "my ***!"},
		{name: "self-overlapping", secrets: []string{"aa"}, text: "aaab", want: "***b"},
		{name: "empty secret ignored", secrets: []string{""}, text: "abc", want: "abc"},
		{name: "short secret masked too", secrets: []string{"x"}, text: "axb", want: "a***b"},
		{name: "multi-line secret", secrets: []string{"l1\nl2"}, text: "k=l1\nl2.", want: "k=***."},
		{name: "empty text", secrets: []string{"a"}, text: "", want: ""},
	}
	// Each case runs twice: alone (one search per value) and among more values than indexFrom,
	// none of them in the text (the prefix index).
	var others []string
	for i := range 2 * indexFrom {
		others = append(others, "unrelated-value-"+strconv.Itoa(i))
	}
	for _, tt := range tests {
		for _, extra := range [][]string{nil, others} {
			t.Run(tt.name+"/"+strconv.Itoa(len(extra))+" more", func(t *testing.T) {
				if got := NewSecrets(append(slices.Clone(tt.secrets), extra...)...).Mask(tt.text); got != tt.want {
					t.Errorf("Mask(%q) = %q, want %q", tt.text, got, tt.want)
				}
			})
		}
	}
}

// TestMaskIndexAgrees: with the prefix index (many values, shared prefixes, short ones,
// overlaps, matches at both ends of the text), Mask masks exactly the bytes that searching for
// each value masks.
func TestMaskIndexAgrees(t *testing.T) {
	values := []string{"x", "ab", "tok", "tok-a", "tok-ab", "tok-abc", "abcd", "cdef", "aaaa", "end!"}
	for i := range 2 * indexFrom {
		values = append(values, "label-token-"+strconv.Itoa(i))
	}
	texts := []string{"", "a", "tok", "tok-", "tok-abcdef", "xabcdefy", "aaaaaa", "ends with end!", "tok-ab tok-a label-token-7label-token-12",
		"label-token-3", "no secret here at all", "xx", "abab"}
	indexed := NewSecrets(values...)
	for _, text := range texts {
		t.Run(text, func(t *testing.T) {
			few := &Secrets{}
			few.set.Store(&secretSet{values: values}) // no index: each value searched on its own
			if got, w := indexed.Mask(text), few.Mask(text); got != w {
				t.Errorf("Mask(%q) = %q with the index, %q without", text, got, w)
			}
		})
	}
}

func TestMaskNilReceiver(t *testing.T) {
	var s *Secrets
	if got := s.Mask("abc"); got != "abc" {
		t.Errorf("nil Secrets masked %q to %q", "abc", got)
	}
}

func TestSecretsConcurrent(t *testing.T) {
	s := NewSecrets()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			v := "secret-" + strconv.Itoa(i)
			s.Add(v)
			if got := s.Mask("x " + v + " y"); got != "x *** y" {
				t.Errorf("Mask after Add(%q) = %q", v, got)
			}
		})
	}
	wg.Wait()
}
