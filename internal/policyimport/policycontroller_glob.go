package policyimport

import (
	"errors"
	"regexp"
	"strings"
)

// pcValidGlob is the syntax policy-controller accepts for images[].glob.
var pcValidGlob = regexp.MustCompile(`^[a-zA-Z0-9-_:/*.]+$`)

// Difference kinds pcPattern reports, each explained once by the caller.
const (
	// pcFallback: the glob names no registry or ends in a literal, so
	// policy-controller matched it only against an image written exactly
	// so (its deprecated fallback to the unnormalised spelling).
	pcFallback = "fallback"
	// pcTag: the glob names a tag.
	pcTag = "tag"
	// pcLoose: a wildcard before a literal in the last component may take
	// in the tag in policy-controller.
	pcLoose = "loose"
)

// pcPattern translates a policy-controller glob into a signet pattern.
//
// policy-controller matches a glob, anchored, against the image's full
// name as go-containerregistry writes it: registry/path:tag (":latest"
// when none is written) or registry/path@sha256:…, Docker Hub spelled
// index.docker.io/library/… . "*" is any run of characters but "/", "**"
// any run; "*" therefore also takes in ":tag" and "@sha256:…" at the end
// of the name. The globs "*" and "*/*" mean index.docker.io/library/* and
// index.docker.io/*/*.
//
// A glob ending in a wildcard without a ":" in its last component
// ("ghcr.io/acme/*", "ghcr.io/acme/**", "ghcr.io/app*") matches every tag
// and digest of the repositories its prefix matches: the signet pattern is
// the same text. "repo:*" matches every tag, no digest: the same. A
// wildcard repository with ":*" ("ghcr.io/acme/*:*") also matches digests
// ("@sha256:…" holds a ":"): a signet pattern without tag. Otherwise the
// tag is a signet tag pattern.
//
// A glob whose literal start is part of "index.docker.io/" and then "**"
// ("inde**") matches every Docker Hub image, which signet names
// docker.io/…: it becomes two patterns.
func pcPatterns(glob string) (pats []string, diff string, err error) {
	p, diff, err := pcPattern(glob)
	if err != nil {
		return nil, "", err
	}
	pats = []string{p}
	if lit, rest, ok := strings.Cut(glob, "*"); ok && rest == "*" && lit != "" &&
		strings.HasPrefix("index.docker.io/", lit) && lit != "index.docker.io/" {
		pats = append(pats, "docker.io/**")
	}
	if lit, _, _ := strings.Cut(glob, "*"); lit != "" && !strings.ContainsAny(glob, "/.:") && strings.Contains(glob, "**") &&
		!strings.HasPrefix("index.docker.io/", lit) {
		// "foo**" also matched an image written "foo…" (Docker Hub).
		pats, diff = append(pats, "index.docker.io/library/"+glob), pcFallback
	}
	return pats, diff, nil
}

func pcPattern(glob string) (pat, diff string, err error) {
	if !pcValidGlob.MatchString(glob) {
		return "", "", errors.New("not a valid policy-controller glob (letters, digits, '-', '_', ':', '/', '*', '.')")
	}
	switch glob {
	case "*/*":
		glob = "index.docker.io/*/*"
	case "*":
		glob = "index.docker.io/library/*"
	}
	if strings.Trim(glob, "*") == "" {
		return "**", "", nil
	}
	first, _, multi := strings.Cut(glob, "/")
	hostLike := strings.ContainsAny(first, ".:*") || first == "localhost"
	if !multi && !strings.Contains(glob, "**") || multi && !hostLike {
		// "nginx", "acme/app": matched only as written, in Docker Hub.
		diff = pcFallback
		if multi {
			glob = "index.docker.io/" + glob
		} else {
			glob = "index.docker.io/library/" + glob
		}
	}
	slash := strings.LastIndexByte(glob, '/')
	head, last := glob[:slash+1], glob[slash+1:]
	lr, lt, hasTag := strings.Cut(last, ":")
	if strings.Contains(lt, ":") {
		return "", "", errors.New(`more than one ":" after the last "/"`)
	}
	if lr == "" {
		return "", "", errors.New("no repository name before the tag")
	}
	onlyTrailing := func(s string) bool {
		t := strings.TrimRight(s, "*")
		return t != s && !strings.Contains(t, "*")
	}
	switch {
	case !hasTag && strings.HasSuffix(lr, "*"):
		if !onlyTrailing(lr) {
			diff = pcLoose
		}
		return head + lr, diff, nil
	case !hasTag:
		// The name always ends in a tag or digest: only an image written
		// without either matched.
		return head + lr, pcFallback, nil
	case strings.Trim(lt, "*") == "" && onlyTrailing(lr):
		return head + lr, diff, nil
	}
	if strings.Contains(lr, "*") && !onlyTrailing(lr) {
		diff = pcLoose
	}
	if diff == "" {
		diff = pcTag
	}
	return head + lr + ":" + strings.ReplaceAll(lt, "**", "*"), diff, nil
}
