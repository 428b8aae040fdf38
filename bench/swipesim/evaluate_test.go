package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/reelay/reelay/bench/swipesim/world"
)

func TestMetrics(t *testing.T) {
	pos := map[int]bool{3: true, 7: true}
	for _, tc := range []struct {
		name         string
		list         []int
		ndcg, recall float64
	}{
		{"perfect", []int{7, 3, 1}, 1, 1},
		{"second and fourth", []int{1, 3, 2, 7}, (1/math.Log2(3) + 1/math.Log2(5)) / (1 + 1/math.Log2(3)), 1},
		{"one hit first", []int{3, 1}, 1 / (1 + 1/math.Log2(3)), 0.5},
		{"none", []int{1, 2}, 0, 0},
		{"empty", nil, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ndcg(tc.list, pos, 10); math.Abs(got-tc.ndcg) > 1e-12 {
				t.Errorf("ndcg = %g, want %g", got, tc.ndcg)
			}
			if got := recall(tc.list, pos, 50); math.Abs(got-tc.recall) > 1e-12 {
				t.Errorf("recall = %g, want %g", got, tc.recall)
			}
		})
	}
	// Positives beyond the cut-off: a full list of positives is perfect.
	many := map[int]bool{}
	var list []int
	for i := range 60 {
		many[i] = true
		list = append(list, i)
	}
	if ndcg(list, many, 10) != 1 || recall(list, many, 50) != 1 {
		t.Errorf("a list of positives scores %g, %g, want 1, 1", ndcg(list, many, 10), recall(list, many, 50))
	}
}

// TestReplayPlanted evaluates a CSV log with a planted answer. Users 1-4 each saw "x" and three
// items of their own, then (held out) "hit". Users 5-10 saw "hit", "x" and two items of their
// own, then (held out) a third, disliked. So "hit" is the most popular item that users 1-4
// have not seen, and x's nearest item: popularity and item-kNN must both put it first, for an
// NDCG@10 and a Recall@50 of exactly 1 over the 4 users evaluated.
func TestReplayPlanted(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("user,item,timestamp,weight\n")
	t0 := int64(1_700_000_000)
	for u := 1; u <= 10; u++ {
		items := []string{"x", fmt.Sprintf("u%d-a", u), fmt.Sprintf("u%d-b", u), fmt.Sprintf("u%d-c", u), "hit"}
		weights := []float64{1, 1, 1, 1, 1}
		if u > 4 {
			items = []string{"hit", "x", fmt.Sprintf("u%d-a", u), fmt.Sprintf("u%d-b", u), fmt.Sprintf("u%d-c", u)}
			weights[4] = 0.1
		}
		for i, item := range items {
			fmt.Fprintf(&b, "user%d,%s,%d,%g\n", u, item, t0+int64(i*60+u), weights[i])
		}
	}
	path := filepath.Join(t.TempDir(), "planted.csv")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := parseCSV(f)
	if err != nil {
		t.Fatal(err)
	}
	res, err := evaluate(replayLog(rows, 0.8), evalOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Users != 4 || res.Positives != 4 || res.HeldOut != 10 || res.History != 40 {
		t.Fatalf("evaluated %d users, %d positives, %d held out, %d history; want 4, 4, 10, 40",
			res.Users, res.Positives, res.HeldOut, res.History)
	}
	for _, name := range []string{"popularity", "itemknn"} {
		if res.NDCG10[name] != 1 || res.Recall50[name] != 1 {
			t.Errorf("%s: NDCG@10 %g, Recall@50 %g, want 1 and 1", name, res.NDCG10[name], res.Recall50[name])
		}
	}
	for _, name := range contenders {
		if v := res.NDCG10[name]; !(v >= 0 && v <= 1) {
			t.Errorf("%s: NDCG@10 %g out of [0, 1]", name, v)
		}
		if v := res.Recall50[name]; !(v >= 0 && v <= 1) {
			t.Errorf("%s: Recall@50 %g out of [0, 1]", name, v)
		}
	}
	for _, name := range references {
		if _, ok := res.NDCG10[name]; ok {
			t.Errorf("a replayed log without hashtags has no %s contender", name)
		}
	}
	t.Logf("NDCG@10 %v", res.NDCG10)
}

func TestSimulatorIsSeeded(t *testing.T) {
	cfg := world.Config{Seed: 4, Users: 50, Videos: 100, Uploads: 6 * time.Hour}
	a := simulate(world.New(cfg), simConfig{Hours: 6})
	b := simulate(world.New(cfg), simConfig{Hours: 6})
	if len(a.Interactions) < 500 || !reflect.DeepEqual(a.Interactions, b.Interactions) {
		t.Fatalf("two runs of seed 4 gave %d and %d interactions, or different ones", len(a.Interactions), len(b.Interactions))
	}
	seen := map[[2]int64]bool{}
	for i, in := range a.Interactions {
		if i > 0 && in.At.Before(a.Interactions[i-1].At) {
			t.Fatalf("interaction %d is before the one it follows", i)
		}
		if in.At.Before(a.Videos[in.Item].Published) {
			t.Fatalf("interaction %d with a video before it was published", i)
		}
		k := [2]int64{in.User, int64(in.Item)}
		if seen[k] {
			t.Fatalf("user %d saw video %d twice", in.User, in.Item)
		}
		seen[k] = true
	}
}

// TestSimulatorRanksTaste runs the evaluator on a small world: the oracle, which knows the
// tastes, must beat the random contender by far, and the learned baselines must beat it too.
func TestSimulatorRanksTaste(t *testing.T) {
	w := world.New(world.Config{Seed: 2, Users: 300, Videos: 300, Uploads: 12 * time.Hour})
	res, err := evaluate(simulate(w, simConfig{Hours: 12}), evalOptions{Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Users < 100 {
		t.Fatalf("only %d users evaluated", res.Users)
	}
	if res.NDCG10["oracle"] < 3*res.NDCG10["random"] {
		t.Errorf("oracle NDCG@10 %g, random %g: the world's tastes carry no signal", res.NDCG10["oracle"], res.NDCG10["random"])
	}
	for _, name := range []string{"itemknn", "ease", "hashtags"} {
		if res.NDCG10[name] <= res.NDCG10["random"] {
			t.Errorf("%s NDCG@10 %g, no better than random (%g)", name, res.NDCG10[name], res.NDCG10["random"])
		}
	}
	t.Logf("NDCG@10 %v", res.NDCG10)
}

func TestOutputJSON(t *testing.T) {
	out := Output{Seed: 1, Source: "simulator", Offline: &Offline{
		NDCG10:   map[string]float64{"reelay": 0.1, "random": 0, "popularity": 0, "itemknn": 0, "ease": 0},
		Recall50: map[string]float64{"reelay": 0.2, "random": 0, "popularity": 0, "itemknn": 0, "ease": 0},
	}}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Seed    *int64 `json:"seed"`
		Offline struct {
			NDCG10   map[string]float64 `json:"ndcg10"`
			Recall50 map[string]float64 `json:"recall50"`
		} `json:"offline"`
		E2E json.RawMessage `json:"e2e"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Seed == nil || *got.Seed != 1 || string(got.E2E) != "null" ||
		got.Offline.NDCG10["reelay"] != 0.1 || got.Offline.Recall50["reelay"] != 0.2 || len(got.Offline.NDCG10) != 5 {
		t.Errorf("JSON %s", b)
	}
}
