package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/testenv"
)

// TestStoreInit: `reelay store init` creates a missing bucket or directory, says so, and says
// it exists the second time; the tiers then open the store.
func TestStoreInit(t *testing.T) {
	srv := testenv.MinIO(t)
	t.Setenv("REELAY_S3_ACCESS_KEY", srv.AccessKey)
	t.Setenv("REELAY_S3_SECRET_KEY", srv.SecretKey)
	bucket := "init-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	for _, url := range []string{
		filepath.Join(t.TempDir(), "objects"),
		"s3://" + bucket + "/p?endpoint=http://" + srv.Endpoint + "&region=us-east-1",
	} {
		for _, want := range []string{"created " + url, url + " exists"} {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"store", "init", "--store", url}, &env{stdout: &stdout, stderr: &stderr, getenv: envOf(nil)})
			if code != 0 || strings.TrimSpace(stdout.String()) != want {
				t.Errorf("reelay store init --store %s: exit %d, stdout %q, stderr %q; want 0 and %q", url, code, stdout.String(), stderr.String(), want)
			}
		}
		if _, err := openStore(context.Background(), url); err != nil {
			t.Errorf("opening %s after init: %v", url, err)
		}
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"store", "init"}, 2, "which store?"},
		{[]string{"store", "--store", "/tmp/x"}, 2, "init"},
		{[]string{"store", "init", "--store", "s3://videos?endpoint=ftp://x"}, 1, "endpoint must be"},
		{[]string{"store", "init", "--store", "s3://videos?endpoint=127.0.0.1:1"}, 1, "unreachable over https"},
	} {
		var stderr bytes.Buffer
		code := run(context.Background(), tc.args, &env{stdout: io.Discard, stderr: &stderr, getenv: envOf(nil)})
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("reelay %s: exit %d, stderr %q; want %d and %q", strings.Join(tc.args, " "), code, stderr.String(), tc.code, tc.want)
		}
	}
}
