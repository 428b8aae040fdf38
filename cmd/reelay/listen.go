package main

import (
	"cmp"
	"flag"
	"log/slog"
	"time"

	"github.com/reelay/reelay/api"
	"github.com/reelay/reelay/internal/listener"
)

// listening holds the flags of a long-running command's listeners: how many connections each
// holds, how long a client may keep it waiting, and who may read its metrics.
type listening struct {
	maxConns, maxConnsPerClient int
	header, body, write, idle   time.Duration
	metricsToken                string
}

func (l *listening) register(fs *flag.FlagSet) {
	fs.IntVar(&l.maxConns, "max-conns", 0, "connections each listener holds at once; past it a new one is closed at once. 0 is 10000, lowered so that the listeners fit in three quarters of the open files limit; negative for no cap")
	fs.IntVar(&l.maxConnsPerClient, "max-conns-per-client", 0, "connections each listener holds at once from one client address (an IPv4 address, an IPv6 /64); behind a proxy or load balancer, which is one client, raise it. 0 is a tenth of --max-conns (1000 when that has no cap); negative for no cap")
	fs.DurationVar(&l.header, "header-timeout", listener.DefaultHeaderTimeout, "bound on reading a request's header, a new connection's first one included")
	fs.DurationVar(&l.body, "body-timeout", listener.DefaultBodyTimeout, "bound on each wait for more of a request's body (on the edge, on the whole body); tus uploads bound theirs themselves")
	fs.DurationVar(&l.write, "write-timeout", listener.DefaultWriteTimeout, "bound on each wait for a client to take more of a response")
	fs.DurationVar(&l.idle, "idle-timeout", listener.DefaultIdleTimeout, "how long a kept-alive connection may wait for its next request")
	fs.StringVar(&l.metricsToken, "metrics-token", "", "bearer token of /metrics (and the edge's /_edge/stats), for Prometheus' authorization credentials (at least 16 characters); empty is --admin-token's, and with neither they answer 403")
}

func (l *listening) validate() error {
	for name, d := range map[string]time.Duration{"header-timeout": l.header, "body-timeout": l.body, "write-timeout": l.write, "idle-timeout": l.idle} {
		if d <= 0 {
			return usagef("invalid --%s %v: it must be positive", name, d)
		}
	}
	return checkMetricsToken(l.metricsToken)
}

// checkMetricsToken refuses a metrics token too short to resist guessing.
func checkMetricsToken(tok string) error {
	if tok != "" && len(tok) < api.MinAdminToken {
		return usagef("invalid --metrics-token: it must be at least %d characters", api.MinAdminToken)
	}
	return nil
}

// metricsTokenOr returns the --metrics-token, or admin if it is empty: the admin token opens
// what the metrics token would.
func (l *listening) metricsTokenOr(admin string) string { return cmp.Or(l.metricsToken, admin) }

// limits returns the Limits of each of the process's n listeners, once the open files limit
// has been raised to files (0 if unknown): caps left to their default fit n listeners in
// three quarters of it, the last quarter left to the rest (databases, stores, connections to
// the origin and the other edges, files).
func (l *listening) limits(files uint64, n int) listener.Limits {
	lim := listener.Limits{
		MaxConns: l.maxConns, MaxConnsPerClient: l.maxConnsPerClient,
		HeaderTimeout: l.header, BodyTimeout: l.body, WriteTimeout: l.write, IdleTimeout: l.idle,
	}
	if lim.MaxConns == 0 {
		lim.MaxConns = listener.DefaultMaxConns
		if fit := int(files * 3 / 4 / uint64(max(n, 1))); files > 0 && fit < lim.MaxConns {
			lim.MaxConns = max(fit, 1)
		}
	}
	if lim.MaxConnsPerClient == 0 {
		lim.MaxConnsPerClient = listener.DefaultMaxConnsPerClient
		if lim.MaxConns > 0 {
			lim.MaxConnsPerClient = max(lim.MaxConns/10, 1)
		}
	}
	return lim
}

// serving readies the process for serving n listeners: it raises the process's open files
// limit (see raiseOpenFiles) and returns the Limits of each listener, fitted to it, with a
// func that logs them. A command calls that once its tiers are built, so that a bad setting
// they find is all it prints.
func (l *listening) serving(n int) (listener.Limits, func(*slog.Logger)) {
	files, logFiles := openFiles()
	lim := l.limits(files, n)
	return lim, func(log *slog.Logger) {
		logFiles(log)
		log.Info("listener limits", "listeners", n, "max_conns", lim.MaxConns, "max_conns_per_client", lim.MaxConnsPerClient)
	}
}

// openFiles raises the process's soft limit of open files to its hard limit, a process-wide
// setting: every connection takes a file descriptor, and with the soft limit often left at
// 1024, a thousand idle connections would stop the process accepting. It returns the limit
// (0 if unknown) and a func that logs it.
func openFiles() (uint64, func(*slog.Logger)) {
	files, err := raiseOpenFiles()
	return files, func(log *slog.Logger) {
		if err != nil {
			log.Warn("could not raise the open files limit", "limit", files, "err", err)
			return
		}
		log.Info("open files", "limit", files)
	}
}
