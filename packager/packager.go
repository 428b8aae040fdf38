// Package packager turns the encoded samples of a video ladder into a CMAF HLS presentation in an
// object store: one fMP4 init segment and a run of .m4s media segments per rendition (mediacommon
// fmp4), a media playlist and an I-frame playlist per rendition, a poster, and finally the
// multivariant playlist (gohlslib playlist).
//
// Objects under Config.Prefix, named as internal/layout says (every one but master.m3u8 under
// Config.Generation's directory when it is set, e.g. ab3de7fg/720p/init.mp4):
//
//	master.m3u8                 multivariant playlist, written last by Close (and earlier, with
//	                            Config.Progressive, as soon as every rendition has a segment)
//	poster.jpg                  WritePoster
//	{video}/init.mp4            one per AddVideo, e.g. 720p/init.mp4
//	{video}/seg_00001.m4s ...   media segments, written as soon as each is complete
//	{video}/index.m3u8          media playlist
//	{video}/iframes.m3u8        I-frame playlist
//	{audio}/init.mp4, {audio}/seg_00001.m4s ..., {audio}/index.m3u8   (name "audio" by convention)
//
// A presentation becomes visible only when master.m3u8 exists, and Close writes it after every
// other object, so a reader never sees half a video (a progressive publication shows a growing
// one, whose playlists list only what is written). Packaging the same video again under the
// same prefix overwrites the objects of the same names; under a new generation it writes new
// names instead, and its master.m3u8 replaces the previous one, so that no name that a cache
// keeps for a year ever changes its bytes.
//
// # Progressive publication
//
// With Config.Progressive the video becomes playable long before it is packaged to the end: as
// soon as every rendition has written its first segment, the media and I-frame playlists are
// written as EVENT playlists of the segments written so far (no EXT-X-ENDLIST, EXT-X-START at
// 0 so that players start at the beginning rather than at the newest segment), then master.m3u8,
// and Config.OnPlayable is called. Each rendition's playlists are then written again after each
// of its segments. Close writes the final VOD playlists and master.m3u8 again, with the measured
// bit rates. Until then master.m3u8 advertises each variant's peak as the larger of what was
// measured so far and its target bit rate plus 10 % (the encoder's VBV maxrate), so that players
// do not pick a rung the network cannot sustain. The playlists of this phase are stored with
// httpsem.CacheLivePlaylist, so that edges and players refetch them within a second. A reader sees a
// valid presentation at every moment: either none, or an EVENT presentation whose playlists list
// only segments already written, or the final VOD one. Abort withdraws an unfinished
// presentation (it deletes master.m3u8).
//
// # Use
//
// New, then AddVideo for each rung and AddAudio for the audio (if any), then WriteSample on each
// Rendition (each from its own goroutine if wanted; the samples of one rendition in decode order),
// WritePoster at any point, and Close once every sample of every rendition has been written: Close
// is the end of stream. Memory stays around one segment per rendition: each segment is written to
// the store, from inside WriteSample, as soon as the first sample of the next one arrives.
//
// # Timestamps
//
// All tracks share one clock: a video PTS and an audio PTS that convert to the same number of
// seconds are presented together. Presentation times are kept exactly (video decode times are
// shifted so that the first IDR decodes at its presentation time, with signed composition offsets
// for the frames after it). An audio track whose first PTS is negative (AAC's priming samples,
// at -1024) keeps them in its media from time 0, and its init segment's edit list starts the
// presentation after them: players that read the edit list (Chromium's MSE, FFmpeg) decode the
// priming samples without presenting them, so the first real sample plays at 0 with the first
// picture. Presentation times, segment cuts and EXTINF are on the presented timeline.
//
// Segments are cut on the boundaries k × SegmentDuration of that clock (k = 1, 2, ...): a video
// segment ends before the first IDR at or after a boundary, an audio segment before the audio frame
// that starts nearest to it. The encoder should therefore force IDR frames at the first frame whose
// PTS is at or after each boundary, on every rung. Half a frame of rounding is tolerated.
package packager

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/reelay/reelay/internal/httpsem"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/storage"
)

// DefaultSegmentDuration is the target segment length when Config.SegmentDuration is zero.
const DefaultSegmentDuration = 2 * time.Second

// DefaultStartBandwidth is Config.StartBandwidth when it is zero.
const DefaultStartBandwidth = 1_500_000

// AudioGroupID is the GROUP-ID of the audio rendition in master.m3u8.
const AudioGroupID = "audio"

// hlsVersion is EXT-X-VERSION of every playlist: fMP4 segments with EXT-X-MAP need 6, and 7 is
// what Apple's authoring specification uses for them.
const hlsVersion = 7

// Errors returned by the packager, wrapped with details; match them with errors.Is.
var (
	// ErrInvalidConfig: New was given an unusable Config.
	ErrInvalidConfig = errors.New("packager: invalid config")
	// ErrInvalidRendition: AddVideo or AddAudio was given a bad name (or one already used), a
	// second audio rendition, or track parameters that cannot be packaged.
	ErrInvalidRendition = errors.New("packager: invalid rendition")
	// ErrInvalidSample: a sample cannot be packaged (empty, not Annex-B, PTS before DTS, a gap
	// too long for fMP4, or a first video sample that is not an IDR). The rendition is unchanged.
	ErrInvalidSample = errors.New("packager: invalid sample")
	// ErrOutOfOrder: a sample's DTS is not after the previous sample's. The rendition is unchanged.
	ErrOutOfOrder = errors.New("packager: sample out of order")
	// ErrInvalidPoster: WritePoster was not given a JPEG image.
	ErrInvalidPoster = errors.New("packager: poster is not a JPEG image")
	// ErrClosed: the packager has been closed (or is closing).
	ErrClosed = errors.New("packager: closed")
	// ErrIncomplete: Close found no video rendition, or a rendition without samples.
	ErrIncomplete = errors.New("packager: nothing to publish")
	// ErrInvalidSPS: CodecString was not given an H.264 sequence parameter set.
	ErrInvalidSPS = errors.New("packager: invalid H.264 SPS")
)

// Config configures a Packager.
type Config struct {
	// Store receives every object. Required.
	Store storage.Store
	// Prefix is put before every key, e.g. "videos/abc123/". It must end with "/", or be empty to
	// write at the top of the store. Default "".
	Prefix string
	// Generation, when set, puts every object but master.m3u8 under Prefix+Generation+"/", and
	// master.m3u8 (under Prefix) names them there (see internal/layout): each packaging of a
	// video writes names of its own, so that a name always means the same bytes. It must be a
	// layout.NewGeneration name. Default "": every object directly under Prefix.
	Generation string
	// SegmentDuration is the target length of media segments; segments are cut on its multiples
	// (see the package comment). Default DefaultSegmentDuration (2s).
	SegmentDuration time.Duration
	// StartBandwidth chooses the variant that master.m3u8 lists first, which many players (AVPlayer,
	// hls.js) start with before they have measured the network: the highest variant whose
	// BANDWIDTH is at most StartBandwidth bit/s, or the lowest when none is. The other variants
	// follow in increasing BANDWIDTH. A negative value lists all variants in increasing BANDWIDTH.
	// Default DefaultStartBandwidth (1.5 Mbit/s).
	StartBandwidth int
	// Progressive publishes the presentation as EVENT playlists once every rendition has written
	// its first segment, and updates them as segments are written (see the package comment).
	// Add every rendition before writing the first sample. Default false: master.m3u8 is written
	// only by Close.
	Progressive bool
	// OnPlayable, when set with Progressive, is called once, right after master.m3u8 was first
	// written, from the WriteSample that wrote it, with the packager's locks held: it must not
	// call the Packager, and the renditions wait for it to return.
	OnPlayable func()
	// Logger receives the packager's logs. Default: discard.
	Logger *slog.Logger
}

// Packager writes one video's HLS presentation. Its methods are safe for concurrent use; each
// Rendition may be written from its own goroutine.
type Packager struct {
	cfg Config
	log *slog.Logger

	mu         sync.Mutex
	renditions []*Rendition // in the order added
	audio      *Rendition
	posterKey  string
	closing    bool    // Close has been called: nothing more may be added
	aborted    bool    // Abort has been called: Close may not publish
	result     *Result // set once Close succeeded

	// Progressive publication. liveMu serialises the playlist writes of the EVENT phase and
	// orders them before Close's and Abort's. It is taken after mu or a Rendition's mu, and
	// nothing is locked while it is held.
	liveMu    sync.Mutex
	all       []*Rendition           // p.renditions, for progress, which may not take mu
	latest    map[*Rendition]summary // each rendition's segments so far, from its last segment
	live      bool                   // master.m3u8 of the EVENT phase has been written
	liveEnded bool                   // Close or Abort has begun: no more EVENT writes
}

// New validates cfg and returns a Packager.
func New(cfg Config) (*Packager, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("%w: no Store", ErrInvalidConfig)
	}
	if cfg.Prefix != "" {
		if cfg.Prefix[len(cfg.Prefix)-1] != '/' {
			return nil, fmt.Errorf("%w: prefix %q does not end with \"/\"", ErrInvalidConfig, cfg.Prefix)
		}
		if err := storage.ValidateKey(cfg.Prefix + layout.Master); err != nil {
			return nil, fmt.Errorf("%w: prefix %q: %w", ErrInvalidConfig, cfg.Prefix, err)
		}
	}
	if cfg.Generation != "" && !layout.ValidGeneration(cfg.Generation) {
		return nil, fmt.Errorf("%w: generation %q", ErrInvalidConfig, cfg.Generation)
	}
	if cfg.SegmentDuration < 0 || (cfg.SegmentDuration > 0 && cfg.SegmentDuration < 100*time.Millisecond) {
		return nil, fmt.Errorf("%w: segment duration %v (want 0 for the default, or at least 100ms)",
			ErrInvalidConfig, cfg.SegmentDuration)
	}
	cfg.SegmentDuration = cmp.Or(cfg.SegmentDuration, DefaultSegmentDuration)
	cfg.StartBandwidth = cmp.Or(cfg.StartBandwidth, DefaultStartBandwidth)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Packager{cfg: cfg, log: log.With("tier", "packager", "prefix", cfg.Prefix)}, nil
}

// add registers r after checking its name.
func (p *Packager) add(r *Rendition) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return ErrClosed
	}
	if !layout.ValidRendition(r.name) {
		return fmt.Errorf("%w: name %q (want 1 to 64 of A-Z a-z 0-9 _ . -, starting with a letter or digit, and not the name of a video's own object)",
			ErrInvalidRendition, r.name)
	}
	for _, o := range p.renditions {
		if o.name == r.name {
			return fmt.Errorf("%w: name %q is already used", ErrInvalidRendition, r.name)
		}
	}
	if r.kind == KindAudio {
		if p.audio != nil {
			return fmt.Errorf("%w: only one audio rendition is supported (have %q)", ErrInvalidRendition, p.audio.name)
		}
		p.audio = r
	}
	p.renditions = append(p.renditions, r)
	p.liveMu.Lock()
	p.all = append(p.all, r)
	p.liveMu.Unlock()
	return nil
}

// key returns the store key of name under the prefix.
func (p *Packager) key(name string) string {
	return p.cfg.Prefix + layout.InGeneration(p.cfg.Generation, name)
}

// masterKey is the key of master.m3u8, which is outside the generation.
func (p *Packager) masterKey() string { return p.cfg.Prefix + layout.Master }

// uri is the URI, relative to master.m3u8, of object name of this packaging.
func (p *Packager) uri(name string) string { return layout.InGeneration(p.cfg.Generation, name) }

// put writes one object.
func (p *Packager) put(ctx context.Context, key string, b []byte, contentType, cacheControl string) error {
	_, err := p.cfg.Store.Put(ctx, key, bytes.NewReader(b), int64(len(b)),
		storage.PutOptions{ContentType: contentType, CacheControl: cacheControl})
	if err != nil {
		return fmt.Errorf("packager: writing %s: %w", key, err)
	}
	return nil
}

// WritePoster stores jpeg as poster.jpg. It may be called at any time before Close.
func (p *Packager) WritePoster(ctx context.Context, jpeg []byte) error {
	if len(jpeg) < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8 || jpeg[2] != 0xFF {
		return ErrInvalidPoster
	}
	// Hold the lock while writing, so that Close cannot write master.m3u8 meanwhile.
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return ErrClosed
	}
	key := p.key(layout.Poster)
	if err := p.put(ctx, key, jpeg, httpsem.ContentTypePoster, httpsem.CachePoster); err != nil {
		return err
	}
	p.posterKey = key
	return nil
}

// Result describes a published presentation.
type Result struct {
	MasterKey  string            // key of master.m3u8
	PosterKey  string            // key of poster.jpg, or "" if WritePoster was not called
	Duration   time.Duration     // length of the longest video rendition
	Renditions []RenditionResult // in the order they were added
}

// Kind tells video renditions from audio ones.
type Kind int

// Kinds of rendition.
const (
	KindVideo Kind = iota + 1
	KindAudio
)

// String returns "video" or "audio".
func (k Kind) String() string {
	switch k {
	case KindVideo:
		return "video"
	case KindAudio:
		return "audio"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// RenditionResult describes one published rendition.
type RenditionResult struct {
	Name              string
	Kind              Kind
	InitKey           string
	PlaylistKey       string // media playlist
	IFramePlaylistKey string // I-frame playlist; "" for audio
	Segments          []SegmentResult
	Duration          time.Duration // sum of the segment durations
	// PeakBitrate and AverageBitrate are this rendition's own measured segment bit rates in bit/s
	// (RFC 8216bis peak and average segment bit rate).
	PeakBitrate, AverageBitrate int
	// Bandwidth and AverageBandwidth are what master.m3u8 advertises for a video rendition:
	// its own bit rates plus those of the audio rendition, if any. Zero for audio.
	Bandwidth, AverageBandwidth int
	TargetBitrate               int    // as given to AddVideo or AddAudio
	Codecs                      string // RFC 6381 codec of this rendition, e.g. "avc1.64001f"
	Width, Height               int    // video only
	FrameRate                   float64
	Channels                    int // audio only
}

// SegmentResult describes one media segment.
type SegmentResult struct {
	Key      string
	Duration time.Duration
	Size     int64
}

// Close flushes the last segment of every rendition, writes the media and I-frame playlists and
// then master.m3u8, last. After it has been called no rendition, sample or poster may be added.
// If it fails (a store error, a cancelled ctx) it may be called again, and retries what is left;
// once it has succeeded it returns the same Result again.
func (p *Packager) Close(ctx context.Context) (Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.result != nil {
		return p.result.clone(), nil
	}
	if p.aborted {
		return Result{}, ErrClosed
	}
	p.closing = true

	var videos []*Rendition
	for _, r := range p.renditions {
		if r.kind == KindVideo {
			videos = append(videos, r)
		}
	}
	if len(videos) == 0 {
		return Result{}, fmt.Errorf("%w: no video rendition", ErrIncomplete)
	}
	// Video first: the audio's last segment is dropped if it starts where the video has ended.
	var videoEnd time.Duration
	for _, r := range videos {
		if err := r.finish(ctx, 0); err != nil {
			return Result{}, err
		}
		videoEnd = max(videoEnd, r.end())
	}
	if p.audio != nil {
		if err := p.audio.finish(ctx, videoEnd); err != nil {
			return Result{}, err
		}
	}

	summaries := make([]summary, len(p.renditions))
	var audio *summary
	for i, r := range p.renditions {
		summaries[i] = r.summarize()
		if r == p.audio {
			audio = &summaries[i]
		}
	}
	// Every rendition is closed now, so no EVENT playlist write can follow the final ones.
	p.liveMu.Lock()
	defer p.liveMu.Unlock()
	p.liveEnded = true

	res := Result{MasterKey: p.masterKey(), PosterKey: p.posterKey}
	var variants []variant
	for i, r := range p.renditions {
		s := summaries[i]
		if err := r.writePlaylists(ctx, s, false); err != nil {
			return Result{}, err
		}
		rr := s.result
		if r.kind == KindVideo {
			rr.Bandwidth, rr.AverageBandwidth = s.result.PeakBitrate, s.result.AverageBitrate
			if audio != nil {
				rr.Bandwidth += audio.result.PeakBitrate
				rr.AverageBandwidth += audio.result.AverageBitrate
			}
			variants = append(variants, variant{s: s, bandwidth: rr.Bandwidth, average: rr.AverageBandwidth})
			res.Duration = max(res.Duration, rr.Duration)
		}
		res.Renditions = append(res.Renditions, rr)
	}

	master, err := buildMultivariant(orderVariants(variants, p.cfg.StartBandwidth), audio, p.uri)
	if err != nil {
		return Result{}, err
	}
	if err := p.put(ctx, res.MasterKey, master, httpsem.ContentTypePlaylist, httpsem.CachePlaylist); err != nil {
		return Result{}, err
	}
	p.log.Info("packaged", "renditions", len(res.Renditions), "duration", res.Duration)
	p.result = &res
	return res.clone(), nil
}

// Abort withdraws a presentation that Close has not completed: it deletes master.m3u8 if a
// progressive publication has written it, so that the video is no longer visible, then, with a
// Config.Generation, every object of the generation (without one, the other objects stay,
// unreachable, until they are overwritten or deleted). The packager is closed afterwards: Close
// returns ErrClosed. After a successful Close, Abort does nothing.
func (p *Packager) Abort(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.result != nil {
		return nil
	}
	p.closing, p.aborted = true, true
	for _, r := range p.renditions {
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
	}
	p.liveMu.Lock()
	defer p.liveMu.Unlock()
	p.liveEnded = true
	if p.live {
		if err := p.cfg.Store.Delete(ctx, p.masterKey()); err != nil {
			return fmt.Errorf("packager: withdrawing %s: %w", p.masterKey(), err)
		}
		p.live = false
		p.log.Info("withdrawn")
	}
	if p.cfg.Generation == "" {
		return nil
	}
	// Then everything else this packaging wrote, which no master names any more.
	n, err := DeleteGeneration(ctx, p.cfg.Store, p.cfg.Prefix, p.cfg.Generation)
	if err != nil {
		return fmt.Errorf("packager: withdrawing generation %s: %w", p.cfg.Generation, err)
	}
	p.log.Info("generation deleted", "generation", p.cfg.Generation, "objects", n)
	return nil
}

// DeleteGeneration deletes every object of generation gen under prefix (see
// Config.Generation), and returns how many it deleted.
func DeleteGeneration(ctx context.Context, store storage.Store, prefix, gen string) (int, error) {
	dir := prefix + layout.InGeneration(gen, "")
	var keys []string
	if err := store.List(ctx, dir, func(info storage.Info) error {
		keys = append(keys, info.Key)
		return nil
	}); err != nil {
		return 0, err
	}
	for i, key := range keys {
		if err := store.Delete(ctx, key); err != nil {
			return i, err
		}
	}
	return len(keys), nil
}

// progress runs the EVENT phase of a progressive publication after r has written a segment; s
// is r's summary including it. r.mu is held. Once every rendition has a segment it writes every
// playlist, then master.m3u8; after that only r's playlists.
func (p *Packager) progress(ctx context.Context, r *Rendition, s summary) error {
	p.liveMu.Lock()
	defer p.liveMu.Unlock()
	if p.liveEnded {
		return nil
	}
	if p.latest == nil {
		p.latest = make(map[*Rendition]summary)
	}
	p.latest[r] = s
	if p.live {
		return r.writePlaylists(ctx, s, true)
	}
	renditions := p.all
	for _, o := range renditions {
		if _, ok := p.latest[o]; !ok {
			return nil
		}
	}
	var audio *summary
	var variants []variant
	for _, o := range renditions {
		os := p.latest[o]
		if err := o.writePlaylists(ctx, os, true); err != nil {
			return err
		}
		if o.kind == KindAudio {
			audio = &os
		}
	}
	for _, o := range renditions {
		if o.kind != KindVideo {
			continue
		}
		v := variant{s: p.latest[o]}
		v.bandwidth, v.average = v.s.expectedBitrates()
		if audio != nil {
			ab, aa := audio.expectedBitrates()
			v.bandwidth += ab
			v.average += aa
		}
		variants = append(variants, v)
	}
	if len(variants) == 0 {
		return nil
	}
	master, err := buildMultivariant(orderVariants(variants, p.cfg.StartBandwidth), audio, p.uri)
	if err != nil {
		return err
	}
	if err := p.put(ctx, p.masterKey(), master, httpsem.ContentTypePlaylist, httpsem.CacheLivePlaylist); err != nil {
		return err
	}
	p.live = true
	p.log.Info("playable", "renditions", len(renditions))
	if p.cfg.OnPlayable != nil {
		p.cfg.OnPlayable()
	}
	return nil
}

// clone returns a copy of r that shares no slices with it.
func (r *Result) clone() Result {
	c := *r
	c.Renditions = slices.Clone(r.Renditions)
	for i := range c.Renditions {
		c.Renditions[i].Segments = slices.Clone(c.Renditions[i].Segments)
	}
	return c
}
