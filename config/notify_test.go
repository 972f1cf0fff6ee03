package config

import (
	"slices"
	"strings"
	"testing"
)

func TestSplitURLs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"slack://a/b/c", []string{"slack://a/b/c"}},
		{"slack://a/b/c generic://h:1/p", []string{"slack://a/b/c", "generic://h:1/p"}},
		{"slack://a/b/c,generic://h:1/p", []string{"slack://a/b/c", "generic://h:1/p"}},
		{"slack://a/b/c, generic://h:1/p\n smtp://u:p@h:25/?to=x@y", []string{"slack://a/b/c", "generic://h:1/p", "smtp://u:p@h:25/?to=x@y"}},
		// A comma inside a URL (telegram's chats list) is not a separator.
		{"telegram://tok@telegram?chats=@a,@b", []string{"telegram://tok@telegram?chats=@a,@b"}},
		{"telegram://tok@telegram?chats=@a,@b,generic://h/p", []string{"telegram://tok@telegram?chats=@a,@b", "generic://h/p"}},
		{" , ", nil},
	}
	for _, tt := range tests {
		if got := splitURLs(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("splitURLs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNotifyURLsAreSecrets(t *testing.T) {
	c := specDefaults
	c.Notify.URLs = []string{"generic://hooks.example.com/services/T0KEN-PATH?token=query-secret", "telegram://123456:bot-secret-token@telegram?chats=@team"}
	got := c.SecretValues()
	for _, want := range []string{c.Notify.URLs[0], c.Notify.URLs[1], "services/T0KEN-PATH", "query-secret", "bot-secret-token", "123456"} {
		if !slices.Contains(got, want) {
			t.Errorf("SecretValues() lacks %q: %q", want, got)
		}
	}
	for _, short := range []string{"json", "yes"} {
		c.Notify.URLs = append(c.Notify.URLs, "generic://h.example/p?template="+short)
		if slices.Contains(c.SecretValues(), short) {
			t.Errorf("SecretValues() holds the setting %q: it would be counted as a secret too short to mask", short)
		}
	}
	c.Notify.URLs = c.Notify.URLs[:2]
	m := c.Masked()["SWARM_UTILS_NOTIFY_URLS"]
	if m != "***,***" {
		t.Errorf("Masked() NOTIFY_URLS = %q, want one mask per URL", m)
	}
	c.Notify.URLs = []string{"no-scheme.example.com/T0KEN-PATH"}
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), "T0KEN") {
		t.Errorf("Validate() = %v, want an error that does not show the URL", err)
	}
}
