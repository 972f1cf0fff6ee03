package bashexec

import (
	"strings"
)

// Quote returns argv as one POSIX shell command line that, pasted into sh,
// runs the same argv. Words made only of safe characters stay bare; anything
// else is single-quoted (an embedded quote becomes: quote, backslash,
// quote, quote).
func Quote(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		// The command word is special: "A=b" would be an assignment and "if"
		// a reserved word, so quote those to keep them a program name.
		if i == 0 && (strings.Contains(a, "=") || reservedWords[a]) {
			b.WriteString(singleQuote(a))
			continue
		}
		b.WriteString(quoteWord(a))
	}
	return b.String()
}

var reservedWords = map[string]bool{
	"if": true, "then": true, "else": true, "elif": true, "fi": true, "do": true,
	"done": true, "case": true, "esac": true, "while": true, "until": true,
	"for": true, "in": true, "function": true, "select": true, "time": true,
}

func quoteWord(s string) string {
	if s == "" {
		return "''"
	}
	if strings.IndexFunc(s, isUnsafe) < 0 {
		return s
	}
	return singleQuote(s)
}

func singleQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// isUnsafe reports characters the shell may interpret; the safe set is the
// one Python's shlex.quote uses.
func isUnsafe(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return false
	case strings.ContainsRune("@%+=:,./-_", r):
		return false
	}
	return true
}

// envPrefix renders extra environment entries so that they can precede a
// command on a shell line: KEY='value' when every key is a valid shell name,
// otherwise through env(1), which accepts any name.
func envPrefix(env []string) string {
	if len(env) == 0 {
		return ""
	}
	words := make([]string, 0, len(env)+1)
	for _, kv := range env {
		key, val, ok := strings.Cut(kv, "=")
		if !ok || !isShellName(key) {
			words = words[:0]
			break
		}
		words = append(words, key+"="+quoteWord(val))
	}
	if len(words) == 0 {
		words = append(words, "env")
		for _, kv := range env {
			words = append(words, quoteWord(kv))
		}
	}
	return strings.Join(words, " ") + " "
}

func isShellName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
