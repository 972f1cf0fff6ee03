package s3client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
)

const testSecret = "s3client-secret-never-printed"

// s3Answering is a server that answers the bucket-location lookup and every other request
// with status and an S3 error of code.
func s3Answering(t *testing.T, status int, code string) *minio.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("location") {
			fmt.Fprint(w, `<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></LocationConstraint>`)
			return
		}
		if r.Method == http.MethodPost && r.URL.Query().Has("delete") {
			fmt.Fprintf(w, `<DeleteResult><Error><Key>k1</Key><Code>%s</Code><Message>no</Message></Error></DeleteResult>`, code)
			return
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `<Error><Code>%s</Code><Message>refused here</Message></Error>`, code)
	}))
	t.Cleanup(srv.Close)
	c, err := New(strings.TrimPrefix(srv.URL, "http://"), false, "ak", testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestErrorsCarryCodeAndStatus(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		status   int
		code     string
		call     func(*minio.Client) error
		want     string
		notFound bool
	}{
		{"list denied", 403, "AccessDenied", func(c *minio.Client) error { _, err := List(ctx, c, "backups", "svc/"); return err },
			"list s3://backups/svc/: [Message]: 'refused here', [Code]: AccessDenied, [StatusCode]: 403", false},
		{"get missing", 404, "NoSuchKey", func(c *minio.Client) error { _, err := Get(ctx, c, "backups", "svc/a.tar.gz"); return err },
			"s3://backups/svc/a.tar.gz: [Message]: 'refused here', [Code]: NoSuchKey, [StatusCode]: 404", true},
		{"remove refused per key", 200, "AccessDenied", func(c *minio.Client) error {
			return Remove(ctx, c, "backups", []minio.ObjectInfo{{Key: "k1"}, {Key: "k2"}})
		}, "delete s3://backups/k1: [Message]: 'no', [Code]: AccessDenied", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(s3Answering(t, tt.status, tt.code))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error contains the secret: %v", err)
			}
			if IsNotFound(err) != tt.notFound {
				t.Errorf("IsNotFound(%v) = %v, want %v", err, !tt.notFound, tt.notFound)
			}
		})
	}
}

func TestDescribeLeavesOtherErrors(t *testing.T) {
	plain := errors.New("dial tcp: connection refused")
	if got := Describe(plain); got != plain {
		t.Errorf("Describe(%v) = %v, want it unchanged", plain, got)
	}
	if Describe(nil) != nil {
		t.Error("Describe(nil) is not nil")
	}
	var e *Error
	if err := Describe(minio.ErrorResponse{Code: "SlowDown", StatusCode: 503}); !errors.As(err, &e) || e.Code != "SlowDown" || e.StatusCode != 503 {
		t.Errorf("Describe of an S3 response = %#v", err)
	}
}
