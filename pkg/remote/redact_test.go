package remote

import (
	"strings"
	"testing"
)

// TestRedactorEncodings: the key in each encoding a server may echo it in
// is replaced, and the text around it kept.
func TestRedactorEncodings(t *testing.T) {
	r := NewRedactor(fuzzKey)
	for i, enc := range keyEncodings {
		encoded := enc(fuzzKey)
		in := "before " + encoded + " after"
		got := r.Redact(in)
		if leaks(got, encoded) {
			t.Errorf("encoding %d: Redact(%q) = %q: the key is still there", i, in, got)
		}
		if !strings.HasPrefix(got, "before ") || !strings.Contains(got, Redacted) {
			t.Errorf("encoding %d: Redact(%q) = %q, want the text around the key kept", i, in, got)
		}
		if !r.Contains(in) || !r.ContainsBytes([]byte(in)) {
			t.Errorf("encoding %d: Contains(%q) = false", i, in)
		}
	}
}

// TestRedactorEscapedLetters: a secret holding u or x is found escaped
// in full (\u0075, \x78), not only where \u or \x could be a backslash
// before the letter itself.
func TestRedactorEscapedLetters(t *testing.T) {
	const secret = "sku-ux_0X9u2x"
	r := NewRedactor(secret)
	for _, in := range []string{unicodeEscape(secret), byteEscape(secret), `sk\u-\ux_0X9\u2\x`, strings.ReplaceAll(unicodeEscape(secret), `\`, `\\`)} {
		if got := r.Redact("a " + in + " b"); got != "a "+Redacted+" b" {
			t.Errorf("Redact(%q) = %q", in, got)
		}
	}
}

func TestRedactorKeepsOtherText(t *testing.T) {
	r := NewRedactor(fuzzKey)
	for _, s := range []string{
		"", "plain text", `{"id":"scr_1","name":"psk_Q7x"}`, "%41%42 \\u0041 &#65; +", strings.Repeat("psk_Q7x/9Tz+Lm2W", 3) + "X",
	} {
		if got := r.Redact(s); got != s {
			t.Errorf("Redact(%q) = %q, want it unchanged", s, got)
		}
	}
	var none *Redactor
	if none.Redact("x") != "x" || none.Contains("x") {
		t.Error("a nil Redactor changed text")
	}
}

// TestRedactorAddSecret: a secret registered later is redacted too, in its
// encodings, and empty secrets are ignored.
func TestRedactorAddSecret(t *testing.T) {
	r := NewRedactor("the-api-key-1")
	r.AddSecret("")
	if got := r.Redact("x"); got != "x" {
		t.Fatalf("an empty secret changed text: %q", got)
	}
	r.AddSecret("hunter2/secret")
	for _, in := range []string{"pw=hunter2/secret;", `pw=hunter2\/secret`, "pw=hunter2%2Fsecret", "the-api-key-1"} {
		if got := r.Redact(in); strings.Contains(got, "hunter2") || strings.Contains(got, "api-key") {
			t.Errorf("Redact(%q) = %q", in, got)
		}
	}
}

func BenchmarkRedactContains(b *testing.B) {
	r := NewRedactor(fuzzKey)
	page := []byte(strings.Repeat(`{"id":"scr_0123456789","name":"setup-gpu-drivers","isRunOnce":false,"assignedMachineIds":["psbox001"]},`, 10000))
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		if r.ContainsBytes(page) {
			b.Fatal("found a key")
		}
	}
}
