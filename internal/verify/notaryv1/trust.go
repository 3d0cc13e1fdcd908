package notaryv1

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	canonicaljson "github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"

	"github.com/signet-dev/signet/internal/verify"
)

// maxDelegations bounds how many delegation roles are read per GUN.
const maxDelegations = 64

// releasesRole is the delegation docker looks a tag up in first.
const releasesRole = "targets/releases"

// DelegationRole returns the full name of a delegation role, accepting
// docker's shorthand ("releases" for "targets/releases").
func DelegationRole(s string) (string, error) {
	role := s
	if s == data.CanonicalTargetsRole.String() {
		return "", fmt.Errorf("%q is the base targets role, not a delegation (it signs every tag; name a delegation such as targets/releases)", s)
	}
	if !strings.HasPrefix(role, "targets/") {
		role = "targets/" + role
	}
	if !data.IsDelegation(data.RoleName(role)) {
		return "", fmt.Errorf("%q is not a valid delegation role (want targets/NAME, e.g. targets/releases)", s)
	}
	return role, nil
}

// trust is one GUN's verified trust data.
type trust struct {
	gun  string
	repo *tuf.Repo
	// skipped lists delegations that did not verify (bad signatures,
	// expired), with why; they sign nothing.
	skipped map[string]string
}

// build verifies the trust data of gun against one pinned root key:
// root.json must pass checkRoot (root keys in the one form notary and
// signet read alike, a valid signature by the pinned key itself) and
// notary's root validation pinned to the certificates holding that key
// (with the root role's threshold), then timestamp, snapshot, targets and the
// delegations verify in order with notary's RepoBuilder (signatures,
// thresholds, checksums, sizes, versions at least those seen before), and
// no role used may have expired.
func (v *Verifier) build(ctx context.Context, gun string, r TrustRoot, root []byte, files *fileCache) (*trust, error) {
	fail := func(format string, args ...any) error {
		return &verify.FailedError{Reason: fmt.Sprintf(format, args...)}
	}
	ids, err := checkRoot(root, r.Key, gun)
	if err != nil {
		return nil, fail("root.json of %s: %v", gun, err)
	}
	if len(ids) == 0 {
		return nil, fail("root.json of %s is not signed with the pinned root key of trust root %q (wrong root key, or the repository's root key was rotated)", gun, r.Name)
	}
	pin := trustpinning.TrustPinConfig{Certs: map[string][]string{gun: ids}, DisableTOFU: true}
	b := tuf.NewRepoBuilder(data.GUN(gun), nil, pin)
	floor := v.versions.floor(v.srv.host, gun)
	load := func(role data.RoleName, content []byte) error {
		// Expiry is checked below against v.now, not by notary's wall clock.
		if err := b.Load(role, content, floor(role), true); err != nil {
			return describe(gun, role, err)
		}
		return nil
	}
	if err := load(data.CanonicalRootRole, root); err != nil {
		return nil, err
	}
	for _, role := range []data.RoleName{data.CanonicalTimestampRole, data.CanonicalSnapshotRole, data.CanonicalTargetsRole} {
		content, err := files.get(ctx, role.String(), sizeOf(b, role))
		if err != nil {
			return nil, err
		}
		if err := load(role, content); err != nil {
			return nil, err
		}
	}
	t := &trust{gun: gun, skipped: map[string]string{}}
	if err := v.loadDelegations(ctx, b, files, t, floor); err != nil {
		return nil, err
	}
	repo, _, err := b.Finish()
	if err != nil {
		return nil, fail("trust data of %s: %v", gun, err)
	}
	now := v.now()
	for role, c := range map[string]*data.SignedCommon{
		"root": &repo.Root.Signed.SignedCommon, "timestamp": &repo.Timestamp.Signed.SignedCommon,
		"snapshot": &repo.Snapshot.Signed.SignedCommon, "targets": &repo.Targets[data.CanonicalTargetsRole].Signed.SignedCommon,
	} {
		if !now.Before(c.Expires) {
			return nil, fail("%s.json of %s expired at %s (the Notary server or the signer must re-sign it)", role, gun, c.Expires.UTC().Format(time.RFC3339))
		}
	}
	for role, tg := range repo.Targets {
		if role != data.CanonicalTargetsRole && !now.Before(tg.Signed.Expires) {
			delete(repo.Targets, role)
			t.skipped[role.String()] = "expired at " + tg.Signed.Expires.UTC().Format(time.RFC3339)
		}
	}
	t.repo = repo
	return t, nil
}

// loadDelegations reads the delegations the targets role (and, in turn,
// each delegation) lists, breadth first, as notary's client does. One that
// does not verify is skipped; it signs nothing.
func (v *Verifier) loadDelegations(ctx context.Context, b tuf.RepoBuilder, files *fileCache, t *trust, floor func(data.RoleName) int) error {
	var top data.SignedTargets
	raw, _ := files.get(ctx, data.CanonicalTargetsRole.String(), maxRoleSize) // already read
	if err := canonicaljson.Unmarshal(raw, &top); err != nil {
		return &verify.FailedError{Reason: fmt.Sprintf("targets.json of %s: %v", t.gun, err)}
	}
	queue := top.GetValidDelegations(data.DelegationRole{BaseRole: data.BaseRole{Name: data.CanonicalTargetsRole}, Paths: []string{""}})
	for n := 0; len(queue) > 0; n++ {
		role := queue[0]
		queue = queue[1:]
		if n >= maxDelegations {
			return &verify.FailedError{Reason: fmt.Sprintf("trust data of %s has more than %d delegations", t.gun, maxDelegations)}
		}
		info := b.GetConsistentInfo(role.Name)
		if !info.ChecksumKnown() {
			continue // not in the snapshot: never published
		}
		content, err := files.get(ctx, role.Name.String(), min(info.Length(), maxRoleSize))
		if err != nil {
			return err
		}
		if err := b.Load(role.Name, content, floor(role.Name), true); err != nil {
			var low signed.ErrLowVersion
			if errors.As(err, &low) {
				return describe(t.gun, role.Name, err) // a rollback is an attack, not a bad signer
			}
			t.skipped[role.Name.String()] = describe(t.gun, role.Name, err).Error()
			continue
		}
		var child data.SignedTargets
		if err := canonicaljson.Unmarshal(content, &child); err == nil {
			queue = append(queue, child.GetValidDelegations(role)...)
		}
	}
	return nil
}

// sizeOf is the size limit for reading role: its exact size when the
// timestamp or snapshot records it.
func sizeOf(b tuf.RepoBuilder, role data.RoleName) int64 {
	if info := b.GetConsistentInfo(role); info.ChecksumKnown() && info.Length() > 0 {
		return min(info.Length(), maxRoleSize)
	}
	return maxRoleSize
}

// describe turns a notary verification error into a failure that names the
// GUN and the role.
func describe(gun string, role data.RoleName, err error) error {
	var low signed.ErrLowVersion
	why := err.Error()
	switch {
	case errors.As(err, &low):
		why = fmt.Sprintf("version %d is older than version %d already seen (rollback refused)", low.Actual, low.Current)
	case errors.As(err, new(signed.ErrRoleThreshold)), errors.Is(err, signed.ErrNoSignatures):
		why = "signatures do not meet the role's threshold: " + why
	}
	return &verify.FailedError{Reason: fmt.Sprintf("%s.json of %s: %s", role, gun, why), Err: err}
}

// resolve returns the digest tag is signed as. With required delegations,
// each must have signed tag, all with the same digest. Otherwise the
// lookup is docker's: targets/releases first, then the targets role and its
// other delegations, breadth first.
func (t *trust) resolve(tag string, required []string) (string, error) {
	if len(required) > 0 {
		digest := ""
		for _, role := range required {
			d := t.lookup(tag, data.RoleName(role), nil, true)
			switch {
			case d == "":
				return "", t.missing(fmt.Sprintf("tag %q of %s is not signed by required delegation %s", tag, t.gun, role))
			case digest != "" && d != digest:
				return "", verify.Failf("delegations of %s disagree on tag %q: %s signs %s, %s signs %s", t.gun, tag, required[0], digest, role, d)
			}
			digest = d
		}
		return digest, nil
	}
	roles := []data.RoleName{releasesRole, data.CanonicalTargetsRole}
	for _, role := range roles {
		if d := t.lookup(tag, role, slices.DeleteFunc(slices.Clone(roles), func(r data.RoleName) bool { return r == role }), false); d != "" {
			return d, nil
		}
	}
	return "", t.missing(fmt.Sprintf("tag %q is not signed in the trust data of %s", tag, t.gun))
}

// lookup walks role's subtree (skipping skip) for tag, with the paths each
// delegation may sign checked, and returns the sha256 digest found first;
// exact restricts the walk to role itself.
func (t *trust) lookup(tag string, role data.RoleName, skip []data.RoleName, exact bool) string {
	found := ""
	t.repo.WalkTargets(tag, role, func(tg *data.SignedTargets, r data.DelegationRole) any { //nolint:errcheck // the visitor never fails
		if tg == nil || (exact && r.Name != role) {
			return nil
		}
		if meta, ok := tg.Signed.Targets[tag]; ok {
			found = hexDigest(meta.Hashes)
			return tuf.StopWalk{}
		}
		return nil
	}, skip...)
	return found
}

// signedDigest checks that digest is signed: by every required delegation
// when there are some, else by the targets role or any delegation. It
// returns the roles that signed it.
func (t *trust) signedDigest(digest string, required []string) ([]string, error) {
	var roles []string
	t.repo.WalkTargets("", "", func(tg *data.SignedTargets, r data.DelegationRole) any { //nolint:errcheck // the visitor never fails
		if tg == nil {
			return nil
		}
		for path, meta := range tg.Signed.Targets {
			if hexDigest(meta.Hashes) == digest && r.CheckPaths(path) {
				roles = append(roles, r.Name.String())
				break
			}
		}
		return nil
	})
	for _, role := range required {
		if !slices.Contains(roles, role) {
			return roles, t.missing(fmt.Sprintf("digest %s is not signed by required delegation %s in the trust data of %s", digest, role, t.gun))
		}
	}
	if len(roles) == 0 {
		return nil, t.missing(fmt.Sprintf("digest %s is not signed in the trust data of %s", digest, t.gun))
	}
	return roles, nil
}

// missing is a failure that also says which delegations were skipped.
func (t *trust) missing(msg string) error {
	if len(t.skipped) > 0 {
		var s []string
		for _, r := range slices.Sorted(maps.Keys(t.skipped)) {
			s = append(s, r+": "+t.skipped[r])
		}
		msg += " (delegations ignored: " + strings.Join(s, "; ") + ")"
	}
	return verify.Failf("%s", msg)
}

// Versions records the highest version of each role seen per Notary server
// and GUN: metadata older than that is a rollback and is refused. It lives
// in memory, so a restart (or a policy reload that rebuilds it) starts over.
type Versions struct {
	mu   sync.Mutex
	seen map[string]int
}

// NewVersions returns an empty record.
func NewVersions() *Versions { return &Versions{seen: map[string]int{}} }

func versionKey(host, gun string, role data.RoleName) string {
	return host + "\x00" + gun + "\x00" + role.String()
}

// floor returns the lowest acceptable version of each role of gun.
func (vs *Versions) floor(host, gun string) func(data.RoleName) int {
	return func(role data.RoleName) int {
		vs.mu.Lock()
		defer vs.mu.Unlock()
		return max(1, vs.seen[versionKey(host, gun, role)])
	}
}

// record remembers the versions of a verified repository.
func (vs *Versions) record(host, gun string, repo *tuf.Repo) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	set := func(role data.RoleName, v int) {
		if k := versionKey(host, gun, role); v > vs.seen[k] {
			vs.seen[k] = v
		}
	}
	set(data.CanonicalRootRole, repo.Root.Signed.Version)
	set(data.CanonicalTimestampRole, repo.Timestamp.Signed.Version)
	set(data.CanonicalSnapshotRole, repo.Snapshot.Signed.Version)
	for role, tg := range repo.Targets {
		set(role, tg.Signed.Version)
	}
}
