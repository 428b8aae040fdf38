//go:build !linux

package main

func disableHugePages() error { return nil }

func hugePagesDisabled() (bool, error) { return true, nil }
