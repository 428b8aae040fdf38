package edge

import "github.com/reelay/reelay/cluster"

// Picker is what the edge needs of its cluster: which node fills a key given the fills in
// flight, which node to try when that one does not answer, and who the members are.
// *cluster.Cluster is one.
//
// The loads a Picker counts are this node's view of the fills it routes: those it sent to each
// member and, against itself, the fetches from the origin it runs for its own requests. The
// fetches it runs for other nodes count in theirs.
type Picker interface {
	// Self returns this node.
	Self() cluster.Member
	// Acquire returns the member that fills key, the first clockwise from the key that is
	// below its load bound, and counts one more fill against it until release is called.
	Acquire(key string) (owner cluster.Member, release func())
	// AcquireNode counts one more fill against the member called name, whatever its bound,
	// until release is called.
	AcquireNode(name string) (release func())
	// Owners returns up to n distinct live members for key, best first: the ones to try when
	// the member that Acquire chose does not answer.
	Owners(key string, n int) []cluster.Member
	// Members returns every member known, live or not, for stats and purges.
	Members() []cluster.Member
	// Loads returns the fills in flight counted against each live member, by name.
	Loads() map[string]int64
}

var _ Picker = (*cluster.Cluster)(nil)
