package packager

// VideoTrack describes one H.264 video rendition as the encoder produced it.
type VideoTrack struct {
	SPS, PPS      []byte // parameter sets, without start codes
	Width, Height int    // coded picture size in pixels
	FrameRateNum  int    // constant output frame rate as a fraction, e.g. 30000/1001
	FrameRateDen  int
	TimeScale     uint32 // units per second of Sample timestamps, e.g. 90000
}

// AudioTrack describes the AAC-LC audio rendition.
type AudioTrack struct {
	Config     []byte // MPEG-4 AudioSpecificConfig (the encoder's extradata)
	SampleRate int    // e.g. 48000
	Channels   int    // e.g. 2
	TimeScale  uint32 // units per second of Sample timestamps; usually SampleRate
}

// Sample is one encoded access unit.
type Sample struct {
	PTS, DTS int64 // in the track's TimeScale; the first sample of a track may start above 0
	Duration int64 // in the track's TimeScale
	Keyframe bool  // an IDR picture for video; every audio sample is a sync sample
	// Data is an Annex-B access unit (start codes) for video, as libx264 emits it, and one
	// raw AAC frame (no ADTS header) for audio.
	Data []byte
}
