package provider

import (
	"flag"
	"testing"
)

func TestOr(t *testing.T) {
	for in, want := range map[string]string{"": "", "a": "a", "a b": "a or b", "a b c": "a, b or c"} {
		var words []string
		for _, w := range []rune(in) {
			if w != ' ' {
				words = append(words, string(w))
			}
		}
		if got := Or(words); got != want {
			t.Errorf("Or(%q) = %q, want %q", words, got, want)
		}
	}
}

type named struct {
	name, flag string
}

func (n named) Name() string    { return n.name }
func (n named) Summary() string { return n.name }
func (n named) Secret() Secret  { return Secret{} }
func (n named) Flags(fs *flag.FlagSet) Settings {
	fs.String(n.flag, "", "")
	return nil
}

func TestRegistry(t *testing.T) {
	var r Registry
	r.Register(named{"one", "one-url"})
	r.Register(named{"two", "two-url"})
	if r.Default().Name() != "one" || r.Names() != "one or two" {
		t.Errorf("default %q, names %q", r.Default().Name(), r.Names())
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("common", "", "")
	d := r.Declare(fs)
	if err := fs.Parse([]string{"--common", "x", "--two-url", "u"}); err != nil {
		t.Fatal(err)
	}
	if got := d.Foreign(fs, "one"); got != "two-url" {
		t.Errorf("Foreign(one) = %q, want two-url", got)
	}
	if got := d.Foreign(fs, "two"); got != "" {
		t.Errorf("Foreign(two) = %q, want none (common is no provider's)", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("a second provider named one was accepted")
		}
	}()
	r.Register(named{"one", "other"})
}
