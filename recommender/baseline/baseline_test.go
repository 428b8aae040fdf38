package baseline

import (
	"errors"
	"math"
	"slices"
	"testing"
)

// tiny returns a history given as each user's items, all of weight 1.
func tiny(items int, rows ...[]int) *Data {
	d := NewData(len(rows), items)
	for u, row := range rows {
		for _, i := range row {
			d.Add(u, i, 1)
		}
	}
	return d
}

func TestTopK(t *testing.T) {
	scores := []float64{0.5, 2, math.Inf(-1), 2, math.NaN(), 1}
	for _, tc := range []struct {
		name string
		k    int
		skip func(int) bool
		want []int
	}{
		{"all, ties to the lower index", 10, nil, []int{1, 3, 5, 0}},
		{"top two", 2, nil, []int{1, 3}},
		{"skipping", 2, func(i int) bool { return i == 1 }, []int{3, 5}},
		{"none", 0, nil, []int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := TopK(scores, tc.k, tc.skip); !slices.Equal(got, tc.want) {
				t.Errorf("TopK = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRandom(t *testing.T) {
	r := Random{Seed: 1}
	seen := func(i int) bool { return i%2 == 0 }
	a := Recommend(r, 100, 3, 10, seen)
	if b := Recommend(r, 100, 3, 10, seen); !slices.Equal(a, b) {
		t.Fatalf("the same seed and user gave %v then %v", a, b)
	}
	if len(a) != 10 || slices.ContainsFunc(a, seen) {
		t.Fatalf("Recommend = %v: want 10 odd items", a)
	}
	if c := Recommend(r, 100, 4, 10, seen); slices.Equal(a, c) {
		t.Fatalf("users 3 and 4 got the same list %v", a)
	}
}

func TestPopularity(t *testing.T) {
	d := tiny(4, []int{0, 2}, []int{0, 2}, []int{0, 1}, []int{3})
	p, err := FitPopularity(d)
	if err != nil {
		t.Fatal(err)
	}
	if got := Recommend(p, 4, 3, 4, nil); !slices.Equal(got, []int{0, 2, 1, 3}) {
		t.Errorf("Recommend = %v, want [0 2 1 3]", got)
	}
	seen := func(i int) bool { return i == 0 }
	if got := Recommend(p, 4, 3, 2, seen); !slices.Equal(got, []int{2, 1}) {
		t.Errorf("Recommend without item 0 = %v, want [2 1]", got)
	}
}

func TestItemKNN(t *testing.T) {
	// Items 0 and 1 go together, 2 and 3 go together; user 4 has only item 0.
	d := tiny(4, []int{0, 1}, []int{0, 1}, []int{2, 3}, []int{1, 2}, []int{0})
	m, err := FitItemKNN(d, 10)
	if err != nil {
		t.Fatal(err)
	}
	scores := make([]float64, 4)
	m.Score(4, scores)
	// cos(0,1) = 2/(√3·√3); item 0 shares no user with 2 or 3.
	want := []float64{0, 2.0 / 3, 0, 0}
	for i := range want {
		if math.Abs(scores[i]-want[i]) > 1e-12 {
			t.Errorf("score of item %d = %g, want %g", i, scores[i], want[i])
		}
	}
	// User 3 (items 1 and 2): item 0 through 1 (2/3), item 3 through 2 (1/√2·... = 1/√2).
	m.Score(3, scores)
	if w := 1 / math.Sqrt(2); math.Abs(scores[3]-w) > 1e-12 || math.Abs(scores[0]-2.0/3) > 1e-12 {
		t.Errorf("scores of user 3 = %v, want item 0 at 2/3 and item 3 at %g", scores, w)
	}
	if got := Recommend(m, 4, 3, 2, func(i int) bool { return i == 1 || i == 2 }); !slices.Equal(got, []int{3, 0}) {
		t.Errorf("Recommend = %v, want [3 0]", got)
	}
	// One neighbour each: item 1 keeps only item 0 (2/3 beats 1/√3·... for item 2).
	m1, err := FitItemKNN(d, 1)
	if err != nil {
		t.Fatal(err)
	}
	if n := m1.neighbours[1]; len(n) != 1 || n[0].item != 0 {
		t.Errorf("item 1's one neighbour = %v, want item 0", n)
	}
}

func TestEASE(t *testing.T) {
	// Two items: G = XᵀX + λI = [[3+λ, 2], [2, 2+λ]]; for 2×2, P = G⁻¹ gives
	// B₀₁ = -P₀₁/P₁₁ = G₀₁/G₀₀ and B₁₀ = G₁₀/G₁₁.
	// Users {0,1}, {0,1}, {0}, {1}: column counts 3 and 3, co-count 2.
	d := tiny(2, []int{0, 1}, []int{0, 1}, []int{0}, []int{1})
	const lambda = 1
	m, err := FitEASE(d, lambda, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.b.At(0, 1), 2.0/(3+lambda); math.Abs(got-want) > 1e-12 {
		t.Errorf("B₀₁ = %g, want %g", got, want)
	}
	if got, want := m.b.At(1, 0), 2.0/(3+lambda); math.Abs(got-want) > 1e-12 {
		t.Errorf("B₁₀ = %g, want %g", got, want)
	}
	if m.b.At(0, 0) != 0 || m.b.At(1, 1) != 0 {
		t.Errorf("B's diagonal = %g, %g, want 0", m.b.At(0, 0), m.b.At(1, 1))
	}
	scores := make([]float64, 2)
	m.Score(3, scores) // user 3 has item 1: item 0 scores B₁₀
	if want := 2.0 / 4; math.Abs(scores[0]-want) > 1e-12 {
		t.Errorf("user 3's score of item 0 = %g, want %g", scores[0], want)
	}
}

// TestEASEFourItems checks the closed form against its defining property: with
// G = XᵀX + λI, G·(I - B) is diagonal (B = I - P·diag(1/diag P) gives G·(I-B) = diag(1/diag P)).
func TestEASEFourItems(t *testing.T) {
	d := tiny(4, []int{0, 1}, []int{0, 1, 2}, []int{1, 2}, []int{2, 3}, []int{0, 3})
	const lambda = 2
	m, err := FitEASE(d, lambda, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := len(m.items)
	if n != 4 {
		t.Fatalf("modelled %d items, want 4", n)
	}
	g := make([][]float64, n)
	for i := range g {
		g[i] = make([]float64, n)
		g[i][i] = lambda
	}
	for _, row := range d.Rows {
		for _, a := range row {
			for _, b := range row {
				g[a.Item][b.Item]++
			}
		}
	}
	for i := range n {
		for j := range n {
			s := 0.0
			for k := range n {
				ik := 0.0
				if k == j {
					ik = 1
				}
				s += g[i][k] * (ik - m.b.At(k, j))
			}
			if i != j && math.Abs(s) > 1e-9 {
				t.Errorf("(G(I-B))[%d][%d] = %g, want 0", i, j, s)
			}
		}
	}
}

func TestEASELimitsItems(t *testing.T) {
	// Items 0-4 have two users, 5-9 one: with room for 5, the last five are left out.
	d := tiny(10, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, []int{0, 1, 2, 3, 4})
	m, err := FitEASE(d, 0, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.items, []int{0, 1, 2, 3, 4}) {
		t.Fatalf("modelled items %v, want [0 1 2 3 4]", m.items)
	}
	scores := make([]float64, d.Items)
	m.Score(1, scores)
	for i := 5; i < 10; i++ {
		if !math.IsInf(scores[i], -1) {
			t.Errorf("item %d, outside the model, scores %g, want -Inf", i, scores[i])
		}
	}
	if got := Recommend(m, d.Items, 1, 10, nil); len(got) != 5 {
		t.Errorf("Recommend = %v, want the 5 modelled items", got)
	}
}

func TestInvalidData(t *testing.T) {
	bad := NewData(1, 2)
	bad.Rows[0] = []Entry{{5, 1}}
	if _, err := FitPopularity(bad); !errors.Is(err, ErrData) {
		t.Errorf("FitPopularity: %v, want ErrData", err)
	}
	if _, err := FitItemKNN(bad, 0); !errors.Is(err, ErrData) {
		t.Errorf("FitItemKNN: %v, want ErrData", err)
	}
	if _, err := FitEASE(bad, 0, 0); !errors.Is(err, ErrData) {
		t.Errorf("FitEASE: %v, want ErrData", err)
	}
}
