package e2e

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/reelay/reelay/bench/swipesim/world"
	"github.com/reelay/reelay/feed"
)

// player is a simulated app: one user of the world, who pages through For You, starts each
// video from their edge as hls.js would, sends the events a player sends, watches for as long
// as the world's watch model says (in simulated time, scaled down) and swipes.
type player struct {
	env     *runEnv
	user    *world.User
	token   string
	edge    string // the base URL of the edge this player asks, always the same
	host    string // its host:port
	rng     *rand.Rand
	follows map[int64]bool // world creator ids the user follows
}

// play runs the player until ctx is done.
func (p *player) play(ctx context.Context) {
	e := p.env
	var cursor, last string
	first := true
	for ctx.Err() == nil {
		pg, err := e.client.forYou(ctx, p.token, cursor, e.opts.PageSize)
		if err != nil {
			if ctx.Err() == nil {
				e.rec.fail(err)
				e.sleepSim(ctx, time.Second)
			}
			continue
		}
		creators := make([]string, len(pg.Items))
		for i, it := range pg.Items {
			creators[i] = it.Creator.Handle
		}
		e.rec.page(len(pg.Items), adjacencies(last, creators))
		if len(pg.Items) > 0 {
			last = creators[len(creators)-1]
		}
		for pos, it := range pg.Items {
			if ctx.Err() != nil {
				return
			}
			p.watch(ctx, it, pos, first)
			first = false
		}
		if cursor = pg.NextCursor; cursor == "" {
			// The feed ran dry: the app opens a new session after a while.
			last = ""
			e.sleepSim(ctx, 10*time.Second)
		}
	}
}

// watch plays item, the pos-th of its page: starts it (a swipe to it unless first), sends
// its impression and play, watches, and sends how it ended and what the user did.
func (p *player) watch(ctx context.Context, it feed.Item, pos int, first bool) {
	e := p.env
	v := e.videos[it.ID]
	if v == nil {
		e.rec.fail(errUnknownVideo(it.ID))
		return
	}
	u, err := onEdge(p.edge, it.PlaybackURL)
	if err != nil {
		e.rec.fail(err)
		return
	}
	began := time.Now()
	e.rec.start(p.host, it.ID, began)
	st, err := e.client.startVideo(ctx, u)
	if err != nil {
		if ctx.Err() == nil {
			e.rec.fail(err)
		}
		return
	}
	if !first {
		e.rec.swipe(st, p.host, it.ID, began, pos)
	}
	buffered := make(chan error, 1)
	go func() { buffered <- e.client.buffer(ctx, st) }()
	defer func() {
		if err := <-buffered; err != nil && ctx.Err() == nil {
			e.rec.fail(err)
		}
	}()
	e.rec.view(it.ID, time.Now())
	if err := e.client.events(ctx, p.token, newEvent(it.ID, feed.EventImpression, pos, 0), newEvent(it.ID, feed.EventPlay, pos, 0)); err != nil && ctx.Err() == nil {
		e.rec.fail(err)
	}
	o := e.world.Watch(p.user, v, p.follows[v.CreatorID], p.rng)
	every := e.opts.ProgressEvery.Milliseconds()
	var watched int64
	for every > 0 && watched+every < o.WatchMS {
		if !e.sleepSim(ctx, time.Duration(every)*time.Millisecond) {
			return
		}
		watched += every
		if err := e.client.events(ctx, p.token, newEvent(it.ID, feed.EventProgress, pos, watched)); err != nil && ctx.Err() == nil {
			e.rec.fail(err)
		}
	}
	if !e.sleepSim(ctx, time.Duration(o.WatchMS-watched)*time.Millisecond) {
		return
	}
	end := newEvent(it.ID, feed.EventSkip, pos, o.WatchMS)
	if o.Complete {
		end.Type = feed.EventComplete
	}
	evs := []event{end}
	for _, did := range []struct {
		ok  bool
		typ feed.EventType
	}{{o.Liked, feed.EventLike}, {o.Shared, feed.EventShare}, {o.Followed, feed.EventFollow}, {o.NotInterested, feed.EventNotInterested}} {
		if did.ok {
			evs = append(evs, newEvent(it.ID, did.typ, pos, 0))
		}
	}
	if err := e.client.events(ctx, p.token, evs...); err != nil && ctx.Err() == nil {
		e.rec.fail(err)
	}
	if o.Followed {
		if err := e.client.follow(ctx, p.token, it.Creator.Handle); err != nil && ctx.Err() == nil {
			e.rec.fail(err)
		}
		p.follows[v.CreatorID] = true
	}
}

type errUnknownVideo string

func (e errUnknownVideo) Error() string {
	return "e2e: the feed served " + string(e) + ", not a video of the world"
}
