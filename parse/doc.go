// Package parse turns docker CLI output (`--format json` lines and inspect arrays) and
// swarm-utils labels into typed structs. It only parses: it never runs a process.
//
// Docker may print warnings or notices on stdout around the JSON; such non-JSON lines are
// skipped. A value that starts like JSON but is not valid JSON is an error. Errors never quote
// the input, because inspect output carries label values such as tokens.
package parse
