package main

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/videoid"
)

var parseCases = []struct {
	name  string
	in    string
	rows  int
	error string // a substring of the error; "" for none
}{
	{"one row", "user,item,timestamp,weight\n1,10,1700000000,0.9\n", 1, ""},
	{"header in any case, spaces, BOM", "\ufeffUser, Item ,TIMESTAMP,weight\r\na,b,1700000000.5,-1\nc,d,0,4e0\n", 2, ""},
	{"quoted fields", "user,item,timestamp,weight\n\"u,1\",\"i\",\"12\",\"1\"\n", 1, ""},
	{"empty file", "", 0, "empty file"},
	{"wrong header", "userId,movieId,rating,timestamp\n1,2,3,4\n", 0, "line 1: header"},
	{"header only", "user,item,timestamp,weight\n", 0, "no interactions"},
	{"three fields", "user,item,timestamp,weight\n1,2,3,4\n1,2,3\n", 0, "line 3"},
	{"empty user", "user,item,timestamp,weight\n1,2,3,4\n ,2,3,4\n", 0, "line 3: user"},
	{"empty item", "user,item,timestamp,weight\n1,,3,4\n", 0, "line 2: item"},
	{"timestamp not a number", "user,item,timestamp,weight\n1,2,2024-01-01,4\n", 0, "line 2: timestamp"},
	{"negative timestamp", "user,item,timestamp,weight\n1,2,-5,4\n", 0, "line 2: timestamp"},
	{"timestamp past 9999", "user,item,timestamp,weight\n1,2,1e12,4\n", 0, "line 2: timestamp"},
	{"weight NaN", "user,item,timestamp,weight\n1,2,3,NaN\n", 0, "line 2: weight"},
	{"weight infinite", "user,item,timestamp,weight\n1,2,3,+Inf\n", 0, "line 2: weight"},
	{"weight empty", "user,item,timestamp,weight\n1,2,3,\n", 0, "line 2: weight"},
	{"bare quote", "user,item,timestamp,weight\n1,2\"x,3,4\n", 0, "line 2"},
}

func TestParseCSV(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := parseCSV(strings.NewReader(tc.in))
			if tc.error != "" {
				if err == nil || !errors.Is(err, ErrCSV) || !strings.Contains(err.Error(), tc.error) {
					t.Fatalf("error %v, want ErrCSV with %q", err, tc.error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != tc.rows {
				t.Fatalf("%d rows, want %d", len(rows), tc.rows)
			}
		})
	}
	rows, err := parseCSV(strings.NewReader("user,item,timestamp,weight\n u7 ,i9,1700000000.25,0.5\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := row{User: "u7", Item: "i9", At: time.Unix(1700000000, 250e6).UTC(), Weight: 0.5}
	if rows[0] != want {
		t.Errorf("row %+v, want %+v", rows[0], want)
	}
}

func FuzzParseCSV(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		rows, err := parseCSV(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrCSV) {
				t.Fatalf("error %v is not ErrCSV", err)
			}
			return
		}
		if len(rows) == 0 {
			t.Fatal("no rows and no error")
		}
		for _, r := range rows {
			if r.User == "" || r.Item == "" || math.IsNaN(r.Weight) || math.IsInf(r.Weight, 0) || r.At.Unix() < 0 || r.At.Unix() > maxUnix {
				t.Fatalf("invalid row accepted: %+v", r)
			}
		}
		lg := replayLog(rows, 0.8)
		if len(lg.Interactions) != len(rows) {
			t.Fatalf("%d interactions of %d rows", len(lg.Interactions), len(rows))
		}
	})
}

func TestReplayWeights(t *testing.T) {
	rows := []row{
		{User: "a", Item: "x", Weight: 5.0 / 5}, // 5 stars
		{User: "a", Item: "y", Weight: 4.0 / 5}, // 4 stars
		{User: "a", Item: "z", Weight: 3.0 / 5},
		{User: "a", Item: "w", Weight: -1},
	}
	for i := range rows {
		rows[i].At = time.Unix(int64(100+i), 0)
	}
	lg := replayLog(rows, 0.8)
	for i, want := range []struct {
		ratio           float64
		positive, liked bool
	}{{1, true, true}, {0.8, true, false}, {0.6, false, false}, {0, false, false}} {
		in := lg.Interactions[i]
		if math.Abs(in.Ratio-want.ratio) > 1e-9 || in.Positive != want.positive || in.Liked != want.liked {
			t.Errorf("weight %g: ratio %g positive %v liked %v, want %+v", rows[i].Weight, in.Ratio, in.Positive, in.Liked, want)
		}
		if v := lg.Videos[in.Item]; v.Creator <= 1 || !videoid.Valid(v.ID) || !v.Published.Equal(rows[i].At) {
			t.Errorf("item %s became %+v", rows[i].Item, v)
		}
	}
}
