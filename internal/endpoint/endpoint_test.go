package endpoint

import (
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/internal/input"
	"github.com/bulkrevoke/bulkrevoke/internal/testutil"
	"time"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		raw     string
		want    string // "" when refused
		wantErr string
	}{
		{name: "https", raw: "https://example.okta.com/oauth2/v1/revoke", want: "https://example.okta.com/oauth2/v1/revoke"},
		{name: "spaces and upper-case scheme", raw: "  HTTPS://auth.example.com/oauth/revoke ", want: "https://auth.example.com/oauth/revoke"},
		{name: "trailing slash kept", raw: "https://kc.example.com/realms/x/protocol/openid-connect/revoke/", want: "https://kc.example.com/realms/x/protocol/openid-connect/revoke/"},
		{name: "http on 127/8", raw: "http://127.3.4.5:9/revoke", want: "http://127.3.4.5:9/revoke"},
		{name: "http on ::1", raw: "http://[::1]:8080/r", want: "http://[::1]:8080/r"},
		{name: "http on localhost", raw: "http://LocalHost/r", want: "http://LocalHost/r"},
		{name: "http on a remote host", raw: "http://example.com/revoke", wantErr: "loopback only"},
		{name: "loopback-looking remote host", raw: "http://127.0.0.1.example.com", wantErr: "loopback only"},
		{name: "unspecified address", raw: "http://0.0.0.0:80", wantErr: "loopback only"},
		{name: "other scheme", raw: "ftp://example.com", wantErr: `scheme "ftp"`},
		{name: "empty", raw: " ", wantErr: "empty"},
		{name: "relative", raw: "example.com/revoke", wantErr: "want an absolute URL"},
		{name: "credentials", raw: "https://client:hunter2@example.com/revoke", wantErr: "credentials"},
		{name: "query", raw: "https://example.com/revoke?token=x", wantErr: "query"},
		{name: "fragment", raw: "https://example.com/revoke#x", wantErr: "fragment"},
		{name: "bad escape", raw: "https://hunter2:x@example.com/%zz", wantErr: "invalid URL escape"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := ParseURL(tt.raw)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseURL(%q) = %v, %v; want an error containing %q", tt.raw, u, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseURL(%q): %v", tt.raw, err)
			}
			if u.String() != tt.want {
				t.Errorf("ParseURL(%q) = %q, want %q", tt.raw, u, tt.want)
			}
		})
	}
}

func TestCheckURLLeavesItsArgumentAlone(t *testing.T) {
	t.Parallel()
	u := &url.URL{Scheme: "HTTPS", Host: "example.com", Path: "/revoke"}
	n, err := CheckURL(u)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "HTTPS" || n.Scheme != "https" {
		t.Errorf("argument scheme %q, result scheme %q", u.Scheme, n.Scheme)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   string
		want time.Duration
	}{
		{"absent", "", 0},
		{"seconds", "30", 30 * time.Second},
		{"seconds with spaces", " 2 ", 2 * time.Second},
		{"zero", "0", 0},
		{"negative", "-5", 0},
		{"garbage", "later", 0},
		{"fraction", "1.5", 0},
		{"capped", "3600", MaxRetryAfter},
		{"overflowing", "99999999999999999999", MaxRetryAfter},
		{"overflowing, with a plus", "+99999999999999999999", MaxRetryAfter},
		{"overflowing negative", "-99999999999999999999", 0},
		{"HTTP-date ahead", "Wed, 01 May 2024 10:01:30 GMT", 90 * time.Second},
		{"HTTP-date past", "Wed, 01 May 2024 09:00:00 GMT", 0},
		{"HTTP-date far ahead", "Thu, 02 May 2024 10:00:00 GMT", MaxRetryAfter},
		{"RFC 850 date", "Wednesday, 01-May-24 10:00:10 GMT", 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := RetryAfter(tt.in, now); got != tt.want {
				t.Errorf("RetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestRedactAndScrub(t *testing.T) {
	t.Parallel()
	const secret = "s3cr&t=+/ x"
	secrets := []string{"", secret}
	tests := []struct {
		name string
		text string
	}{
		{"raw", "bad token " + secret + "!"},
		{"form or query escaped", "token=" + url.QueryEscape(secret)},
		{"path escaped", "/revoke/" + url.PathEscape(secret)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Redact(tt.text, secrets)
			if strings.Contains(got, secret) || strings.Contains(got, url.QueryEscape(secret)) || strings.Contains(got, url.PathEscape(secret)) {
				t.Errorf("Redact(%q) = %q: secret left", tt.text, got)
			}
			if !strings.Contains(got, "sha256:") {
				t.Errorf("Redact(%q) = %q: no fingerprint in its place", tt.text, got)
			}
			inner := fmt.Errorf("dial: %s", tt.text)
			err := Scrub(fmt.Errorf("send: %w", inner), secrets)
			if strings.Contains(err.Error(), secret) {
				t.Errorf("Scrub kept the secret: %v", err)
			}
			if errors.Is(err, inner) {
				t.Error("Scrub kept the chain that holds the secret")
			}
		})
	}
	clean := errors.New("connection refused")
	if got := Scrub(clean, secrets); got != clean {
		t.Errorf("Scrub changed an error with no secret: %v", got)
	}
	if Scrub(nil, secrets) != nil {
		t.Error("Scrub(nil) is not nil")
	}
}

func TestCleanTextAndID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		maxLen         int
	}{
		{"collapses whitespace and controls", " a\n\tb\x00c  ", "a b c", 50},
		{"invalid UTF-8", "a\xffb", "a?b", 50},
		{"capped", "abcdefghij", "abcd…", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := CleanText(tt.in, tt.maxLen); got != tt.want {
				t.Errorf("CleanText(%q, %d) = %q, want %q", tt.in, tt.maxLen, got, tt.want)
			}
		})
	}
	for in, want := range map[string]string{
		" 9f2c-11 ":              "9f2c-11",
		"a b":                    "",
		"é":                      "",
		strings.Repeat("x", 101): "",
		"tok-SECRET-42":          input.Fingerprint("tok-SECRET-42"),
		"id-tok-SECRET-42-9f2c":  "id-" + input.Fingerprint("tok-SECRET-42") + "-9f2c",
	} {
		if got := CleanID(in, []string{"tok-SECRET-42"}); got != want {
			t.Errorf("CleanID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHTTPClientsRefuseRedirects(t *testing.T) {
	t.Parallel()
	var followed int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed++
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)
	follows := &http.Client{} // the default follows redirects
	for name, c := range map[string]*http.Client{
		"NewHTTPClient":    NewHTTPClient(2),
		"WithoutRedirects": WithoutRedirects(follows),
	} {
		resp, err := c.Post(srv.URL+"/revoke", "application/x-www-form-urlencoded", strings.NewReader("token=x"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTemporaryRedirect {
			t.Errorf("%s: status %d, want the 307 handed back", name, resp.StatusCode)
		}
	}
	if followed != 0 {
		t.Errorf("a redirect was followed %d times", followed)
	}
	if follows.CheckRedirect != nil {
		t.Error("WithoutRedirects changed the client it was given")
	}
}

// countingBody is a reply body that records how much was read and whether
// it was closed.
type countingBody struct {
	r      io.Reader
	read   int
	closed bool
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += n
	return n, err
}

func (b *countingBody) Close() error { b.closed = true; return nil }

func TestReadBodyIsBoundedAndCloses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		size     int
		wantLen  int
		wantRead int
	}{
		{"small", 10, 10, 10},
		{"at the bound", MaxBody, MaxBody, MaxBody},
		{"over the bound: one byte more says so; drained up to twice it", 3 * MaxBody, MaxBody + 1, 2*MaxBody + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := &countingBody{r: strings.NewReader(strings.Repeat("x", tt.size))}
			b, err := ReadBody(body)
			if err != nil {
				t.Fatal(err)
			}
			if Overlong(b) != (tt.size > MaxBody) {
				t.Errorf("Overlong = %v for a %d-byte body", Overlong(b), tt.size)
			}
			if len(b) != tt.wantLen || body.read != tt.wantRead || !body.closed {
				t.Errorf("got %d bytes, read %d, closed %v; want %d, %d, true", len(b), body.read, body.closed, tt.wantLen, tt.wantRead)
			}
		})
	}
}

// leakedPiece returns a piece of MinPiece characters of a secret, in any
// form a server may echo it in, that text holds, or "".
func leakedPiece(text string, secrets []string) string {
	return testutil.SecretPiece(text, MinPiece, secrets...)
}

func TestRedactLeavesNoPieceOfASecret(t *testing.T) {
	t.Parallel()
	row, admin, client := testutil.LongSecret(1, 1024), testutil.LongSecret(2, 1229), testutil.LongSecret(3, 2048)
	secrets := []string{row, admin, client}
	prose := strings.Repeat("The service could not process the request. ", 40)
	tests := []struct {
		name, text string
		// wantPieceOf is the secret whose fingerprint the marker names.
		wantPieceOf string
	}{
		{"the first 800 bytes of a 1 KB token", "bad token " + row[:800] + " …", row},
		{"the last 300 bytes", "bad token …" + row[len(row)-300:], row},
		{"a 100-byte middle", "<Message>" + admin[400:500] + "</Message>", admin},
		{"exactly MinPiece characters", "x " + client[1000:1000+MinPiece] + " y", client},
		{"a query-escaped piece", "token=" + url.QueryEscape(row)[:700], row},
		{"a path-escaped piece", "/revoke/" + url.PathEscape(client)[100:900], client},
		{"an HTML-escaped piece", "<title>" + html.EscapeString(admin)[:600] + "</title>", admin},
		{"a JSON piece with escaped solidus", `{"token":"` + strings.ReplaceAll(row, "/", `\/`)[50:650] + `"}`, row},
		{"pieces of two secrets glued together", row[:100] + admin[200:300], row},
		{"a piece inside prose, in a long text", prose + client[10:90] + prose, client},
		{"a piece at the very end of a 64 KiB text", strings.Repeat("ab c ", MaxBody/5-100) + admin[:600], admin},
		{"a piece in a long text of token characters", strings.Repeat("Q", 40000) + row[3:500] + strings.Repeat("Z", 20000), row},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Redact(tt.text, secrets)
			if p := leakedPiece(got, secrets); p != "" {
				t.Errorf("Redact left the piece %q", p)
			}
			if want := "[piece of " + input.Fingerprint(tt.wantPieceOf) + "]"; !strings.Contains(got, want) {
				t.Errorf("Redact(…) holds no %q: %.300q", want, got)
			}
		})
	}

	t.Run("shorter runs and prose are left alone", func(t *testing.T) {
		t.Parallel()
		text := prose + " id " + row[:MinPiece-1] + " end"
		if got := Redact(text, secrets); got != text {
			t.Errorf("Redact changed a text with no piece of MinPiece characters:\n%q\n%q", text, got)
		}
	})
	t.Run("a whole secret is its fingerprint", func(t *testing.T) {
		t.Parallel()
		got := Redact("a "+row+" b "+url.QueryEscape(admin), secrets)
		if want := "a " + input.Fingerprint(row) + " b " + input.Fingerprint(admin); got != want {
			t.Errorf("Redact = %.200q, want %q", got, want)
		}
	})
}

func TestServerTextRedactsBeforeItCuts(t *testing.T) {
	t.Parallel()
	tok := testutil.LongSecret(4, 1024)
	for name, text := range map[string]string{
		"plain text echo":           "Invalid token " + tok,
		"echo cut by the server":    "Invalid token " + tok[:800],
		"echo after a long preface": strings.Repeat("x", 150) + " " + tok,
		"echo split by a newline":   "token " + tok[:400] + "\n" + tok[400:],
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := ServerText(text, []string{tok}, 200)
			if p := leakedPiece(got, []string{tok}); p != "" {
				t.Errorf("ServerText = %q: holds the piece %q", got, p)
			}
			if !strings.Contains(got, "sha256:") {
				t.Errorf("ServerText = %q: no fingerprint where the token was", got)
			}
			if n := len([]rune(got)); n > 200 {
				t.Errorf("ServerText is %d characters, want at most 200", n)
			}
		})
	}
}

func BenchmarkRedact(b *testing.B) {
	row, admin := testutil.LongSecret(1, 1024), testutil.LongSecret(2, 1229)
	secrets := []string{admin, row}
	for name, text := range map[string]string{
		"short message":             "Invalid token.",
		"sentence":                  "The token has already been revoked; nothing was done.",
		"64 KiB page":               strings.Repeat("<p>Sign in to continue</p>\n", MaxBody/27),
		"64 KiB of token bytes":     strings.Repeat("Qx9", MaxBody/3),
		"echo of 800 bytes in 1 KB": "bad token " + row[:800] + strings.Repeat(" x", 100),
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Redact(text, secrets)
			}
		})
	}
}
