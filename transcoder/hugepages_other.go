//go:build !linux

package transcoder

func disableHugePages() error { return nil }

func hugePagesDisabled() (bool, error) { return true, nil }
