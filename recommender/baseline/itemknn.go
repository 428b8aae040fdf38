package baseline

import (
	"cmp"
	"math"
	"slices"
)

// ItemKNN is item-based collaborative filtering: the similarity of two items is the cosine
// of their columns of the user×item matrix, each item keeps its Neighbours most similar
// items, and a user's score for item j is the sum, over the items i of their history, of
// weight(u,i)·sim(i,j) for the j among i's neighbours.
type ItemKNN struct {
	data *Data
	// neighbours[i] are i's nearest items with their similarity, most similar first.
	neighbours [][]neighbour
}

type neighbour struct {
	item int
	sim  float64
}

// DefaultNeighbours is the number of neighbours FitItemKNN keeps when asked for 0.
const DefaultNeighbours = 100

// FitItemKNN computes the similarities of d's items and keeps each item's k nearest
// (DefaultNeighbours when k <= 0).
func FitItemKNN(d *Data, k int) (*ItemKNN, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	if k <= 0 {
		k = DefaultNeighbours
	}
	// Columns: the users of each item, and each item's norm.
	cols := make([][]Entry, d.Items) // Entry.Item holds the user here
	norm := make([]float64, d.Items)
	for u, row := range d.Rows {
		for _, e := range row {
			cols[e.Item] = append(cols[e.Item], Entry{u, e.Weight})
			norm[e.Item] += e.Weight * e.Weight
		}
	}
	m := &ItemKNN{data: d, neighbours: make([][]neighbour, d.Items)}
	dot := make([]float64, d.Items)
	var touched []int
	for i := range d.Items {
		touched = touched[:0]
		for _, ue := range cols[i] {
			for _, e := range d.Rows[ue.Item] {
				if e.Item == i {
					continue
				}
				if dot[e.Item] == 0 {
					touched = append(touched, e.Item)
				}
				dot[e.Item] += ue.Weight * e.Weight
			}
		}
		var ns []neighbour
		for _, j := range touched {
			if dot[j] != 0 {
				ns = append(ns, neighbour{j, dot[j] / math.Sqrt(norm[i]*norm[j])})
			}
			dot[j] = 0
		}
		slices.SortFunc(ns, func(a, b neighbour) int {
			if c := cmp.Compare(b.sim, a.sim); c != 0 {
				return c
			}
			return cmp.Compare(a.item, b.item)
		})
		m.neighbours[i] = ns[:min(k, len(ns))]
	}
	return m, nil
}

// Score sums the user's items' neighbours.
func (m *ItemKNN) Score(user int, dst []float64) {
	clear(dst)
	for _, e := range m.data.Rows[user] {
		for _, n := range m.neighbours[e.Item] {
			dst[n.item] += e.Weight * n.sim
		}
	}
}
