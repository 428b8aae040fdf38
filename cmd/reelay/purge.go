package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/reelay/reelay/internal/videoid"
)

// purgeURLs is the --purge-url flag: the base URLs of edges, one per cluster, that drop a
// video's cached objects on DELETE /_edge/v/{id} (edge.Edge's servePurge) and fan it out to
// their cluster.
type purgeURLs []string

func (p *purgeURLs) String() string { return strings.Join(*p, ",") }

func (p *purgeURLs) Set(s string) error {
	*p = nil
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			*p = append(*p, strings.TrimSuffix(u, "/"))
		}
	}
	return nil
}

func (p purgeURLs) validate(adminToken string) error {
	for _, u := range p {
		if err := checkURL("purge-url", u); err != nil {
			return err
		}
	}
	if len(p) > 0 && adminToken == "" {
		return usagef("--purge-url needs --admin-token: the edges take purges only with it")
	}
	return nil
}

// purger returns the feed's Config.Purge: DELETE {url}/_edge/v/{id} with the admin token on
// each of the URLs; nil for none.
func (p purgeURLs) purger(adminToken string) func(ctx context.Context, id string) error {
	if len(p) == 0 {
		return nil
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	return func(ctx context.Context, id string) error {
		if !videoid.Valid(id) {
			return fmt.Errorf("purge: invalid video id %q", id)
		}
		var errs []error
		for _, base := range p {
			req, err := http.NewRequestWithContext(ctx, http.MethodDelete, base+"/_edge/v/"+id, nil)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			req.Header.Set("Authorization", "Bearer "+adminToken)
			resp, err := hc.Do(req)
			if err != nil {
				errs = append(errs, fmt.Errorf("purge on %s: %w", base, err))
				continue
			}
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errs = append(errs, fmt.Errorf("purge on %s: %s", base, resp.Status))
			}
		}
		return errors.Join(errs...)
	}
}
