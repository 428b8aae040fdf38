package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestPlainOutputEveryTenth(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, "transcode", 100, Percent)
	clock := b.start
	b.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	for p := 0.0; p <= 100; p += 2.5 {
		b.Set(p)
	}
	b.Done(100)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 11 {
		t.Fatalf("%d lines, want 11 (0%%, 10%%, ..., 100%%):\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[5], " 50%") || !strings.Contains(lines[5], "ETA") || !strings.Contains(lines[10], "100%") {
		t.Fatalf("unexpected lines:\n%s", buf.String())
	}
}

func TestBytesShowSizesAndRate(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, "upload", 4<<20, Bytes)
	b.now = func() time.Time { return b.start.Add(2 * time.Second) }
	b.Set(2 << 20)
	if got := buf.String(); !strings.Contains(got, "2.0 MiB/4.0 MiB") || !strings.Contains(got, "1.0 MiB/s") {
		t.Fatalf("line %q", got)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[float64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536 << 10: "1.5 MiB", 3 << 30: "3.0 GiB"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%v) = %q, want %q", n, got, want)
		}
	}
}
