package edge

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/reelay/reelay/cluster"
)

// membersMetrics exports reelay_edge_members{state}: how many members of the cluster this node
// sees in each state (alive, dead, left), read from its Picker when scraped. Every state is
// exported, 0 when no member is in it, so that an alert on dead members always has a series.
// The cluster keeps a member that died or left for ten minutes (cluster.Cluster.Members), so a
// death shows as dead for that long, then no more.
type membersMetrics struct {
	picker Picker
	desc   *prometheus.Desc
}

func newMembersMetrics(p Picker) *membersMetrics {
	return &membersMetrics{picker: p, desc: prometheus.NewDesc("reelay_edge_members",
		"Members of the edge cluster as this node sees them, by state (alive, dead, left); the dead and left for ten minutes.",
		[]string{"state"}, nil)}
}

// Describe implements prometheus.Collector.
func (m *membersMetrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.desc }

// Collect implements prometheus.Collector.
func (m *membersMetrics) Collect(ch chan<- prometheus.Metric) {
	counts := map[cluster.State]int{}
	for _, mb := range m.picker.Members() {
		counts[mb.State]++
	}
	for _, s := range []cluster.State{cluster.StateAlive, cluster.StateDead, cluster.StateLeft} {
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.GaugeValue, float64(counts[s]), s.String())
	}
}

var _ prometheus.Collector = (*membersMetrics)(nil)
