package edge

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// The window of traffic: six buckets of ten seconds, the last minute.
const (
	trafficBucket  = 10 * time.Second
	trafficBuckets = 6
	// trafficMaxVideos bounds the videos counted in one bucket: past it, a video not yet in
	// the bucket is not counted there (the busiest are in it already).
	trafficMaxVideos = 4096
	// trafficMaxObjects bounds the names of objects fetched from the origin kept per video and
	// bucket.
	trafficMaxObjects = 256
	// trafficTop is how many videos Stats reports: the busiest by player requests, and the
	// ones with the most origin fetches.
	trafficTop = 10
)

// VideoTraffic is a video's traffic on one node over the last minute, as Stats reports it.
type VideoTraffic struct {
	Video    string `json:"video"`
	Requests int64  `json:"requests"` // players' requests (not other nodes' fills)
	Bytes    int64  `json:"bytes"`    // body bytes sent to players
	// OriginFetches counts this node's fetches from the origin of the video's objects, and
	// OriginObjects names the objects fetched (at most 256), so that the cluster's figures can
	// count distinct objects across nodes (see ClusterView).
	OriginFetches int64    `json:"origin_fetches"`
	OriginObjects []string `json:"origin_objects,omitempty"`
}

// traffic counts, per video, the players' requests, the bytes sent to them and the fetches from
// the origin over the last minute: the dashboard's busiest videos and origin fetches per
// object. Its memory is bounded (trafficMaxVideos, trafficMaxObjects).
type traffic struct {
	mu      sync.Mutex
	now     func() time.Time
	buckets [trafficBuckets]trafficWindow
}

// trafficWindow is one bucket of traffic.
type trafficWindow struct {
	start  time.Time // the bucket's start, truncated to trafficBucket
	videos map[string]*videoCounts
}

type videoCounts struct {
	requests, bytes, originFetches int64
	objects                        map[string]struct{}
}

func newTraffic(now func() time.Time) *traffic { return &traffic{now: now} }

// counts returns video's counts in the current bucket, or nil when the bucket is full. The
// caller holds t.mu.
func (t *traffic) counts(video string) *videoCounts {
	start := t.now().Truncate(trafficBucket)
	b := &t.buckets[int(start.Unix()/int64(trafficBucket/time.Second))%trafficBuckets]
	if !b.start.Equal(start) {
		*b = trafficWindow{start: start, videos: make(map[string]*videoCounts)}
	}
	c := b.videos[video]
	if c == nil {
		if len(b.videos) >= trafficMaxVideos {
			return nil
		}
		c = &videoCounts{}
		b.videos[video] = c
	}
	return c
}

// served counts a player's request for an object of video, of which n body bytes were sent.
func (t *traffic) served(video string, n int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.counts(video); c != nil {
		c.requests++
		c.bytes += n
	}
}

// fetched counts a fetch from the origin of the object called name of video.
func (t *traffic) fetched(video, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.counts(video)
	if c == nil {
		return
	}
	c.originFetches++
	if c.objects == nil {
		c.objects = make(map[string]struct{})
	}
	if len(c.objects) < trafficMaxObjects {
		c.objects[name] = struct{}{}
	}
}

// top returns the busiest videos of the last minute by requests and by origin fetches, up to
// trafficTop of each, busiest first.
func (t *traffic) top() []VideoTraffic {
	t.mu.Lock()
	since := t.now().Truncate(trafficBucket).Add(-(trafficBuckets - 1) * trafficBucket)
	all := map[string]*VideoTraffic{}
	objects := map[string]map[string]struct{}{}
	for i := range t.buckets {
		b := &t.buckets[i]
		if b.start.Before(since) {
			continue
		}
		for id, c := range b.videos {
			v := all[id]
			if v == nil {
				v = &VideoTraffic{Video: id}
				all[id] = v
				objects[id] = map[string]struct{}{}
			}
			v.Requests += c.requests
			v.Bytes += c.bytes
			v.OriginFetches += c.originFetches
			for name := range c.objects {
				objects[id][name] = struct{}{}
			}
		}
	}
	t.mu.Unlock()
	list := make([]*VideoTraffic, 0, len(all))
	for _, v := range all {
		list = append(list, v)
	}
	pick := map[string]bool{}
	for _, by := range []func(*VideoTraffic) int64{
		func(v *VideoTraffic) int64 { return v.Requests },
		func(v *VideoTraffic) int64 { return v.OriginFetches },
	} {
		slices.SortFunc(list, func(a, b *VideoTraffic) int { return cmp.Or(cmp.Compare(by(b), by(a)), cmp.Compare(a.Video, b.Video)) })
		for _, v := range list[:min(len(list), trafficTop)] {
			if by(v) > 0 {
				pick[v.Video] = true
			}
		}
	}
	var out []VideoTraffic
	for id := range pick {
		v := *all[id]
		for name := range objects[id] {
			if len(v.OriginObjects) < trafficMaxObjects {
				v.OriginObjects = append(v.OriginObjects, name)
			}
		}
		slices.Sort(v.OriginObjects)
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b VideoTraffic) int {
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), cmp.Compare(b.OriginFetches, a.OriginFetches), cmp.Compare(a.Video, b.Video))
	})
	return out
}
