package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestKeyOnce(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(KeyOnce(slog.NewTextHandler(&buf, nil)))
	log = log.With("tier", "pipeline", "worker", "w1")
	log.With("tier", "transcoder").Info("encoding", "rung", "720p", "worker", "w2", "rung", "360p")
	log.Info("claimed")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), buf.String())
	}
	for i, want := range []string{
		`msg=encoding tier=transcoder worker=w2 rung=360p`,
		`msg=claimed tier=pipeline worker=w1`,
	} {
		if _, rest, _ := strings.Cut(lines[i], "INFO "); rest != want {
			t.Errorf("line %d = %q, want %q after the level", i, lines[i], want)
		}
	}

	buf.Reset()
	jl := slog.New(KeyOnce(slog.NewJSONHandler(&buf, nil))).With("tier", "a").With("tier", "b")
	jl.Warn("x")
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil || m["tier"] != "b" || strings.Count(buf.String(), `"tier"`) != 1 {
		t.Errorf("JSON line %s (%v)", buf.String(), err)
	}
	if jl.Enabled(t.Context(), slog.LevelDebug) {
		t.Error("debug enabled through a handler at info")
	}
}
