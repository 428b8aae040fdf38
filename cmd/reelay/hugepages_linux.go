package main

import "golang.org/x/sys/unix"

// disableHugePages turns transparent huge pages off for the whole process (PR_SET_THP_DISABLE).
func disableHugePages() error { return unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0) }

// hugePagesDisabled reports whether transparent huge pages are off for the process.
func hugePagesDisabled() (bool, error) {
	n, err := unix.PrctlRetInt(unix.PR_GET_THP_DISABLE, 0, 0, 0, 0)
	return n == 1, err
}
