package pipeline

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestScratchSweep starts a pipeline's scratch directory next to what others left: the
// directory of a process that died (unlocked) goes, with the source in it; a live process's
// (locked), a directory just made whose lock is not taken yet, and anything not reelay's stay.
func TestScratchSweep(t *testing.T) {
	parent := t.TempDir()
	mkdir := func(name string, files ...string) string {
		dir := filepath.Join(parent, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	dead := mkdir(scratchPrefix+"dead", scratchLock, "source-abc")
	unlockedOld := mkdir(scratchPrefix+"old", "source-def")
	old := time.Now().Add(-2 * scratchGrace)
	if err := os.Chtimes(unlockedOld, old, old); err != nil {
		t.Fatal(err)
	}
	justMade := mkdir(scratchPrefix + "new")
	other := mkdir("someone-else", "file")
	live, err := openScratch(parent, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer live.close()

	second, err := openScratch(parent, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]bool{dead: false, unlockedOld: false, justMade: true, other: true, live.dir: true, second.dir: true} {
		if _, err := os.Stat(dir); (err == nil) != want {
			t.Errorf("%s: %v, want kept %v", filepath.Base(dir), err, want)
		}
	}
	if err := second.close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(second.dir); !os.IsNotExist(err) {
		t.Errorf("a scratch directory after close: %v", err)
	}
}
