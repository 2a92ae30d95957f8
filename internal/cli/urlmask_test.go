package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestURLRefusalMasksSecrets: a URL refused for carrying a query, a
// fragment or credentials (a token pasted into it) is shown with each of
// them masked; none of their text reaches stderr, in either log format,
// for --base-url, --revoke-url and --push-url alike.
func TestURLRefusalMasksSecrets(t *testing.T) {
	t.Parallel()
	const secret = "PASTEDtok3n9x7Q"
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", "token\ntok-url-mask-0001\n")
	out := filepath.Join(dir, "out.csv")
	env := map[string]string{EnvAdminToken: testAdminToken, EnvClientSecret: rfcSecret}
	rfc := func(url string) []string {
		return []string{"--provider", "rfc7009", "--revoke-url", url, "--client-id", rfcClientID}
	}
	urls := map[string]string{
		"query":              "https://host.example/?token=" + secret,
		"query, bare":        "https://host.example/revoke?" + secret,
		"fragment":           "https://host.example/#access_token=" + secret,
		"query and fragment": "https://host.example/p?a=1&token=" + secret + "#" + secret,
		"user":               "https://" + secret + "@host.example/",
		"user and password":  "https://admin:" + secret + "@host.example/",
		"http with a query":  "http://host.example/?token=" + secret,
		"opaque":             "https:" + secret,
		"bad escape":         "https://host.example/#" + secret[:3] + "%" + secret[3:5],
	}
	for name, url := range urls {
		for _, flags := range map[string][]string{
			"--base-url":   {"--base-url", url},
			"--revoke-url": rfc(url),
			"--push-url":   {"--sandbox", "--push-url", url},
		} {
			for _, format := range []string{"json", "console"} {
				args := append([]string{"run", "--log-format", format, "--out", out}, flags...)
				res := runMain(t, context.Background(), env, "", append(args, in)...)
				if res.code != ExitUsage || !strings.Contains(res.stderr, "check URL") {
					t.Errorf("%s %s (%s): exit %d, want 2 refusing the URL:\n%s", flags[len(flags)-2], name, format, res.code, res.stderr)
				}
				for _, piece := range []string{secret, secret[:6], secret[len(secret)-6:], "token=", "%" + secret[3:5]} {
					if strings.Contains(res.stderr, piece) {
						t.Errorf("%s %s (%s): stderr holds %q of the URL:\n%s", flags[len(flags)-2], name, format, piece, res.stderr)
					}
				}
			}
		}
	}
}
