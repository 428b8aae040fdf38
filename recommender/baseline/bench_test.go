package baseline

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// randomData returns users×items with about perUser random items each.
func randomData(users, items, perUser int) *Data {
	rng := rand.New(rand.NewPCG(1, 2))
	d := NewData(users, items)
	for u := range users {
		for range perUser {
			d.Add(u, rng.IntN(items), 1)
		}
	}
	return d
}

func BenchmarkFitEASE(b *testing.B) {
	for _, items := range []int{500, 2000} {
		d := randomData(2000, items, 20)
		b.Run(strconv.Itoa(items), func(b *testing.B) {
			for b.Loop() {
				if _, err := FitEASE(d, 0, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkFitItemKNN(b *testing.B) {
	d := randomData(2000, 2000, 20)
	for b.Loop() {
		if _, err := FitItemKNN(d, 0); err != nil {
			b.Fatal(err)
		}
	}
}
