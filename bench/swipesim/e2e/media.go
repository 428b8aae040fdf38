package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/videoid"
	"github.com/reelay/reelay/pipeline"
	"github.com/reelay/reelay/storage"
	"github.com/reelay/reelay/transcoder"
)

// clips are the short sources of the catalogue's presentations: FFmpeg's lavfi test sources,
// each transcoded once into a real HLS ladder (540p and 360p) with the project's own
// transcoder and packager, then copied under every video id of the world.
var clips = []string{
	"testsrc2=size=540x960:rate=30",
	"smptebars=size=540x960:rate=30",
	"mandelbrot=size=540x960:rate=30",
}

// object is one object of a template presentation, with its metadata.
type object struct {
	name string // below the video's directory: "master.m3u8", "{gen}/540p/seg_00001.m4s", ...
	body []byte
	opts storage.PutOptions
}

// presentation is a template: the objects of one transcoded clip.
type presentation struct {
	objects    []object
	renditions string // the videos row's renditions column: a JSON array of names
	generation string
}

// makePresentations transcodes each of clips (seconds long) into store under a throwaway video
// id and reads the objects back as templates. ffmpeg makes the clips; the transcode is
// pipeline.Transcode, the workers' one path from a source to a presentation.
func makePresentations(ctx context.Context, store storage.Store, dir string, seconds float64) ([]presentation, error) {
	tc, err := transcoder.New(transcoder.Config{Preset: "ultrafast"})
	if err != nil {
		return nil, fmt.Errorf("e2e: %w", err)
	}
	var out []presentation
	for i, src := range clips {
		clip := filepath.Join(dir, fmt.Sprintf("clip%d.mp4", i))
		cmd := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", src,
			"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=%d:sample_rate=48000", 220*(i+2)), "-t", fmt.Sprint(seconds),
			"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", clip)
		if msg, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("e2e: making clip %d: %w: %s", i, err, msg)
		}
		id, gen := videoid.New(), layout.NewGeneration()
		prefix := layout.VideoPrefix(id)
		res, err := pipeline.Transcode(ctx, tc, transcoder.Input{Path: clip}, pipeline.Output{Store: store, Prefix: prefix, Generation: gen}, nil)
		if err != nil {
			return nil, fmt.Errorf("e2e: transcoding clip %d: %w", i, err)
		}
		p := presentation{generation: gen, renditions: renditionsJSON(res)}
		err = store.List(ctx, prefix, func(info storage.Info) error {
			body, full, err := readObject(ctx, store, info.Key)
			if err != nil {
				return err
			}
			p.objects = append(p.objects, object{name: strings.TrimPrefix(info.Key, prefix), body: body,
				opts: storage.PutOptions{ContentType: full.ContentType, CacheControl: full.CacheControl}})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("e2e: reading clip %d's presentation: %w", i, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// renditionsJSON is the renditions column of a video whose transcode gave res.
func renditionsJSON(res pipeline.Result) string {
	var names []string
	for _, r := range res.Transcode.Renditions {
		names = append(names, `"`+r.Name+`"`)
	}
	return "[" + strings.Join(names, ",") + "]"
}

func readObject(ctx context.Context, store storage.Store, key string) ([]byte, storage.Info, error) {
	rc, info, err := store.Get(ctx, key)
	if err != nil {
		return nil, info, err
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	return body, info, err
}

// publish copies presentation p under video id in store: the same bytes under the video's
// own names, as if it had been transcoded for it.
func publish(ctx context.Context, store storage.Store, p presentation, id string) error {
	prefix := layout.VideoPrefix(id)
	for _, o := range p.objects {
		if _, err := store.Put(ctx, prefix+o.name, bytes.NewReader(o.body), int64(len(o.body)), o.opts); err != nil {
			return fmt.Errorf("e2e: publishing %s: %w", id, err)
		}
	}
	return nil
}
