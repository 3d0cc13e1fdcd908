package testutil

import (
	"strings"
	"testing"
)

// Spellings is a registry holding one repository whose tags name content of
// every kind, a policy with a rule of each kind for it, and every way to
// write its images: the table of docs/policy.md's "Which rule applies",
// shared by the engine's and `signet verify`'s tests.
type Spellings struct {
	Reg *Registry
	// Policy is the policy document (validators "signed", "allow", "deny").
	Policy string
	// Repo is host/acme/app. Good is signed and v1's; Bad is signed, denied
	// by digest, and v2's; Other is signed and v3's; Unsigned is v4's.
	Repo                          string
	Good, Bad, Other, Unsigned    string
	RepoRule, TagRule, DigestRule string
}

// SpellingCase is one row: an image as written, the rule that must apply,
// and the decision.
type SpellingCase struct {
	Name    string
	Image   string
	Rule    string
	Allowed bool
	Outcome string // verified, failed, static
	Digest  string // decided on, and pinned when allowed; "" for a static denial
}

// NewSpellings pushes and signs the images and writes the policy.
func NewSpellings(t testing.TB) *Spellings {
	t.Helper()
	key := NewKey(t)
	reg := NewRegistry(t, false)
	s := &Spellings{Reg: reg, Repo: reg.Host + "/acme/app"}
	push := func(tag string, sign bool) string {
		d := reg.PushImage(t, "acme/app:"+tag)
		if sign {
			SignLegacy(t, d, key)
		}
		return d.DigestStr()
	}
	s.Good, s.Bad, s.Other, s.Unsigned = push("v1", true), push("v2", true), push("v3", true), push("v4", false)
	s.RepoRule = reg.Host + "/acme/*"              // every image of acme must be signed…
	s.TagRule = reg.Host + "/acme/app:v1"          // …v1 is allowed as it is (static)…
	s.DigestRule = reg.Host + "/acme/app@" + s.Bad // …and Bad never runs, whatever it is called
	s.Policy = Policy(key.PEM, `
- {pattern: "`+s.RepoRule+`", validator: signed}
- {pattern: "`+s.TagRule+`", validator: allow}
- {pattern: "`+s.DigestRule+`", validator: deny}
`)
	return s
}

// Cases returns the table.
func (s *Spellings) Cases() []SpellingCase {
	const verified, failed, static = "verified", "failed", "static"
	r := s.Repo
	port := strings.TrimPrefix(r, "127.0.0.1") // :port/acme/app
	return []SpellingCase{
		// A tag: the tag pattern applies to its own tag; the digest
		// pattern to a tag that names its digest.
		{"tag matching a tag pattern", r + ":v1", s.TagRule, true, static, s.Good},
		{"tag naming a denied digest", r + ":v2", s.DigestRule, false, static, ""},
		{"tag of another signed digest", r + ":v3", s.RepoRule, true, verified, s.Other},
		{"tag of an unsigned digest", r + ":v4", s.RepoRule, false, failed, s.Unsigned},
		// A digest: tag patterns never apply; a digest pattern applies to
		// its digest.
		{"digest of the tag pattern's tag", r + "@" + s.Good, s.RepoRule, true, verified, s.Good},
		{"denied digest", r + "@" + s.Bad, s.DigestRule, false, static, ""},
		{"unsigned digest", r + "@" + s.Unsigned, s.RepoRule, false, failed, s.Unsigned},
		// tag@digest with the tag's own digest: as the tag.
		{"tag@its digest, tag pattern", r + ":v1@" + s.Good, s.TagRule, true, static, s.Good},
		{"tag@its digest, denied digest", r + ":v2@" + s.Bad, s.DigestRule, false, static, ""},
		{"tag@its digest, repository pattern", r + ":v3@" + s.Other, s.RepoRule, true, verified, s.Other},
		// tag@digest with another digest: the digest runs, so the tag's
		// pattern does not apply and the digest's rule does.
		{"tag@another digest: the static allow of the tag does not apply", r + ":v1@" + s.Unsigned, s.RepoRule, false, failed, s.Unsigned},
		{"tag@another, signed digest", r + ":v1@" + s.Other, s.RepoRule, true, verified, s.Other},
		{"tag@the denied digest", r + ":v3@" + s.Bad, s.DigestRule, false, static, ""},
		{"unknown tag@the denied digest", r + ":nope@" + s.Bad, s.DigestRule, false, static, ""},
		{"tag of the tag pattern@the denied digest", r + ":v1@" + s.Bad, s.DigestRule, false, static, ""},
		// Registry spellings of the same: the same rules.
		{"tag naming a denied digest, port with a leading zero", "127.0.0.1:0" + port[1:] + ":v2", s.DigestRule, false, static, ""},
		{"tag naming a denied digest, IPv4 as one number", "2130706433" + port + ":v2", s.DigestRule, false, static, ""},
		{"tag naming a denied digest, IPv4-mapped IPv6", "[::ffff:7f00:1]" + port + ":v2", s.DigestRule, false, static, ""},
		{"tag pattern, IPv4 written short", "127.1" + port + ":v1", s.TagRule, true, static, s.Good},
	}
}
