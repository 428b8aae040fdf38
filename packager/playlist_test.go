package packager

import (
	"slices"
	"testing"
	"time"
)

func TestBitrates(t *testing.T) {
	sec := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	for _, tc := range []struct {
		name          string
		spans         []span
		td            int
		peak, average int
	}{
		{"even", []span{{250_000, sec(2)}, {250_000, sec(2)}}, 2, 1_000_000, 1_000_000},
		{"one heavy segment", []span{{250_000, sec(2)}, {500_000, sec(2)}, {250_000, sec(2)}}, 2, 2_000_000, 1_333_334},
		// A short last segment counts only together with its neighbour: (250000+50000)*8/2.1.
		{"short tail", []span{{250_000, sec(2)}, {250_000, sec(2)}, {50_000, sec(0.1)}}, 2, 1_142_858, 1_073_171},
		// The window's ends are included (target 2 s: runs of 1 s to 3 s). A heavy 1 s segment
		// is measured alone: 250000*8/1.
		{"run of half the target", []span{{250_000, sec(2)}, {250_000, sec(2)}, {250_000, sec(1)}}, 2, 2_000_000, 1_200_000},
		// Just under 1 s, it is measured only with its neighbour: 500000*8/2.999999999.
		{"run under half the target", []span{{250_000, sec(2)}, {250_000, sec(2)}, {250_000, sec(1) - 1}}, 2, 1_333_334, 1_200_001},
		// A heavy 0.5 s tail counts only with its neighbour, a run of exactly 3 s: 350000*8/3.
		{"run of 1.5 times the target", []span{{25_000, sec(2.5)}, {250_000, sec(2.5)}, {100_000, sec(0.5)}}, 2, 933_334, 545_455},
		// One nanosecond more and that run is too long: the 2.5 s segment alone, 250000*8/2.5.
		{"run over 1.5 times the target", []span{{25_000, sec(2.5)}, {250_000, sec(2.5) + 1}, {100_000, sec(0.5)}}, 2, 800_000, 545_455},
		// Too short for any run: the peak falls back to the average.
		{"tiny video", []span{{10_000, sec(0.3)}}, 1, 266_667, 266_667},
		{"nothing", nil, 1, 0, 0},
	} {
		peak, avg := bitrates(tc.spans, tc.td)
		if peak != tc.peak || avg != tc.average {
			t.Errorf("%s: peak %d average %d, want %d %d", tc.name, peak, avg, tc.peak, tc.average)
		}
	}
}

func TestTargetDuration(t *testing.T) {
	for _, tc := range []struct {
		ds   []time.Duration
		want int
	}{
		{[]time.Duration{2 * time.Second, 2 * time.Second, time.Second}, 2},
		{[]time.Duration{2499 * time.Millisecond}, 2},
		{[]time.Duration{2500 * time.Millisecond}, 3},
		{[]time.Duration{100 * time.Millisecond}, 1},
	} {
		if got := targetDuration(tc.ds); got != tc.want {
			t.Errorf("targetDuration(%v) = %d, want %d", tc.ds, got, tc.want)
		}
	}
}

func TestOrderVariants(t *testing.T) {
	vs := func(bws ...int) []variant {
		var out []variant
		for _, b := range bws {
			out = append(out, variant{bandwidth: b})
		}
		return out
	}
	bws := func(vs []variant) []int {
		var out []int
		for _, v := range vs {
			out = append(out, v.bandwidth)
		}
		return out
	}
	ladder := vs(5_000_000, 400_000, 2_500_000, 1_200_000)
	for _, tc := range []struct {
		start int
		want  []int
	}{
		{1_500_000, []int{1_200_000, 400_000, 2_500_000, 5_000_000}},
		{10_000_000, []int{5_000_000, 400_000, 1_200_000, 2_500_000}},
		{100, []int{400_000, 1_200_000, 2_500_000, 5_000_000}},
		{-1, []int{400_000, 1_200_000, 2_500_000, 5_000_000}},
	} {
		if got := bws(orderVariants(ladder, tc.start)); !slices.Equal(got, tc.want) {
			t.Errorf("start %d: %v, want %v", tc.start, got, tc.want)
		}
	}
}
