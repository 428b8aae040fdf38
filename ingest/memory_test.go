package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// patternReader yields n bytes of a fixed 1 MiB pseudo-random block, over and over, without
// allocating; it hashes what it yields.
type patternReader struct {
	block []byte
	off   int64
	n     int64
	sum   interface{ Write([]byte) (int, error) }
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	k := copy(b, p.block[p.off%int64(len(p.block)):])
	p.sum.Write(b[:k])
	p.off += int64(k)
	return k, nil
}

// TestMemory streams 256 MiB through one PATCH and checks that the server's memory does not
// grow with the body: it goes to disk through a fixed buffer. (It measures the whole test
// process, client included, so the bounds are loose; buffering the body would exceed them
// many times over.)
func TestMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 256 MiB")
	}
	const size = 256 << 20
	e := newEnv(t, "sqlite:"+t.TempDir()+"/reelay.db", Config{})
	loc := e.create(e.alice, size)

	block := make([]byte, 1<<20)
	fillPattern(block, 42)
	h := sha256.New()
	body := &patternReader{block: block, n: size, sum: h}

	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	req, err := http.NewRequest("PATCH", loc, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Content-Type", offsetStream)
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Authorization", "Bearer "+e.alice)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	runtime.ReadMemStats(&after)
	close(stop)
	<-sampled

	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-Offset") != strconv.Itoa(size) {
		t.Fatalf("PATCH of 256 MiB: %d, offset %q", resp.StatusCode, resp.Header.Get("Upload-Offset"))
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	growth := int64(peak.Load()) - int64(before.HeapInuse)
	t.Logf("256 MiB upload: %.1f MiB allocated, heap in use grew by at most %.1f MiB",
		float64(allocated)/(1<<20), float64(growth)/(1<<20))
	if allocated > 32<<20 {
		t.Errorf("the upload allocated %d MiB: the body is being buffered", allocated>>20)
	}
	if growth > 32<<20 {
		t.Errorf("heap in use grew by %d MiB: the body is being buffered", growth>>20)
	}
	if got, want := e.handedOver(loc), hex.EncodeToString(h.Sum(nil)); got != want {
		t.Errorf("staged file sha256 %s, want %s", got, want)
	}
}
