package transcoder

import "fmt"

// Reason says why an input was refused. Its values are stable strings, fit for a status API.
type Reason string

// The reasons an input is refused.
const (
	// ReasonNotVideo: the input is not a media container FFmpeg recognises (a text file, an image, junk).
	ReasonNotVideo Reason = "not_video"
	// ReasonNoVideoStream: the container holds no video stream (an audio-only file, for instance).
	ReasonNoVideoStream Reason = "no_video_stream"
	// ReasonUndecodable: the input looks like media but cannot be read or decoded: a truncated or
	// corrupt file (also one that ends well before its declared duration), a codec without a
	// decoder, a stream without picture size, a video of which no frame decodes.
	ReasonUndecodable Reason = "undecodable"
	// ReasonZeroDuration: neither the video stream nor the container gives a duration.
	ReasonZeroDuration Reason = "zero_duration"
	// ReasonTooLong: the duration exceeds Config.MaxDuration.
	ReasonTooLong Reason = "too_long"
	// ReasonTooLarge: the display size exceeds Config.MaxWidth or Config.MaxHeight.
	ReasonTooLarge Reason = "too_large"
)

// RejectError is returned by Probe and Run when the input itself is unacceptable, so retrying
// the same bytes cannot succeed. Errors of any other type (I/O, the sink, cancellation) may be
// transient. Match it with errors.As.
type RejectError struct {
	Reason Reason // machine-readable reason
	Detail string // human-readable detail, e.g. "duration 11m2s exceeds 10m0s"
}

// Error implements error.
func (e *RejectError) Error() string {
	if e.Detail == "" {
		return "transcoder: input rejected: " + string(e.Reason)
	}
	return "transcoder: input rejected: " + string(e.Reason) + ": " + e.Detail
}

func reject(r Reason, format string, args ...any) *RejectError {
	return &RejectError{Reason: r, Detail: fmt.Sprintf(format, args...)}
}
