package bashexec

import (
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
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NewSecrets(tt.secrets...).Mask(tt.text); got != tt.want {
				t.Errorf("Mask(%q) = %q, want %q", tt.text, got, tt.want)
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
