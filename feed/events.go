package feed

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/ratelimit"
	"github.com/reelay/reelay/internal/videoid"
)

// EventType is what an event reports.
type EventType string

// The event types.
const (
	EventImpression    EventType = "impression" // the item was shown
	EventPlay          EventType = "play"       // playback started: one view
	EventProgress      EventType = "progress"   // still watching, watch_ms so far
	EventComplete      EventType = "complete"   // watched to the end
	EventSkip          EventType = "skip"       // swiped away
	EventLike          EventType = "like"
	EventShare         EventType = "share"
	EventFollow        EventType = "follow"
	EventNotInterested EventType = "not_interested"
)

var eventTypes = map[EventType]bool{
	EventImpression: true, EventPlay: true, EventProgress: true, EventComplete: true, EventSkip: true,
	EventLike: true, EventShare: true, EventFollow: true, EventNotInterested: true,
}

// Bounds of an events batch and of its fields.
const (
	MaxEvents       = 100                  // events in one batch
	MaxEventWatchMS = 6 * 60 * 60 * 1000   // six hours, longer than any short video is watched at once
	MaxEventPos     = 100_000              // a position in a feed
	MaxEventFuture  = 5 * time.Minute      // how far at may be ahead of the server's clock
	MaxEventAge     = 7 * 24 * time.Hour   // how old at may be: an offline player's backlog
	maxEventsBody   = MaxEvents*512 + 1024 // bytes of a batch
)

// visitorRE is what a visitor id looks like: an opaque string that the app makes up once
// (a UUID, or 16 random bytes in base64url) and keeps.
var visitorRE = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

// eventsRequest is the body of POST /v1/events.
type eventsRequest struct {
	// Visitor identifies a player without a token (required then, ignored with one).
	Visitor string      `json:"visitor"`
	Events  []eventJSON `json:"events"`
}

type eventJSON struct {
	Video    string    `json:"video"`
	Type     EventType `json:"type"`
	WatchMS  int64     `json:"watch_ms"`
	Position int64     `json:"position"`
	// Rendition is the rendition played (hls.js's current level, such as "720p"), optional:
	// the next-swipe prefetch warms it for the videos that come next.
	Rendition string `json:"rendition"`
	At        string `json:"at"` // RFC 3339
}

func badEvent(i int, field, msg string) error {
	return apierr.Errorf(http.StatusBadRequest, "invalid_event", "events[%d].%s: %s", i, field, msg)
}

// parseEvents validates a batch as p sends it at now, and returns its events (without
// their ids). Whether the videos exist is the caller's to check.
func parseEvents(req eventsRequest, p auth.Principal, now time.Time) ([]Event, error) {
	if n := len(req.Events); n < 1 || n > MaxEvents {
		return nil, apierr.Errorf(http.StatusBadRequest, "invalid_events", "events: a batch holds 1 to %d events, not %d", MaxEvents, n)
	}
	visitor := ""
	if p.UserID == 0 {
		if !visitorRE.MatchString(req.Visitor) {
			return nil, apierr.New(http.StatusBadRequest, "invalid_visitor",
				"visitor: without a token, a visitor id of 8 to 64 letters, digits, '-' or '_' is required")
		}
		visitor = req.Visitor
	}
	out := make([]Event, len(req.Events))
	for i, e := range req.Events {
		if !videoid.Valid(e.Video) {
			return nil, badEvent(i, "video", "not a video id")
		}
		if !eventTypes[e.Type] {
			return nil, badEvent(i, "type", "must be one of impression, play, progress, complete, skip, like, share, follow, not_interested")
		}
		if e.WatchMS < 0 || e.WatchMS > MaxEventWatchMS {
			return nil, badEvent(i, "watch_ms", "must be from 0 to "+strconv.Itoa(MaxEventWatchMS))
		}
		if e.Position < 0 || e.Position > MaxEventPos {
			return nil, badEvent(i, "position", "must be from 0 to "+strconv.Itoa(MaxEventPos))
		}
		if e.Rendition != "" && !layout.ValidRendition(e.Rendition) {
			return nil, badEvent(i, "rendition", "must be a rendition's name, such as 720p")
		}
		at, err := time.Parse(time.RFC3339Nano, e.At)
		switch {
		case err != nil:
			return nil, badEvent(i, "at", "must be an RFC 3339 time, such as 2026-01-02T15:04:05.123Z")
		case at.After(now.Add(MaxEventFuture)):
			return nil, badEvent(i, "at", fmt.Sprintf("is more than %v ahead of the server's clock", MaxEventFuture))
		case at.Before(now.Add(-MaxEventAge)):
			return nil, badEvent(i, "at", fmt.Sprintf("is more than %v old", MaxEventAge))
		}
		out[i] = Event{UserID: p.UserID, Visitor: visitor, Video: e.Video, Type: e.Type, WatchMS: e.WatchMS,
			Position: e.Position, Rendition: e.Rendition, At: at.UTC().Truncate(time.Millisecond)}
	}
	return out, nil
}

// postEvents answers POST /v1/events: a batch of 1 to MaxEvents events, stored all or none.
// With a token they are the user's; without one the body names the visitor. Every video
// must be one the sender may see (a ready video, public or unlisted, or its own); an unknown
// one is 400 unknown_video naming its index, as a bad field is 400 invalid_event.
func (s *Service) postEvents(w http.ResponseWriter, r *http.Request) error {
	p, _ := auth.FromContext(r.Context())
	var req eventsRequest
	if err := apierr.DecodeJSON(r, &req, maxEventsBody); err != nil {
		return err
	}
	events, err := parseEvents(req, p, s.events.now())
	if err != nil {
		return err
	}
	if p.UserID != 0 {
		err = s.limitWrite(w, p)
	} else if ok, wait := s.writes.Allow("visitors:" + ratelimit.Addr(r.RemoteAddr)); !ok {
		err = tooManyAttempts(w, wait) // visitors share their network's writes
	}
	if err != nil {
		return err
	}

	ids := make([]string, 0, len(events))
	for _, e := range events {
		ids = append(ids, e.Video)
	}
	items, err := s.items(r.Context(), p, ids) // once each, what p may see
	if err != nil {
		return err
	}
	visible := make(map[string]bool, len(items))
	for _, it := range items {
		visible[it.ID] = true
	}
	for i, e := range events {
		if !visible[e.Video] {
			return apierr.Errorf(http.StatusBadRequest, "unknown_video", "events[%d].video: no such video", i)
		}
	}
	if err := s.events.Append(r.Context(), events); err != nil {
		return err
	}
	apierr.WriteJSON(w, http.StatusAccepted, map[string]int{"accepted": len(events)})
	return nil
}
