package testenv

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// MinIOServer is a running MinIO on loopback.
type MinIOServer struct {
	Endpoint  string // host:port of the S3 API, plain HTTP
	AccessKey string // the root user
	SecretKey string // the root user's password
}

var (
	minioOnce    sync.Once
	minioSrv     MinIOServer
	minioMissing string // why no binary was found
	minioErr     error  // why the server did not start
	bucketSeq    atomic.Int64
)

// MinIO returns the test binary's MinIO server, starting it on first use. It skips t when no
// minio binary is found (see minioBinary), unless the services are required; it fails t when
// the server did not start.
func MinIO(t testing.TB) MinIOServer {
	t.Helper()
	minioOnce.Do(func() {
		bin, err := minioBinary()
		if err != nil {
			minioMissing = err.Error()
			return
		}
		for range 3 { // a free port may be taken by someone else before MinIO binds it
			if minioSrv, minioErr = startMinIO(bin); minioErr == nil || !errors.Is(minioErr, errExited) {
				return
			}
		}
	})
	if minioMissing != "" {
		unavailable(t, "testenv: %s", minioMissing)
	}
	if minioErr != nil {
		t.Fatalf("testenv: %v", minioErr)
	}
	return minioSrv
}

// minioBinary finds MinIO: $REELAY_MINIO_BIN, else ~/.cache/reelay/minio-bin/minio, else minio on
// the PATH.
func minioBinary() (string, error) {
	if bin := os.Getenv("REELAY_MINIO_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("REELAY_MINIO_BIN: %w", err)
		}
		return bin, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		bin := filepath.Join(home, ".cache", "reelay", "minio-bin", "minio")
		if _, err := os.Stat(bin); err == nil {
			return bin, nil
		}
	}
	if bin, err := exec.LookPath("minio"); err == nil {
		return bin, nil
	}
	return "", errors.New("no minio binary: set REELAY_MINIO_BIN, or go install github.com/minio/minio " +
		"and copy it to ~/.cache/reelay/minio-bin/minio")
}

var errExited = errors.New("minio exited")

func startMinIO(bin string) (_ MinIOServer, err error) {
	api, err := loopbackPort()
	if err != nil {
		return MinIOServer{}, err
	}
	console, err := loopbackPort()
	if err != nil {
		return MinIOServer{}, err
	}
	dir, err := os.MkdirTemp("", "reelay-minio-")
	if err != nil {
		return MinIOServer{}, err
	}
	logPath := filepath.Join(dir, "minio.log")
	logf, err := os.Create(logPath)
	if err != nil {
		os.RemoveAll(dir)
		return MinIOServer{}, err
	}
	defer logf.Close() // the child has its own copy
	srv := MinIOServer{Endpoint: hostPort(api), AccessKey: "reelay-test", SecretKey: "reelay-test-secret"}
	cmd := exec.Command(bin, "server", filepath.Join(dir, "data"),
		"--address", srv.Endpoint, "--console-address", hostPort(console))
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+srv.AccessKey, "MINIO_ROOT_PASSWORD="+srv.SecretKey, "MINIO_BROWSER=off", "MINIO_UPDATE=off")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return MinIOServer{}, fmt.Errorf("starting %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		os.RemoveAll(dir)
	}

	// ready, not live: a live MinIO may still answer "Server not initialized yet".
	health := "http://" + srv.Endpoint + "/minio/health/ready"
	client := http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get(health)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				atStop(stop)
				return srv, nil
			}
		}
		select {
		case <-exited:
			tail := logTail(logPath)
			os.RemoveAll(dir)
			return MinIOServer{}, fmt.Errorf("%w before answering on %s (%v):\n%s", errExited, srv.Endpoint, cmd.ProcessState, tail)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tail := logTail(logPath)
			stop()
			return MinIOServer{}, fmt.Errorf("minio did not answer on %s within 60s:\n%s", health, tail)
		}
	}
}

// Bucket creates a bucket with a fresh name and returns the name.
func (s MinIOServer) Bucket(t testing.TB) string {
	t.Helper()
	c, err := minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	// Bucket names: 3-63 of [a-z0-9-]; the test's name helps to find a bucket in MinIO's data.
	name := strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' {
			return r
		}
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '-'
	}, t.Name())
	name = fmt.Sprintf("t%d-%.40s-%s", bucketSeq.Add(1), name, rand.Text()[:6])
	name = strings.ToLower(name)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatalf("testenv: making bucket %q: %v", name, err)
	}
	return name
}

func loopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logTail returns the end of the server's log, for failure messages.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	const max = 4 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}
