// Package testenv starts the real servers that tests talk to (MinIO, PostgreSQL) on loopback
// ports, once per test binary, and stops them when the binary's tests are done.
//
// A package that uses it calls testenv.Main from its TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// When a server's binary is missing the test is skipped with the reason, unless
// REELAY_TEST_SERVICES=require is set (as `make test` does), in which case it fails.
package testenv

import (
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	stops []func()
)

// Main runs the tests and then stops every server that they started.
func Main(m *testing.M) {
	code := m.Run()
	StopAll()
	os.Exit(code)
}

// StopAll stops every server started so far, newest first.
func StopAll() {
	mu.Lock()
	s := stops
	stops = nil
	mu.Unlock()
	for i := len(s) - 1; i >= 0; i-- {
		s[i]()
	}
}

func atStop(f func()) {
	mu.Lock()
	stops = append(stops, f)
	mu.Unlock()
}

// unavailable skips t, or fails it when the services are required.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("REELAY_TEST_SERVICES") == "require" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
