package edge

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestMembersMetrics scrapes reelay_edge_members on a node of a cluster of three, whole, then
// after one node left gracefully and another died.
func TestMembersMetrics(t *testing.T) {
	o := newTestOrigin(t)
	nodes := startCluster(t, 3, o.URL)
	watcher := nodes[0]
	members := func() string {
		_, body := do(t, "GET", watcher.url+"/metrics", "Authorization", "Bearer "+testMetricsToken)
		var lines []string
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, "reelay_edge_members{") {
				lines = append(lines, l)
			}
		}
		return strings.Join(lines, "\n")
	}
	want := func(alive, dead, left int) string {
		return fmt.Sprintf("reelay_edge_members{state=\"alive\"} %d\nreelay_edge_members{state=\"dead\"} %d\nreelay_edge_members{state=\"left\"} %d",
			alive, dead, left)
	}
	if got := members(); got != want(3, 0, 0) {
		t.Fatalf("whole cluster:\n%s\nwant\n%s", got, want(3, 0, 0))
	}

	// One dies (its gossip stops without a word), then another leaves (its Run ends). The
	// death first: two survivors agree on it sooner than one alone would.
	if err := nodes[2].cluster.Close(); err != nil {
		t.Fatal(err)
	}
	var got string
	waitFor(t, 20*time.Second, "one member dead", func() bool { got = members(); return got == want(2, 1, 0) })
	nodes[1].stop()
	waitFor(t, 10*time.Second, "one member dead and one left", func() bool { got = members(); return got == want(1, 1, 1) })
}
