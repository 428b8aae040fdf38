package live

import (
	"os"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/reelay/reelay/internal/videoid"
)

// TestRecorderFlushesAudioAlone sends a key frame, then audio only (a publisher whose
// camera is off sends no video): what the recorder holds still reaches its file within
// about flushEvery, not at the next key frame, so that a crash loses a quarter of a second
// of it, and the audio does not pile up in memory.
func TestRecorderFlushesAudioAlone(t *testing.T) {
	c := testClip(t)
	rec, err := newRecorder(t.TempDir(), videoid.New(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.finish()
	var nalus h264.AnnexB
	if err := nalus.Unmarshal(c.Video[0]); err != nil {
		t.Fatal(err)
	}
	rec.writeH264(0, nalus)
	size := func() int64 {
		fi, err := os.Stat(rec.path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	// 20 ms packets, sent as fast as they come; the file must grow within the deadline.
	pts := int64(0)
	for deadline := time.Now().Add(5 * time.Second); size() == before; {
		if time.Now().After(deadline) {
			t.Fatalf("after %d audio packets (%s of audio), the file holds %d bytes, %d in memory: the audio never reached it",
				pts/960, time.Duration(pts)*time.Second/48000, size(), rec.buf.Len())
		}
		rec.writeOpus(pts, c.Audio[int(pts/960)%len(c.Audio)])
		pts += 960
		time.Sleep(time.Millisecond) // the pace of a publisher, not a wait for an outcome
	}
	if rec.err != nil {
		t.Fatal(rec.err)
	}
}
