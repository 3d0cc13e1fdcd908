// Command vulnreport reads govulncheck's JSON stream (-format json) on
// standard input and decides the build: every vulnerability that signet's
// code calls fails it, unless hack/vuln-accepted.txt accepts it with a
// reason. Vulnerabilities in modules signet requires but never calls are
// counted, not failed (govulncheck's own default).
//
//	govulncheck -format json ./... | go run ./hack/vulnreport hack/vuln-accepted.txt
//
// The accepted file has one vulnerability a line: its ID, then why signet
// is not exposed (or what closes the gap), e.g.
//
//	GO-2026-6225  ACR helper's unanchored host check: signet asks it only for ACR hosts (internal/kube/cloud.go)
//
// Blank lines and lines starting with # are ignored. An accepted ID that
// the scan no longer finds is reported, so that the list shrinks when a
// fix lands.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
)

type message struct {
	Config *struct {
		DB             string `json:"db"`
		DBLastModified string `json:"db_last_modified"`
		GoVersion      string `json:"go_version"`
	} `json:"config"`
	OSV *struct {
		ID      string `json:"id"`
		Summary string `json:"summary"`
	} `json:"osv"`
	Finding *struct {
		OSV          string `json:"osv"`
		FixedVersion string `json:"fixed_version"`
		Trace        []struct {
			Module   string `json:"module"`
			Version  string `json:"version"`
			Package  string `json:"package"`
			Function string `json:"function"`
			Receiver string `json:"receiver"`
		} `json:"trace"`
	} `json:"finding"`
}

type vuln struct {
	module, version, fixed string
	called                 bool
	example                string // the vulnerable symbol, when called
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: govulncheck -format json ./... | vulnreport ACCEPTED-FILE")
		os.Exit(2)
	}
	accepted, err := readAccepted(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulnreport:", err)
		os.Exit(2)
	}
	ok, err := report(os.Stdin, os.Stdout, accepted)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulnreport:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(3)
	}
}

// readAccepted returns the accepted IDs and their reasons.
func readAccepted(file string) (map[string]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, reason, _ := strings.Cut(line, " ")
		if !strings.HasPrefix(id, "GO-") || strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("%s:%d: want \"GO-YYYY-NNNN reason\", got %q", file, n, line)
		}
		out[id] = strings.TrimSpace(reason)
	}
	return out, sc.Err()
}

// report writes the summary and says whether the build passes.
func report(r io.Reader, w io.Writer, accepted map[string]string) (bool, error) {
	vulns := map[string]*vuln{}
	summaries := map[string]string{}
	var db, dbTime, goVersion string
	dec := json.NewDecoder(r)
	for {
		var m message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return false, fmt.Errorf("reading govulncheck's output: %w", err)
		}
		switch {
		case m.Config != nil:
			db, dbTime, goVersion = m.Config.DB, m.Config.DBLastModified, m.Config.GoVersion
		case m.OSV != nil:
			summaries[m.OSV.ID] = m.OSV.Summary
		case m.Finding != nil && len(m.Finding.Trace) > 0:
			f := m.Finding
			v := vulns[f.OSV]
			if v == nil {
				v = &vuln{module: f.Trace[0].Module, version: f.Trace[0].Version, fixed: f.FixedVersion}
				vulns[f.OSV] = v
			}
			if fn := f.Trace[0].Function; fn != "" && !v.called {
				v.called = true
				v.example = f.Trace[0].Package + "." + fn
				if rc := f.Trace[0].Receiver; rc != "" {
					v.example = f.Trace[0].Package + "." + rc + "." + fn
				}
			}
		}
	}
	if db == "" {
		return false, errors.New("no scan configuration in govulncheck's output (did it run?)")
	}
	if strings.HasPrefix(dbTime, "0001-") {
		dbTime = "unknown"
	}
	fmt.Fprintf(w, "govulncheck: %s, database %s (modified %s)\n", goVersion, db, dbTime)
	ok := true
	var called, acceptedCalled, uncalled int
	for _, id := range slices.Sorted(maps.Keys(vulns)) {
		v := vulns[id]
		if !v.called {
			uncalled++
			continue
		}
		called++
		fixed := "no fixed version"
		if v.fixed != "" {
			fixed = "fixed in " + v.fixed
		}
		if reason, acc := accepted[id]; acc {
			acceptedCalled++
			fmt.Fprintf(w, "accepted  %s  %s@%s (%s): %s\n", id, v.module, v.version, fixed, reason)
			continue
		}
		ok = false
		fmt.Fprintf(w, "CALLED    %s  %s@%s (%s), e.g. %s: %s\n", id, v.module, v.version, fixed, v.example, summaries[id])
	}
	for _, id := range slices.Sorted(maps.Keys(accepted)) {
		if v := vulns[id]; v == nil || !v.called {
			fmt.Fprintf(w, "stale     %s is accepted in the list but no longer found: remove it\n", id)
		}
	}
	fmt.Fprintf(w, "%d called (%d accepted), %d in required modules but not called\n", called, acceptedCalled, uncalled)
	return ok, nil
}
