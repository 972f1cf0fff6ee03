package api

import "bytes"

// appendIndented appends src, compact JSON as encoding/json writes it (no white space outside
// strings: it compacts what MarshalJSON methods return too), indented by two spaces exactly as
// json.Indent(dst, src, "", "  ") does. json.Indent runs its validating scanner on every byte;
// valid input only needs the brackets, commas and colons outside strings, and strings copied
// whole: the indentation of an answer costs a fraction of its encoding instead of more than it.
func appendIndented(dst, src []byte) []byte {
	depth := 0
	open := false // after { or [: the line break waits, so that empty ones stay {} and []
	for i := 0; i < len(src); i++ {
		c := src[i]
		if open && c != '}' && c != ']' {
			open = false
			depth++
			dst = appendNewline(dst, depth)
		}
		switch c {
		case '"':
			end := i + 1
			for {
				k := bytes.IndexAny(src[end:], `"\`)
				if k < 0 { // not valid JSON: copy the rest as it is
					return append(dst, src[i:]...)
				}
				end += k
				if src[end] == '"' {
					break
				}
				end += 2 // a backslash and the character it escapes
				if end > len(src) {
					return append(dst, src[i:]...)
				}
			}
			dst = append(dst, src[i:end+1]...)
			i = end
		case '{', '[':
			open = true
			dst = append(dst, c)
		case ',':
			dst = appendNewline(append(dst, c), depth)
		case ':':
			dst = append(dst, c, ' ')
		case '}', ']':
			if open {
				open = false
			} else {
				depth--
				dst = appendNewline(dst, depth)
			}
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func appendNewline(dst []byte, depth int) []byte {
	dst = append(dst, '\n')
	for range depth {
		dst = append(dst, ' ', ' ')
	}
	return dst
}
