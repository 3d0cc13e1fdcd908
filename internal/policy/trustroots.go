package policy

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"

	"github.com/signet-dev/signet/internal/keysource"
	"github.com/signet-dev/signet/internal/verify/cosign"
	"github.com/signet-dev/signet/internal/verify/notaryv1"
	"github.com/signet-dev/signet/internal/verify/notation"
)

// compileTrustRoots checks a validator's trust roots (keys, keyless
// identities, certificates) and builds them for its type.
func compileTrustRoots(f, typ string, trs []TrustRoot, o compileOptions, p *problems) ([]cosign.TrustRoot, []notation.TrustRoot) {
	if len(trs) == 0 {
		p.add(f+".trustRoots", "at least one trust root is required")
		return nil, nil
	}
	seen := map[string]int{}
	distinct := newDistinctRoots(f)
	var keys []cosign.TrustRoot
	var cas []notation.TrustRoot
	for j, tr := range trs {
		tf := fmt.Sprintf("%s.trustRoots[%d]", f, j)
		checkRootName(f, j, tr.Name, seen, p)
		if typ == TypeNotation {
			if tr.Key != "" {
				p.add(tf+".key", "not allowed for a notation validator (use cert)")
			}
			if r, ok := compileCA(tf, tr, p); ok {
				distinct.cas(j, r.CAs, p)
				cas = append(cas, r)
			}
			continue
		}
		if tr.Cert != "" || tr.TSCert != "" || len(tr.TrustedIdentities) > 0 || tr.TrustStore != "" {
			p.add(tf, "cert, tsCert, trustedIdentities and trustStore are for notation validators; a cosign trust root has a key or a keyless identity")
		}
		if tr.Keyless != nil {
			if tr.Key != "" {
				p.add(tf, "key and keyless are exclusive")
				continue
			}
			if id, ok := compileIdentity(tf+".keyless", tr.Keyless, p); ok {
				distinct.keyless(j, tr.Keyless, p)
				keys = append(keys, cosign.TrustRoot{Name: tr.Name, Identity: id})
			}
			continue
		}
		if tr.Key == "" {
			p.add(tf+".key", "is required (an inline PEM public key, k8s://namespace/secret or a KMS URI), or a keyless identity")
			continue
		}
		if keysource.IsRef(tr.Key) {
			src := o.keyRefs[tr.Key]
			if src == nil {
				var err error
				if src, err = keysource.New(tr.Key, o.keys, cosign.ParsePublicKey); err != nil {
					p.add(tf+".key", "%v", err)
					continue
				}
				o.keyRefs[tr.Key] = src
			}
			distinct.keyRef(j, tr.Key, p)
			keys = append(keys, cosign.TrustRoot{Name: tr.Name, KeyRef: src})
			continue
		}
		key, err := cosign.ParsePublicKey([]byte(tr.Key))
		if err != nil {
			p.add(tf+".key", "%v", err)
			continue
		}
		if pub, err := key.PublicKey(); err == nil {
			distinct.key(j, pub, p)
		}
		keys = append(keys, cosign.TrustRoot{Name: tr.Name, Key: key})
	}
	return keys, cas
}

// compileIdentity checks a keyless identity: an issuer and a subject, each
// exact or a regular expression.
func compileIdentity(f string, k *Keyless, p *problems) (*cosign.Identity, bool) {
	ok := true
	pair := func(name, exact, re string) {
		switch {
		case exact == "" && re == "":
			p.add(f, "%s or %sRegex is required", name, name)
			ok = false
		case exact != "" && re != "":
			p.add(f, "%s and %sRegex are exclusive", name, name)
			ok = false
		case re != "":
			if _, err := regexp.Compile(re); err != nil {
				p.add(f+"."+name+"Regex", "invalid regular expression: %v", err)
				ok = false
			}
		}
	}
	pair("issuer", k.Issuer, k.IssuerRegex)
	pair("subject", k.Subject, k.SubjectRegex)
	return &cosign.Identity{Issuer: k.Issuer, IssuerRegex: k.IssuerRegex, Subject: k.Subject, SubjectRegex: k.SubjectRegex}, ok
}

// compileMaterial checks where a cosign validator's keyless trust roots
// get their Sigstore trusted material. Nothing is fetched: a TUF
// repository is contacted on the first keyless verification.
func compileMaterial(f string, v Validator, p *problems) cosign.Material {
	keyless := slices.ContainsFunc(v.TrustRoots, func(tr TrustRoot) bool { return tr.Keyless != nil })
	n := 0
	for _, set := range []bool{v.TrustedRoot != "", v.TrustedRootFile != "", v.TUF != nil} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		p.add(f, "trustedRoot, trustedRootFile and tuf are exclusive")
		return nil
	case n == 0 && keyless:
		p.add(f, "keyless trust roots need Sigstore trusted material: trustedRoot, trustedRootFile, or tuf: {} for the public-good instance")
		return nil
	case n == 1 && !keyless:
		p.add(f, "trustedRoot, trustedRootFile and tuf apply to keyless trust roots only; validator %q has none", v.Name)
		return nil
	case n == 0:
		return nil
	}
	switch {
	case v.TrustedRoot != "":
		tr, err := cosign.ParseTrustedRoot([]byte(v.TrustedRoot))
		if err != nil {
			p.add(f+".trustedRoot", "%v", err)
			return nil
		}
		return cosign.StaticMaterial{TM: tr}
	case v.TrustedRootFile != "":
		// Read now, and again whenever it changes.
		m, err := cosign.FileMaterial(v.TrustedRootFile, nil)
		if err != nil {
			p.add(f+".trustedRootFile", "%v", err)
			return nil
		}
		return m
	}
	if v.TUF.Mirror != "" {
		if u, err := url.Parse(v.TUF.Mirror); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.add(f+".tuf.mirror", "must be an http(s) URL, got %q", v.TUF.Mirror)
			return nil
		}
	}
	if v.TUF.Root != "" && !json.Valid([]byte(v.TUF.Root)) {
		p.add(f+".tuf.root", "must be a TUF root.json document")
		return nil
	}
	return cosign.TUFMaterial(v.TUF.Mirror, []byte(v.TUF.Root))
}

// checkRootName reports an invalid or duplicate trust root name; seen
// maps the names met so far to their index.
func checkRootName(f string, j int, name string, seen map[string]int, p *problems) {
	tf := fmt.Sprintf("%s.trustRoots[%d]", f, j)
	switch k, dup := seen[name]; {
	case name == "":
		p.add(tf+".name", "is required")
	case name == AllTrustRoots || !nameRE.MatchString(name):
		p.add(tf+".name", "%q is not a valid name (letters, digits, '.', '_', '-'; at most 64)", name)
	case dup:
		p.add(tf+".name", "duplicate trust root name %q (also %s.trustRoots[%d])", name, f, k)
	}
	seen[name] = j
}

// compileRootKeys parses a notaryv1 validator's trust roots: pinned root
// keys.
func compileRootKeys(f string, trs []TrustRoot, p *problems) []notaryv1.TrustRoot {
	if len(trs) == 0 {
		p.add(f+".trustRoots", "at least one trust root is required")
		return nil
	}
	seen := map[string]int{}
	distinct := newDistinctRoots(f)
	var out []notaryv1.TrustRoot
	for j, tr := range trs {
		tf := fmt.Sprintf("%s.trustRoots[%d]", f, j)
		checkRootName(f, j, tr.Name, seen, p)
		if tr.Cert != "" || tr.TSCert != "" || tr.Keyless != nil {
			p.add(tf, "cert, tsCert and keyless do not apply to a notaryv1 trust root; its key is the pinned root key")
		}
		if tr.Key == "" {
			p.add(tf+".key", "is required (the repository's root public key, inline PEM)")
			continue
		}
		key, err := notaryv1.ParsePublicKey([]byte(tr.Key))
		if err != nil {
			p.add(tf+".key", "%v", err)
			continue
		}
		distinct.key(j, key, p)
		out = append(out, notaryv1.TrustRoot{Name: tr.Name, Key: key})
	}
	return out
}

// compileCA parses a notation trust root's certificates.
func compileCA(tf string, tr TrustRoot, p *problems) (notation.TrustRoot, bool) {
	r := notation.TrustRoot{Name: tr.Name, Store: tr.TrustStore, Identities: tr.TrustedIdentities}
	ok := true
	switch tr.TrustStore {
	case "", notation.StoreSigningService, notation.StoreSigningAuthority:
	default:
		p.add(tf+".trustStore", "must be %q or %q, got %q", notation.StoreSigningService, notation.StoreSigningAuthority, tr.TrustStore)
		ok = false
	}
	if len(tr.TrustedIdentities) > 0 {
		if err := notation.CheckTrustedIdentities(tr.TrustedIdentities); err != nil {
			p.add(tf+".trustedIdentities", "%v", err)
			ok = false
		}
	}
	if tr.Cert == "" {
		p.add(tf+".cert", "is required (PEM CA certificates)")
		return r, false
	}
	var err error
	if r.CAs, err = notation.ParseCertificates([]byte(tr.Cert)); err != nil {
		p.add(tf+".cert", "%v", err)
		return r, false
	}
	if tr.TSCert != "" {
		if r.TSAs, err = notation.ParseCertificates([]byte(tr.TSCert)); err != nil {
			p.add(tf+".tsCert", "%v", err)
			return r, false
		}
	}
	return r, ok
}
