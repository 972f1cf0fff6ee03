package bashexec

import "testing"

func TestQuote(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{args: nil, want: ""},
		{args: []string{"docker", "service", "ls"}, want: "docker service ls"},
		{args: []string{"docker", "--filter", "label=a.b/c:1,2@x%"}, want: "docker --filter label=a.b/c:1,2@x%"},
		{args: []string{"echo", ""}, want: "echo ''"},
		{args: []string{"echo", "a b"}, want: "echo 'a b'"},
		{args: []string{"echo", "it's"}, want: `echo 'it'\''s'`},
		{args: []string{"echo", "--format={{json .}}"}, want: "echo '--format={{json .}}'"},
		{args: []string{"echo", "$(id)", "`id`", "a;b", "~"}, want: "echo '$(id)' '`id`' 'a;b' '~'"},
		{args: []string{"echo", "a\nb"}, want: "echo 'a\nb'"},
		{args: []string{"A=b", "x"}, want: "'A=b' x"}, // else sh would read an assignment
		{args: []string{"if"}, want: "'if'"},          // else sh would read a reserved word
		{args: []string{"echo", "if", "A=b"}, want: "echo if A=b"},
	}
	for _, tt := range tests {
		if got := Quote(tt.args); got != tt.want {
			t.Errorf("Quote(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}

func TestCommandLineWithEnv(t *testing.T) {
	tests := []struct {
		env  []string
		want string
	}{
		{env: nil, want: "docker ps"},
		{env: []string{"DOCKER_CONFIG=/tmp/x y", "A="}, want: "DOCKER_CONFIG='/tmp/x y' A='' docker ps"},
		{env: []string{"OK=1", "BAD-KEY=1"}, want: "env OK=1 BAD-KEY=1 docker ps"},
	}
	e := New(Options{})
	for _, tt := range tests {
		if got := e.line(Command{Args: []string{"docker", "ps"}, Env: tt.env}); got != tt.want {
			t.Errorf("line with env %q = %q, want %q", tt.env, got, tt.want)
		}
	}
}
