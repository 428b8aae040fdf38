// Package video is the vocabulary that the tiers share about a video: the states it goes
// through from upload to playback, who may watch it, and the hashtags of its caption. The
// ingest tier, the pipeline and the feed each keep their own rows and queries; this is what
// their rows and answers say to each other.
package video

import "time"

// Status is where a video is on its way from upload to playback, as the status API answers it.
type Status string

// Statuses, in the order a video goes through them.
const (
	// Live: a live stream that is on (package live); when it ends its recording is an upload
	// of its creator under the same id, Processing, then Ready. The database holds no video
	// in this status: the status API asks the live tier.
	Live Status = "live"
	// Uploading: its upload has not received all its bytes yet.
	Uploading Status = "uploading"
	// Processing: the upload is complete and the pipeline is making the video; it may already
	// be playable (published progressively).
	Processing Status = "processing"
	// Ready: published in full.
	Ready Status = "ready"
	// Failed: the upload was refused, or the pipeline gave up; the video carries the reason.
	Failed Status = "failed"
)

// Visibility is who may watch a video.
type Visibility string

// Visibilities.
const (
	// Public videos are listed and play for anyone. The default.
	Public Visibility = "public"
	// Unlisted videos play for anyone who has the link, and are not listed.
	Unlisted Visibility = "unlisted"
	// Private videos play only for their creator, on signed URLs.
	Private Visibility = "private"
)

// ParseVisibility returns the visibility named s, Public for "", and false for anything else.
func ParseVisibility(s string) (Visibility, bool) {
	switch v := Visibility(s); v {
	case "":
		return Public, true
	case Public, Unlisted, Private:
		return v, true
	}
	return "", false
}

// Upload is what the status API tells of a video that is still an upload: one that has not
// received all its bytes, or has but is not a video yet, or was refused.
type Upload struct {
	Owner     int64  // the creator's user id
	Status    Status // Uploading; Processing once every byte is in; Failed when refused
	Progress  int    // percent of the bytes received
	ErrorCode string // why it was refused
	Error     string
	Gone      string // why the upload is gone before it finished ("expired", "terminated"), or ""
	CreatedAt time.Time
}

// Rendition is one published rendition of a video: what the pipeline records when it has
// published it, and what the status API shows.
type Rendition struct {
	Name      string  `json:"name"`
	Kind      string  `json:"kind"` // video or audio
	Width     int     `json:"width,omitempty"`
	Height    int     `json:"height,omitempty"`
	FrameRate float64 `json:"frame_rate,omitempty"`
	Bandwidth int     `json:"bandwidth"` // peak bit/s, as in the multivariant playlist
	Codecs    string  `json:"codecs"`
	Playlist  string  `json:"playlist"` // relative to the video's master.m3u8
}

// FanoutJob is the kind of the queue's jobs that push a video that became ready into its
// creator's followers' Following timelines. The pipeline queues one per video, keyed and
// carrying the video's id as payload; the feed's workers run them.
const FanoutJob = "feed.fanout"
