package baseline

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// EASE is Steck's embarrassingly shallow autoencoder ("Embarrassingly Shallow Autoencoders
// for Sparse Data", WWW 2019): an item×item weight matrix B with a zero diagonal, in closed
// form
//
//	P = (XᵀX + λI)⁻¹,  B = I - P·diag(1/diag(P))
//
// and a user's scores x_u·B. It inverts a dense n×n matrix (n³ time, n² memory), so it is
// fitted on at most maxItems items (MaxItems by default): the most popular ones when the
// history has more. The items left out score -Inf (Recommend never returns them).
type EASE struct {
	data  *Data
	items []int // the modelled items; items[k] is the history's index of B's row/column k
	pos   []int // the history's item index → B's index, or -1
	b     *mat.Dense
}

const (
	// DefaultLambda is EASE's L2 regularisation when FitEASE is given 0. Steck's datasets
	// used a few hundred; the simulator's histories, a few thousand users, want less.
	DefaultLambda = 100
	// MaxItems is the default bound on the items EASE models: 3,000 items take about 8 s of
	// one core and 144 MB (2,000: about 2.5 s).
	MaxItems = 3000
)

// FitEASE fits B on d with regularisation lambda (DefaultLambda when 0 or less), on the
// maxItems most popular items of d at most (MaxItems when 0 or less).
func FitEASE(d *Data, lambda float64, maxItems int) (*EASE, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	if lambda <= 0 {
		lambda = DefaultLambda
	}
	if maxItems <= 0 {
		maxItems = MaxItems
	}
	count := make([]float64, d.Items)
	for _, row := range d.Rows {
		for _, e := range row {
			count[e.Item]++
		}
	}
	var items []int
	for i, c := range count {
		if c > 0 {
			items = append(items, i)
		}
	}
	if len(items) > maxItems {
		slices.SortStableFunc(items, func(a, b int) int { return cmp.Compare(count[b], count[a]) })
		items = items[:maxItems]
		slices.Sort(items)
	}
	m := &EASE{data: d, items: items, pos: make([]int, d.Items)}
	for i := range m.pos {
		m.pos[i] = -1
	}
	for k, i := range items {
		m.pos[i] = k
	}
	n := len(items)
	if n == 0 {
		return m, nil
	}
	// G = XᵀX + λI over the modelled items.
	g := make([]float64, n*n)
	var row []Entry
	for _, r := range d.Rows {
		row = row[:0]
		for _, e := range r {
			if k := m.pos[e.Item]; k >= 0 {
				row = append(row, Entry{k, e.Weight})
			}
		}
		for _, a := range row {
			for _, b := range row {
				g[a.Item*n+b.Item] += a.Weight * b.Weight
			}
		}
	}
	for k := range n {
		g[k*n+k] += lambda
	}
	var chol mat.Cholesky
	if !chol.Factorize(mat.NewSymDense(n, g)) {
		return nil, fmt.Errorf("%w: XᵀX + λI is not positive definite (λ %g)", ErrData, lambda)
	}
	var p mat.SymDense
	if err := chol.InverseTo(&p); err != nil {
		return nil, fmt.Errorf("baseline: EASE: %w", err)
	}
	b := mat.NewDense(n, n, nil)
	for j := range n {
		pjj := p.At(j, j)
		for i := range n {
			if i != j {
				b.Set(i, j, -p.At(i, j)/pjj)
			}
		}
	}
	m.b = b
	return m, nil
}

// Score computes x_u·B; the items outside the model score -Inf.
func (m *EASE) Score(user int, dst []float64) {
	for i := range dst {
		dst[i] = math.Inf(-1)
	}
	n := len(m.items)
	if n == 0 {
		return
	}
	s := make([]float64, n)
	for _, e := range m.data.Rows[user] {
		k := m.pos[e.Item]
		if k < 0 {
			continue
		}
		r := m.b.RawRowView(k)
		for j, x := range r {
			s[j] += e.Weight * x
		}
	}
	for k, i := range m.items {
		dst[i] = s[k]
	}
}
