package main

import (
	"encoding/base32"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reelay/reelay/recommender"
)

// ErrCSV reports a replay file that is not a valid interaction log.
var ErrCSV = errors.New("swipesim: invalid replay CSV")

// row is one line of a replay file.
type row struct {
	User, Item string
	At         time.Time
	Weight     float64
}

// maxUnix is the last second of year 9999: later timestamps are typos.
const maxUnix = 253402300799

// parseCSV reads a replay file: the header "user,item,timestamp,weight", then one interaction
// a line, timestamp in Unix seconds (a decimal fraction allowed), weight a finite number.
// An error names the line.
func parseCSV(r io.Reader) ([]row, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 4
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%w: empty file, want the header user,item,timestamp,weight", ErrCSV)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCSV, err)
	}
	want := []string{"user", "item", "timestamp", "weight"}
	for i, h := range head {
		if !strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")), want[i]) {
			return nil, fmt.Errorf("%w: line 1: header %q, want user,item,timestamp,weight", ErrCSV, strings.Join(head, ","))
		}
	}
	var rows []row
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCSV, err)
		}
		line, _ := cr.FieldPos(0)
		bad := func(field, msg string, v string) error {
			return fmt.Errorf("%w: line %d: %s %q: %s", ErrCSV, line, field, v, msg)
		}
		user, item := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
		if user == "" {
			return nil, bad("user", "empty", rec[0])
		}
		if item == "" {
			return nil, bad("item", "empty", rec[1])
		}
		ts, err := strconv.ParseFloat(strings.TrimSpace(rec[2]), 64)
		if err != nil || math.IsNaN(ts) || ts < 0 || ts > maxUnix {
			return nil, bad("timestamp", "want Unix seconds from 0 to 253402300799", rec[2])
		}
		w, err := strconv.ParseFloat(strings.TrimSpace(rec[3]), 64)
		if err != nil || math.IsNaN(w) || math.IsInf(w, 0) {
			return nil, bad("weight", "want a finite number", rec[3])
		}
		sec, frac := math.Modf(ts)
		rows = append(rows, row{
			User: user, Item: item, Weight: w,
			At: time.Unix(int64(sec), int64(math.Round(frac*1e3))*1e6).UTC(),
		})
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%w: no interactions after the header", ErrCSV)
	}
	return rows, nil
}

// replayDurationMS is the duration a replayed item is given: a log without durations is
// replayed as videos of the simulator's median length.
const replayDurationMS = 15000

// replayLog turns a replay file's rows into a log. Users get ids 1, 2, ... in the order of
// their first line; items become videos with a made-up valid id, a creator of their own (ids
// after the users', so that the recommender's creator rules do not tie unrelated items), no
// tags, replayDurationMS, and a publication time at their first interaction.
//
// A weight w, against the threshold t (positive = w ≥ t), becomes the watch ratio
// min(1, 0.8·w/t), floored at 0: a positive is a view of at least 0.8, like the simulator's. A
// ratio reaching 1 (w ≥ 1.25·t) is a complete view and a like.
func replayLog(rows []row, threshold float64) *Log {
	lg := &Log{}
	users := map[string]int64{}
	items := map[string]int{}
	var first []time.Time
	for _, r := range rows {
		if _, ok := users[r.User]; !ok {
			users[r.User] = int64(len(users) + 1)
		}
		i, ok := items[r.Item]
		if !ok {
			i = len(items)
			items[r.Item] = i
			first = append(first, r.At)
		}
		first[i] = minTime(first[i], r.At)
	}
	creators := int64(len(users))
	lg.Videos = make([]recommender.Video, len(items))
	for i := range lg.Videos {
		lg.Videos[i] = recommender.Video{
			ID: replayID(i), Creator: creators + 1 + int64(i), DurationMS: replayDurationMS, Published: first[i],
		}
	}
	for _, r := range rows {
		ratio := max(0, min(1, 0.8*r.Weight/threshold))
		lg.Interactions = append(lg.Interactions, Interaction{
			User: users[r.User], Item: items[r.Item], At: r.At, Ratio: ratio,
			Positive: r.Weight >= threshold, Liked: r.Weight >= 1.25*threshold,
		})
	}
	sortInteractions(lg.Interactions)
	// Catalogue order is by publication, as the evaluator's cut at the split wants.
	order := make([]int, len(lg.Videos))
	byTime := make([]int, len(lg.Videos))
	for i := range byTime {
		byTime[i] = i
	}
	slices.SortStableFunc(byTime, func(a, b int) int { return first[a].Compare(first[b]) })
	videos := make([]recommender.Video, len(lg.Videos))
	for newIdx, old := range byTime {
		order[old] = newIdx
		videos[newIdx] = lg.Videos[old]
	}
	lg.Videos = videos
	for i := range lg.Interactions {
		lg.Interactions[i].Item = order[lg.Interactions[i].Item]
	}
	return lg
}

// replayID makes the video id of the i-th item: a valid reelay id (26 base32 characters) whose
// first characters differ between items (the recommender may match seen ids by prefix).
func replayID(i int) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], uint64(i)*0x9e3779b97f4a7c15)
	binary.BigEndian.PutUint64(b[8:], uint64(i))
	return idEncoding.EncodeToString(b[:])
}

// idEncoding is reelay's video id alphabet (internal/videoid).
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
