package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/reelay/reelay/internal/signedurl"
)

// signing is the key and lifetime of the signed playback URLs of private videos, for the
// tiers that hand them out (reelay up, reelay ingest). Edges check them with the same key.
type signing struct {
	key string // hex
	ttl time.Duration
}

func (s *signing) register(fs *flag.FlagSet, keyUsage string) {
	fs.StringVar(&s.key, "signing-key", "", keyUsage)
	fs.DurationVar(&s.ttl, "signed-url-ttl", signedurl.DefaultTTL, "how long the signed playback URL of a private video stays valid")
}

// validSigningKey reports whether key is empty or a signing key (signedurl.ParseKey).
func validSigningKey(key string) bool {
	_, err := signedurl.ParseKey(key)
	return err == nil
}

func (s *signing) validate() error {
	if !validSigningKey(s.key) {
		return usagef("invalid --signing-key: want at least %d bytes in hex", signedurl.MinKeyBytes)
	}
	if s.ttl < time.Minute || s.ttl > 30*24*time.Hour {
		return usagef("invalid --signed-url-ttl %v: want 1m to 720h", s.ttl)
	}
	return nil
}

// signer returns what signs a private video's playback URLs, nil without a key.
func (s *signing) signer() func(video string) string {
	key, _ := signedurl.ParseKey(s.key)
	if key == nil {
		return nil
	}
	return func(video string) string { return signedurl.Query(key, video, time.Now().Add(s.ttl)) }
}

// loadOrCreateKey returns the hex key in path, creating the file with a random 32-byte key when
// it does not exist, so that signed URLs outlive a restart of reelay up.
func loadOrCreateKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		key := strings.TrimSpace(string(b))
		if key == "" || !validSigningKey(key) {
			return "", fmt.Errorf("signing key %s: want at least %d bytes in hex", path, signedurl.MinKeyBytes)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("signing key: %w", err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	key := hex.EncodeToString(raw)
	tmp := filepath.Join(filepath.Dir(path), ".signing.key.tmp")
	if err := os.WriteFile(tmp, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("signing key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("signing key: %w", err)
	}
	return key, nil
}
