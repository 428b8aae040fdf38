package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/term"
)

// credentials is what `reelay login` stores, in credentialsPath, for `reelay upload` and
// `reelay logout`.
type credentials struct {
	API    string `json:"api"`
	Handle string `json:"handle"`
	Token  string `json:"token"`
	// DeviceToken makes the next login from this machine one from a known device, which
	// guesses at the handle from elsewhere do not slow down.
	DeviceToken string `json:"device_token,omitempty"`
}

// credentialsPath returns where the credentials are stored: reelay/credentials.json in the
// user's config directory ($XDG_CONFIG_HOME, else ~/.config, on Linux and the BSDs; what
// os.UserConfigDir says elsewhere). "" when there is none.
func credentialsPath(getenv func(string) string) string {
	var dir string
	switch runtime.GOOS {
	case "windows", "darwin", "ios", "plan9":
		dir, _ = os.UserConfigDir()
	default:
		if d := getenv("XDG_CONFIG_HOME"); filepath.IsAbs(d) {
			dir = d
		} else if home := getenv("HOME"); home != "" {
			dir = filepath.Join(home, ".config")
		}
	}
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, "reelay", "credentials.json")
}

// readCredentials reads the stored credentials; fs.ErrNotExist when there are none.
func readCredentials(path string) (credentials, error) {
	var c credentials
	if path == "" {
		return c, fs.ErrNotExist
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil || c.Token == "" || c.API == "" {
		return c, fmt.Errorf("%s is not a reelay login; run reelay login again", path)
	}
	return c, nil
}

// writeCredentials stores c at path, readable by the user alone (the file 0600, its
// directory 0700), atomically (see writeJSONFile).
func writeCredentials(path string, c credentials) error {
	return writeJSONFile(path, c)
}

// writeJSONFile writes v as indented JSON to path, readable by the user alone (the file 0600,
// its directory 0700, made if need be), atomically: a crash leaves the old file or the new
// one, never half of one.
func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // once renamed, there is nothing left to remove
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// loginConfig is `reelay login`: a session token of the API, stored for reelay upload.
type loginConfig struct {
	api    string
	handle string
}

func setupLogin(fs *flag.FlagSet) runner {
	c := &loginConfig{}
	fs.StringVar(&c.api, "api", "", "base URL of the reelay API, e.g. http://127.0.0.1:8080 (required)")
	fs.StringVar(&c.handle, "handle", "", "the handle to log in as; with it the password is read from standard input "+
		"(asked for without echo on a terminal); without it both are asked for on the terminal")
	return c
}

func (c *loginConfig) validate() error {
	if c.api == "" {
		return usagef("--api is required: the base URL of the reelay API, e.g. http://127.0.0.1:8080")
	}
	return checkURL("api", c.api)
}

// loginTimeout bounds each request of login and logout.
const loginTimeout = 30 * time.Second

func (c *loginConfig) run(ctx context.Context, e *env) error {
	path := credentialsPath(e.getenv)
	if path == "" {
		return usagef("neither XDG_CONFIG_HOME nor HOME is set: there is nowhere to store the login")
	}
	handle, password, err := c.ask(e)
	if err != nil {
		return err
	}
	old, _ := readCredentials(path)
	body, _ := json.Marshal(map[string]string{"handle": handle, "password": password, "device_token": old.DeviceToken})
	api := strings.TrimSuffix(c.api, "/")
	resp, err := apiRequest(ctx, "POST", api+"/v1/sessions", "", body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		Token       string `json:"token"`
		DeviceToken string `json:"device_token"`
		User        struct {
			Handle string `json:"handle"`
		} `json:"user"`
	}
	switch resp.StatusCode {
	case http.StatusCreated:
	case http.StatusUnauthorized:
		return errors.New("the handle or the password is wrong")
	default:
		return apiError(resp)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil || out.Token == "" {
		return fmt.Errorf("%s answered the login with no token", api)
	}
	cred := credentials{API: api, Handle: out.User.Handle, Token: out.Token, DeviceToken: out.DeviceToken}
	if err := writeCredentials(path, cred); err != nil {
		return fmt.Errorf("storing the login: %w", err)
	}
	fmt.Fprintf(e.stderr, "reelay login: logged in to %s as %s; the token is in %s\n", api, cred.Handle, path)
	return nil
}

// ask returns the handle (--handle, or asked for) and the password: asked for without echo
// when standard input is a terminal, else its first line.
func (c *loginConfig) ask(e *env) (handle, password string, err error) {
	handle = c.handle
	f, isFile := e.stdin.(*os.File)
	if isFile && term.IsTerminal(int(f.Fd())) {
		r := bufio.NewReader(f)
		if handle == "" {
			fmt.Fprint(e.stderr, "handle: ")
			line, err := r.ReadString('\n')
			if err != nil && line == "" {
				return "", "", usagef("no handle given")
			}
			handle = strings.TrimSpace(line)
		}
		fmt.Fprint(e.stderr, "password: ")
		pw, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", "", fmt.Errorf("reading the password: %w", err)
		}
		password = string(pw)
	} else {
		if handle == "" {
			return "", "", usagef("--handle is required when standard input is not a terminal (the password is read from it)")
		}
		if e.stdin == nil {
			return "", "", usagef("no password on standard input")
		}
		line, err := bufio.NewReader(io.LimitReader(e.stdin, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", "", fmt.Errorf("reading the password: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	}
	if handle == "" || password == "" {
		return "", "", usagef("a handle and a password are required")
	}
	return handle, password, nil
}

// logoutConfig is `reelay logout`: the stored session ended on the API and forgotten here.
type logoutConfig struct{}

func setupLogout(*flag.FlagSet) runner { return &logoutConfig{} }

func (*logoutConfig) validate() error { return nil }

func (*logoutConfig) run(ctx context.Context, e *env) error {
	path := credentialsPath(e.getenv)
	cred, err := readCredentials(path)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintln(e.stderr, "reelay logout: not logged in")
		return nil
	}
	if err == nil {
		resp, rerr := apiRequest(ctx, "DELETE", cred.API+"/v1/sessions/current", cred.Token, nil)
		switch {
		case rerr != nil:
			fmt.Fprintf(e.stderr, "reelay logout: warning: the session could not be ended on the server, it stays valid until it expires: %s\n", oneLine(rerr))
		case resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusUnauthorized: // 401: it ended already
			fmt.Fprintf(e.stderr, "reelay logout: warning: the session could not be ended on the server, it stays valid until it expires: %s\n", oneLine(apiError(resp)))
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	fmt.Fprintf(e.stderr, "reelay logout: logged out; %s removed\n", path)
	return nil
}

// apiRequest sends one request of login or logout, and says plainly when the API cannot be
// reached.
func apiRequest(ctx context.Context, method, url, token string, body []byte) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, loginTimeout)
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		cancel()
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("cannot reach the API at %s: %w", req.URL.Host, err)
	}
	resp.Body = readCloser{resp.Body, cancel}
	return resp, nil
}

type readCloser struct {
	io.ReadCloser
	cancel func()
}

func (r readCloser) Close() error { r.cancel(); return r.ReadCloser.Close() }

// apiError describes an API's error answer: its message, and for a 429 how long to wait.
func apiError(resp *http.Response) error {
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e)
	msg := e.Error.Message
	if msg == "" {
		msg = resp.Status
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		if wait := resp.Header.Get("Retry-After"); wait != "" {
			return fmt.Errorf("%s: try again in %s seconds", msg, wait)
		}
	}
	return errors.New(msg)
}
