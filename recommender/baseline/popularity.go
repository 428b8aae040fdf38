package baseline

// Popularity scores each item by the sum of its weights over all users: the same list for
// everyone.
type Popularity struct {
	counts []float64
}

// FitPopularity counts d.
func FitPopularity(d *Data) (*Popularity, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	p := &Popularity{counts: make([]float64, d.Items)}
	for _, row := range d.Rows {
		for _, e := range row {
			p.counts[e.Item] += e.Weight
		}
	}
	return p, nil
}

// Score copies the items' popularity.
func (p *Popularity) Score(_ int, dst []float64) { copy(dst, p.counts) }
