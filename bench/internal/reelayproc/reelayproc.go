// Package reelayproc runs reelay commands as processes for the benchmarks, as an operator
// would: it starts one, reads the listener it prints, logs a user in on its API, and stops it.
package reelayproc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"strings"
)

// Start runs the reelay binary with args and returns it with the URL of the first listener it
// prints ("api http://127.0.0.1:40123" gives the URL). Its stderr goes to the bench's.
func Start(binary string, args ...string) (*exec.Cmd, string) {
	cmd := exec.Command(binary, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		log.Fatalf("reelay %s printed no listener", args[0])
	}
	_, url, _ := strings.Cut(sc.Text(), " ")
	go io.Copy(io.Discard, out)
	return cmd, url
}

// Stop interrupts cmd and waits for it to exit.
func Stop(cmd *exec.Cmd) {
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
}

// Login registers the user "bench" on the API at api, if it is not yet, and returns a bearer
// token of it.
func Login(api string) string {
	body := `{"handle":"bench","password":"correct horse"}`
	for _, path := range []string{"/v1/users", "/v1/sessions"} {
		resp, err := http.Post(api+path, "application/json", bytes.NewBufferString(body))
		if err != nil {
			log.Fatal(err)
		}
		var s struct{ Token string }
		json.NewDecoder(resp.Body).Decode(&s)
		resp.Body.Close()
		if s.Token != "" {
			return s.Token
		}
	}
	log.Fatal("login failed")
	return ""
}
