package testenv

import (
	"os/exec"
	"testing"
)

// Require reports that something a test needs from outside Go is missing (a binary, an npm
// install): it skips t with the reason, or fails it when REELAY_TEST_SERVICES=require.
func Require(t testing.TB, format string, args ...any) {
	t.Helper()
	unavailable(t, format, args...)
}

// RequireCommand reports (see Require) that the command name, such as ffmpeg, is not on the
// PATH.
func RequireCommand(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		unavailable(t, "%s is not installed: %v", name, err)
	}
}
