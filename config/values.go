package config

import (
	"strconv"

	"github.com/urfave/cli/v3"
)

// The bool and int flags take their values through these instead of urfave's own: Set never
// fails, it keeps the value that does not parse, and FromCommand reports it naming the
// variable and what it accepts ("must be true or false, got \"yes\"") instead of the library's
// "could not parse … strconv.ParseInt: parsing …: invalid syntax".

// valueConfig is the flag's Config: where its Set leaves a value that does not parse.
type valueConfig struct{ bad *string }

type boolFlag = cli.FlagBase[bool, valueConfig, lenientBool]
type intFlag = cli.FlagBase[int, valueConfig, lenientInt]

type lenientBool struct {
	dest *bool
	bad  *string
}

func (lenientBool) Create(v bool, p *bool, c valueConfig) cli.Value {
	*p = v
	return &lenientBool{dest: p, bad: c.bad}
}
func (lenientBool) ToString(v bool) string { return strconv.FormatBool(v) }
func (b *lenientBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		keep(b.bad, s)
		return nil
	}
	*b.dest = v
	return nil
}
func (b *lenientBool) Get() any { return *b.dest }
func (b *lenientBool) String() string {
	if b.dest == nil {
		return ""
	}
	return strconv.FormatBool(*b.dest)
}
func (b *lenientBool) IsBoolFlag() bool { return true }

type lenientInt struct {
	dest *int
	bad  *string
}

func (lenientInt) Create(v int, p *int, c valueConfig) cli.Value {
	*p = v
	return &lenientInt{dest: p, bad: c.bad}
}
func (lenientInt) ToString(v int) string { return strconv.Itoa(v) }
func (n *lenientInt) Set(s string) error {
	v, err := strconv.ParseInt(s, 10, 0)
	if err != nil {
		keep(n.bad, s)
		return nil
	}
	*n.dest = int(v)
	return nil
}
func (n *lenientInt) Get() any { return *n.dest }
func (n *lenientInt) String() string {
	if n.dest == nil {
		return ""
	}
	return strconv.Itoa(*n.dest)
}

func keep(bad *string, s string) {
	if bad != nil {
		*bad = s
	}
}

// badValue is the value of the root's flag named name that did not parse, if any.
func badValue(cmd *cli.Command, name string) (string, bool) {
	for _, f := range cmd.Root().Flags {
		var cfg valueConfig
		switch f := f.(type) {
		case *boolFlag:
			cfg = f.Config
		case *intFlag:
			cfg = f.Config
		default:
			continue
		}
		if f.Names()[0] == name && cfg.bad != nil && *cfg.bad != "" {
			return *cfg.bad, true
		}
	}
	return "", false
}
