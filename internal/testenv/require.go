package testenv

import "testing"

// Require reports that something a test needs from outside Go is missing (a binary, an npm
// install): it skips t with the reason, or fails it when REELAY_TEST_SERVICES=require.
func Require(t testing.TB, format string, args ...any) {
	t.Helper()
	unavailable(t, format, args...)
}
