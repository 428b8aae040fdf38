package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The PostgreSQL server of this test binary, started by the first call to Postgres.
var (
	pgOnce sync.Once
	pgAddr string // host:port once running
	pgErr  error
	pgMiss bool // pgErr means: no PostgreSQL binaries here
	pgSeq  atomic.Int64
)

// Postgres returns the DSN of a fresh, empty database on a PostgreSQL server that is started
// once per test binary (superuser reelay, trust authentication, no password). The database is
// dropped when t ends. PostgreSQL's binaries are looked up in $REELAY_PG_BINDIR, then the newest
// /usr/lib/postgresql/*/bin, then $PATH.
func Postgres(t testing.TB) string {
	t.Helper()
	pgOnce.Do(func() {
		pgErr = errors.New("postgres start was aborted") // in case startPostgres does not return
		pgAddr, pgMiss, pgErr = startPostgres(t)
	})
	if pgMiss {
		unavailable(t, "testenv: %v", pgErr)
	}
	if pgErr != nil {
		t.Fatalf("testenv: %v", pgErr)
	}

	name := fmt.Sprintf("t%d_%d", os.Getpid(), pgSeq.Add(1))
	if err := pgAdmin(`CREATE DATABASE ` + name); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	t.Cleanup(func() {
		if err := pgAdmin(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
			t.Logf("testenv: drop database %s: %v", name, err)
		}
	})
	return fmt.Sprintf("postgres://reelay@%s/%s?sslmode=disable", pgAddr, name)
}

// pgAdmin runs one statement in the server's postgres database.
func pgAdmin(stmt string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, "postgres://reelay@"+pgAddr+"/postgres?sslmode=disable")
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, stmt)
	return err
}

// pgBinDir finds the directory that holds initdb and postgres.
func pgBinDir() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
				return false
			}
		}
		return true
	}
	if dir := os.Getenv("REELAY_PG_BINDIR"); dir != "" {
		if !has(dir) {
			return "", fmt.Errorf("REELAY_PG_BINDIR=%s holds no initdb and postgres", dir)
		}
		return dir, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	major := func(dir string) float64 { v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64); return v }
	sort.Slice(dirs, func(i, j int) bool { return major(dirs[i]) > major(dirs[j]) })
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	initdb, err := exec.LookPath("initdb")
	if err != nil || !has(filepath.Dir(initdb)) {
		return "", errors.New("PostgreSQL not found (set REELAY_PG_BINDIR or install postgresql)")
	}
	return filepath.Dir(initdb), nil
}

// startPostgres creates a cluster in a temporary directory and starts a server on a free
// loopback port; it registers the server's stop with atStop. missing reports that PostgreSQL
// is not installed.
func startPostgres(t testing.TB) (addr string, missing bool, err error) {
	bin, err := pgBinDir()
	if err != nil {
		return "", true, err
	}
	dir, err := os.MkdirTemp("", "reelay-pg-")
	if err != nil {
		return "", false, err
	}
	data, logPath := filepath.Join(dir, "data"), filepath.Join(dir, "postgres.log")
	logf, err := os.Create(logPath)
	if err != nil {
		os.RemoveAll(dir)
		return "", false, err
	}
	defer logf.Close()

	// PostgreSQL refuses to run as root: run it as the postgres system user.
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return "", true, fmt.Errorf("running as root and there is no postgres user to run PostgreSQL as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return "", false, err
		}
		attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	command := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir, cmd.Stdout, cmd.Stderr, cmd.SysProcAttr = dir, logf, logf, attr
		return cmd
	}
	fail := func(format string, args ...any) (string, bool, error) {
		err := fmt.Errorf(format+"\n--- %s (tail) ---\n%s", append(args, logPath, tail(logPath))...)
		os.RemoveAll(dir)
		return "", false, err
	}

	if err := command("initdb", "-D", data, "-A", "trust", "-U", "reelay", "-E", "UTF8", "--no-locale", "--no-sync").Run(); err != nil {
		return fail("initdb: %v", err)
	}
	// Another process may take the free port before the server binds it: try a few ports.
	for try := 1; ; try++ {
		port := FreePort(t)
		cmd := command("postgres", "-D", data, "-p", strconv.Itoa(port), "-k", dir,
			"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
			"-c", "full_page_writes=off", "-c", "max_connections=200")
		if err := cmd.Start(); err != nil {
			return fail("start postgres: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		addr = hostPort(port)
		err := waitPostgres(addr, exited)
		if err == nil {
			atStop(func() { stopPostgres(cmd, exited); os.RemoveAll(dir) })
			return addr, false, nil
		}
		stopPostgres(cmd, exited)
		if try == 3 {
			return fail("postgres on %s: %v", addr, err)
		}
	}
}

// waitPostgres polls until the server at addr accepts connections, it exits, or 60s pass.
func waitPostgres(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := pgx.Connect(ctx, "postgres://reelay@"+addr+"/postgres?sslmode=disable")
		if err == nil {
			c.Close(ctx)
			cancel()
			return nil
		}
		cancel()
		select {
		case <-exited:
			return errors.New("server exited")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not accepting connections after 60s: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stopPostgres asks for a fast shutdown (SIGINT), kills the process group after 10s, and
// waits for the exit.
func stopPostgres(cmd *exec.Cmd, exited <-chan struct{}) {
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
}

// tail returns the end of the file at path.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
