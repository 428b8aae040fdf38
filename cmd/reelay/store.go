package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/reelay/reelay/storage"
)

// storeURLHelp describes a store URL in the help of the flags that take one.
const storeURLHelp = "file:///path, or s3://bucket/prefix?endpoint=http://host:port " +
	"(an endpoint without http:// is spoken to over TLS; the bucket must exist: reelay store init makes it)"

// storeConfig is `reelay store init --store URL`: it makes the object store ready for the
// tiers, creating its S3 bucket or its directory if missing. The tiers refuse to start on a
// bucket that does not exist, so that a typo in a bucket's name is not a new, empty store.
type storeConfig struct {
	verb  string // init
	store string
}

func setupStore(fs *flag.FlagSet) runner {
	c := &storeConfig{}
	fs.StringVar(&c.store, "store", "", "object store URL: "+storeURLHelp+" (required)")
	return c
}

func (c *storeConfig) setVerb(v string) { c.verb = v }

func (c *storeConfig) validate() error {
	if c.verb != "init" {
		return usagef("what of the store? reelay store init --store URL")
	}
	if c.store == "" {
		return usagef("which store? reelay store init --store URL")
	}
	return nil
}

func (c *storeConfig) run(ctx context.Context, e *env) error {
	created, err := storage.Init(ctx, c.store)
	if err != nil {
		return fmt.Errorf("object store: %w", err)
	}
	if created {
		fmt.Fprintf(e.stdout, "created %s\n", c.store)
	} else {
		fmt.Fprintf(e.stdout, "%s exists\n", c.store)
	}
	return nil
}
