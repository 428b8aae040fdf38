package main

import (
	"flag"
	"testing"
)

// How this package's tests share the machine. Most of its time goes on tests that wait: for
// gossip to converge, a lease to expire, a body timeout, a scrape, a child process, a short
// clip to play in Chromium; a few others keep a core or two busy (a transcode of many seconds
// of video, with or without Chromium playing it). The waiting tests run a few at a time,
// alongside the busy ones, which run one at a time; the tests that set environment variables
// or fixed ports, and those not sorted yet, stay serial (and run before all of these, as
// `go test` runs serial tests first). Which is which was measured (user+sys CPU against wall
// time, each test alone): a waiting test uses well under half a core.
//
// A test that calls waitingTest or busyTest must use only ports it got from the kernel (":0"
// or testenv.FreePort), its own t.TempDir, databases and buckets, and no t.Setenv.
var (
	waitingSlots = make(chan struct{}, 3)
	busySlots    = make(chan struct{}, 1)
)

// waitingTest runs t in parallel with the other waiting tests (three at a time) and with one
// busy test: t spends its time waiting on timers and servers, not on the CPU.
func waitingTest(t *testing.T) {
	t.Helper()
	parallelIn(t, waitingSlots)
}

// busyTest runs t in parallel with the waiting tests but alone among the busy ones: t runs a
// long transcode (or several processes that work), and two of those at a time would starve
// each other, and the transcode holds of the progressive tests, on a small machine.
func busyTest(t *testing.T) {
	t.Helper()
	parallelIn(t, busySlots)
}

// parallelIn marks t parallel and holds one of slots until t and its cleanups are done (the
// cleanup registered first runs last).
func parallelIn(t *testing.T, slots chan struct{}) {
	t.Helper()
	t.Parallel()
	slots <- struct{}{}
	t.Cleanup(func() { <-slots })
}

// parallelFlag lifts -test.parallel, unless the command line sets it, above the number of this
// package's parallel tests: waitingSlots and busySlots decide how many run at once. The default
// (GOMAXPROCS, two on a small machine) would let two busy tests, waiting for their one slot,
// hold back every waiting test.
func parallelFlag() {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", "64")
	}
}
