package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// proc is a server the benchmark started; stop ends it, by its own PID only.
type proc struct {
	name string
	url  string
	cmd  *exec.Cmd
	done chan struct{}
}

func startProc(name, url string, argv []string) (*proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "REELAY_METRICS_TOKEN="+metricsToken) // as an environment variable, which older reelays ignore
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, url: url, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	if err := waitHTTP(url+"/healthz", p.done); err != nil {
		p.stop()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// stop asks the process to quit (SIGINT: nginx's fast shutdown, reelay's graceful one) and
// kills it after 10 s.
func (p *proc) stop() {
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// waitHTTP polls url until it answers 200, the process exits, or 15 s pass.
func waitHTTP(url string, exited <-chan struct{}) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("exited before answering %s", url)
		default:
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer within 15 s", url)
}

// freePort returns a loopback port free for TCP and UDP (gossip uses both) when asked.
func freePort() (int, error) {
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			pc.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port")
}

// startReelay starts `reelay edge` on free ports, joining join (a gossip address) when set,
// under prefix (such as taskset -c 0). It returns the process and its gossip address.
func startReelay(bin, originURL, join string, prefix []string) (*proc, string, error) {
	httpPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	gossipPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	gossip := fmt.Sprintf("127.0.0.1:%d", gossipPort)
	argv := append(append([]string{}, prefix...), bin, "edge",
		"--addr", fmt.Sprintf("127.0.0.1:%d", httpPort), "--gossip-addr", gossip,
		"--origin", originURL, "--mem", "512MiB", "--tuning", "local", "--log-level", "warn")
	if join != "" {
		argv = append(argv, "--join", join)
	}
	p, err := startProc("reelay", fmt.Sprintf("http://127.0.0.1:%d", httpPort), argv)
	return p, gossip, err
}

// metricsToken opens the nodes' /_edge/stats.
const metricsToken = "bench-metrics-token"

// stats asks the node at url for its /_edge/stats.
func stats(url string) (*http.Response, error) {
	req, err := http.NewRequest("GET", url+"/_edge/stats", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+metricsToken)
	return http.DefaultClient.Do(req)
}

// waitMembers polls each node's /_edge/stats until it sees n alive members, for 20 s.
func waitMembers(nodes []*proc, n int) error {
	deadline := time.Now().Add(20 * time.Second)
	for _, p := range nodes {
		for {
			if alive(p.url) == n {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s does not see %d alive members", p.url, n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

func alive(url string) int {
	resp, err := stats(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var s struct {
		Members []struct{ State string }
	}
	if json.NewDecoder(resp.Body).Decode(&s) != nil {
		return 0
	}
	n := 0
	for _, m := range s.Members {
		if m.State == "alive" {
			n++
		}
	}
	return n
}

// originFetches sums the origin_fetches of the nodes' /_edge/stats.
func originFetches(nodes []*proc) int64 {
	var sum int64
	for _, p := range nodes {
		resp, err := stats(p.url)
		if err != nil {
			continue
		}
		var s struct {
			OriginFetches int64 `json:"origin_fetches"`
		}
		json.NewDecoder(resp.Body).Decode(&s)
		resp.Body.Close()
		sum += s.OriginFetches
	}
	return sum
}

// nginxConf is a caching reverse proxy configured like the edge: one worker, a proxy_cache
// keeping 200s for an hour (Cache-Control max-age still applies, as on the edge), concurrent
// misses of a key collapsed into one fetch (proxy_cache_lock, as the edge's singleflight), the
// cache served when the origin fails, keep-alive to clients and to the origin, no access log.
const nginxConf = `worker_processes 1;
%s
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 120s;
    keepalive_requests 1000000;
    client_body_temp_path %[2]s/client_body;
    proxy_temp_path %[2]s/proxy_temp;
    fastcgi_temp_path %[2]s/fastcgi_temp;
    uwsgi_temp_path %[2]s/uwsgi_temp;
    scgi_temp_path %[2]s/scgi_temp;
    proxy_cache_path %[2]s/cache levels=1:2 keys_zone=edge:64m max_size=4g inactive=1h use_temp_path=off;
    upstream origin {
        server %[3]s;
        keepalive 32;
    }
    server {
        listen 127.0.0.1:%[4]d;
        location = /healthz { return 200 "ok\n"; }
        location /v/ {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache edge;
            proxy_cache_valid 200 1h;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 10s;
            proxy_cache_use_stale error timeout;
            proxy_ignore_headers Set-Cookie;
            add_header Cache-Status $upstream_cache_status;
        }
    }
}
`

// startNginx starts nginx with its config, cache, pid and logs in a new directory under
// parent, in front of originURL, under prefix.
func startNginx(bin, parent, originURL string, prefix []string) (*proc, error) {
	dir, err := os.MkdirTemp(parent, "nginx-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // the workers must write the cache in this root-owned directory
	}
	conf := filepath.Join(dir, "nginx.conf")
	text := fmt.Sprintf(nginxConf, user, dir, strings.TrimPrefix(originURL, "http://"), port)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, err
	}
	argv := append(append([]string{}, prefix...), bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	return startProc("nginx", fmt.Sprintf("http://127.0.0.1:%d", port), argv)
}

// varnishInstall says how to get varnishd, for the message that skips it.
const varnishInstall = "apt-get install -y varnish (Debian's varnish 7.1)"

// startVarnish starts varnishd in the foreground (-F, so that stop's signal ends it and its
// child) with the builtin VCL and originURL as its backend (-b), malloc storage of 512 MiB (as
// reelay's memory cache), its working directory under parent, its CLI on loopback, under prefix.
func startVarnish(bin, parent, originURL string, prefix []string) (*proc, error) {
	dir, err := os.MkdirTemp(parent, "varnish-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	argv := append(append([]string{}, prefix...), bin, "-F", "-n", filepath.Join(dir, "work"),
		"-a", fmt.Sprintf("127.0.0.1:%d", port), "-b", strings.TrimPrefix(originURL, "http://"),
		"-s", "malloc,512m", "-T", "127.0.0.1:0")
	return startProc("varnish", fmt.Sprintf("http://127.0.0.1:%d", port), argv)
}
