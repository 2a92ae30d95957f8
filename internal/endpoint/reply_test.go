package endpoint

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

func TestTrimBodyAndEmptyObject(t *testing.T) {
	for in, want := range map[string]string{
		"\xef\xbb\xbf {}\r\n": "{}",
		" \t\n":               "",
		"\xef\xbb\xbf":        "",
		"{ \n }":              "{ \n }",
		"x\xef\xbb\xbf":       "x\xef\xbb\xbf", // a BOM only counts first
	} {
		if got := string(TrimBody([]byte(in))); got != want {
			t.Errorf("TrimBody(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]bool{"{}": true, "{ \n\t}": true, "{\"a\":1}": false, "{": false, "": false, "[]": false} {
		if got := IsEmptyObject([]byte(in)); got != want {
			t.Errorf("IsEmptyObject(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestPageText(t *testing.T) {
	for _, tt := range []struct {
		body string
		tags []string
		want string
	}{
		{"<html><head><TITLE> 502 Bad Gateway </TITLE></head></html>", []string{"title"}, "502 Bad Gateway"},
		{"<html><title></title><body>x</body></html>", []string{"title"}, "<html><title></title><body>x</body></html>"},
		{"<Error><Message>Invalid token</Message></Error>", []string{"title", "Message"}, "Invalid token"},
		{"<soap:Fault><faultstring>boom</faultstring></soap:Fault>", []string{"title", "Message", "faultstring"}, "boom"},
		{"<title>unclosed", []string{"title"}, "<title>unclosed"},
		{"plain text", []string{"title"}, "plain text"},
		// Invalid UTF-8 before the tag must not shift the cut.
		{"\xff\xfe<title>ok</title>", []string{"title"}, "ok"},
	} {
		if got := PageText([]byte(tt.body), tt.tags...); got != tt.want {
			t.Errorf("PageText(%q, %q) = %q, want %q", tt.body, tt.tags, got, tt.want)
		}
	}
}

func TestNoReply(t *testing.T) {
	const secret = "SECRET-token-0123456789abcdef"
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	for _, tt := range []struct {
		name                      string
		ctx                       context.Context
		err                       error
		retry, fatal, unreachable bool
		wantIn                    string
	}{
		{"the caller's cancellation is final", canceled, context.Canceled, false, false, false, "abandoned"},
		{"our own timeout is retried", context.Background(), fmt.Errorf("wrapped: %w", context.DeadlineExceeded), true, false, false, "no reply within 30s"},
		{"an unverifiable certificate is fatal", context.Background(), x509.UnknownAuthorityError{}, false, true, false, "unknown authority"},
		{"a refused connection is retried, unreachable", context.Background(), dial, true, false, true, "connection refused"},
		{"an echoed secret is scrubbed", context.Background(), errors.New("reset by peer after " + secret), true, false, false, "reset by peer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ans := NoReply(tt.ctx, 502, "req-1", "send revocation request", tt.err, 30*time.Second, []string{secret})
			if ans.Status != "failed" || ans.HTTPStatus != 502 || ans.CorrelationID != "req-1" {
				t.Errorf("answer %+v", ans)
			}
			if ans.Retry != tt.retry || ans.Fatal != tt.fatal || ans.Unreachable != tt.unreachable {
				t.Errorf("retry %v fatal %v unreachable %v, want %v %v %v", ans.Retry, ans.Fatal, ans.Unreachable, tt.retry, tt.fatal, tt.unreachable)
			}
			msg := ans.Err.Error()
			if !strings.Contains(msg, "send revocation request") || !strings.Contains(msg, tt.wantIn) {
				t.Errorf("error %q does not say %q", msg, tt.wantIn)
			}
			if strings.Contains(msg, secret[:MinPiece]) {
				t.Errorf("error %q holds the secret", msg)
			}
		})
	}
}
