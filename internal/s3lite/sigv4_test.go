package s3lite

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The documented example credentials and date of the AWS S3 SigV4 examples
// ("Examples: Signature Calculations in AWS Signature Version 4", header-based
// authentication, bucket examplebucket, region us-east-1).
const (
	exampleAccessKey = "AKIAIOSFODNN7EXAMPLE"
	exampleSecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

var exampleTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

func TestSignV4MatchesAWSExamples(t *testing.T) {
	tests := []struct {
		name          string
		method        string
		url           string
		headers       map[string]string
		payloadHash   string
		signedHeaders string
		signature     string
	}{
		{
			name:          "GET object with range",
			method:        http.MethodGet,
			url:           "https://examplebucket.s3.amazonaws.com/test.txt",
			headers:       map[string]string{"Range": "bytes=0-9"},
			payloadHash:   emptyPayloadHash,
			signedHeaders: "host;range;x-amz-content-sha256;x-amz-date",
			signature:     "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
		},
		{
			name:          "PUT object with $ in key",
			method:        http.MethodPut,
			url:           "https://examplebucket.s3.amazonaws.com/test$file.text",
			headers:       map[string]string{"Date": "Fri, 24 May 2013 00:00:00 GMT", "X-Amz-Storage-Class": "REDUCED_REDUNDANCY"},
			payloadHash:   hexSHA256([]byte("Welcome to Amazon S3.")),
			signedHeaders: "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
			signature:     "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
		},
		{
			name:          "GET bucket listing with query",
			method:        http.MethodGet,
			url:           "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J",
			payloadHash:   emptyPayloadHash,
			signedHeaders: "host;x-amz-content-sha256;x-amz-date",
			signature:     "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			// Mirror newRequest: the path goes out in SigV4's strict encoding.
			req.URL.RawPath = uriEncode(req.URL.Path, false)
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			signV4(req, tt.payloadHash, exampleAccessKey, exampleSecretKey, "us-east-1", "s3", exampleTime)

			want := "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, " +
				"SignedHeaders=" + tt.signedHeaders + ", Signature=" + tt.signature
			if got := req.Header.Get("Authorization"); got != want {
				t.Errorf("Authorization\n got %s\nwant %s", got, want)
			}
			if got := req.Header.Get("X-Amz-Date"); got != "20130524T000000Z" {
				t.Errorf("X-Amz-Date = %q", got)
			}
			if got := req.Header.Get("X-Amz-Content-Sha256"); got != tt.payloadHash {
				t.Errorf("X-Amz-Content-Sha256 = %q, want %q", got, tt.payloadHash)
			}
		})
	}
}

func TestURIEncode(t *testing.T) {
	tests := []struct {
		in          string
		encodeSlash bool
		want        string
	}{
		{"/bucket/a b/ü.txt", false, "/bucket/a%20b/%C3%BC.txt"},
		{"a/b", true, "a%2Fb"},
		{"AZaz09-._~", true, "AZaz09-._~"},
		{"x+y=z&$!*'()", true, "x%2By%3Dz%26%24%21%2A%27%28%29"},
		{"", true, ""},
	}
	for _, tt := range tests {
		if got := uriEncode(tt.in, tt.encodeSlash); got != tt.want {
			t.Errorf("uriEncode(%q, %v) = %q, want %q", tt.in, tt.encodeSlash, got, tt.want)
		}
	}
}

func TestSignV4IgnoresTransportHeadersAddedLater(t *testing.T) {
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:7070/b/k", nil)
	if err != nil {
		t.Fatal(err)
	}
	signV4(req, emptyPayloadHash, "AK", "SK", "us-east-1", "s3", exampleTime)
	auth := req.Header.Get("Authorization")
	if !strings.Contains(auth, "SignedHeaders=host;x-amz-content-sha256;x-amz-date,") {
		t.Errorf("unexpected signed headers in %q", auth)
	}
	if !strings.Contains(auth, "Credential=AK/20130524/us-east-1/s3/aws4_request") {
		t.Errorf("unexpected credential scope in %q", auth)
	}
}
