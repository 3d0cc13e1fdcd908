package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/verify"
)

func newExplain(stdout, stderr io.Writer) *cobra.Command {
	f := &verifyFlags{}
	cmd := &cobra.Command{
		Use:   "explain (--policy FILE | --kubeconfig FILE [--namespace NS]) [--output text|json] [--timeout D] IMAGE",
		Short: "Show the whole decision on one image: rules, digest, signatures, checks",
		Long: `explain decides on IMAGE as signet verify and the admission webhook do,
with the same engine, and prints the whole decision as a tree: the reference
normalised; every rule pattern that matches it, which one won and why (how
specific each pattern is); the tag's digest and where it came from; each
validator and trust root tried; each signature and attestation found, where
(.sig tag, OCI referrer, Notary), its signer, certificate subject and issuer,
Rekor log index and integrated time, timestamps; what each check concluded;
and the outcome. --output json prints the same as one JSON object.

The policy flags are signet verify's.

Exit codes: 0 allowed; 1 denied; 2 usage error or invalid policy; 3
inconclusive (registry unreachable, timeout).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExplain(cmd.Context(), f, args[0], stdout, stderr)
		},
	}
	f.addFlags(cmd)
	return cmd
}

func runExplain(ctx context.Context, f *verifyFlags, image string, stdout, stderr io.Writer) error {
	if err := f.checkSource(); err != nil {
		return err
	}
	if err := checkOutputFlags(f.output, f.timeout); err != nil {
		return err
	}
	if _, err := imageref.Parse(image); err != nil {
		return usageError("image: %v", err)
	}
	eng, namespace, err := f.engine(ctx, stderr)
	if err != nil {
		return err
	}
	ictx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	t := eng.Explain(ictx, namespace, image)
	if f.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(t); err != nil {
			return err
		}
	} else {
		writeTree(stdout, explainTree(t), "", "")
	}
	return &exitError{code: exitCode([]policy.Decision{t.Decision})}
}

// node is a line of the explain tree and the lines under it.
type node struct {
	label    string
	children []*node
}

func (n *node) add(format string, args ...any) *node {
	c := &node{label: fmt.Sprintf(format, args...)}
	n.children = append(n.children, c)
	return c
}

// writeTree prints n and its children, drawn with box characters.
func writeTree(w io.Writer, n *node, first, rest string) {
	lines := strings.Split(printable(n.label), "\n")
	fmt.Fprintln(w, first+lines[0])
	for i, c := range n.children {
		if i == len(n.children)-1 {
			writeTree(w, c, rest+"└─ ", rest+"   ")
		} else {
			writeTree(w, c, rest+"├─ ", rest+"│  ")
		}
	}
}

// printable escapes what could disguise a line of the tree: control
// characters (newlines, escape sequences) in a reference, a registry's
// error or a certificate's subject are shown quoted, never acted on.
func printable(s string) string {
	if strings.IndexFunc(s, notPrintable) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if notPrintable(r) {
			q := strconv.QuoteRuneToGraphic(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func notPrintable(r rune) bool { return !unicode.IsGraphic(r) && r != ' ' }

// explainTree lays t out for people.
func explainTree(t *policy.Trace) *node {
	d := t.Decision
	root := &node{label: "image " + t.Image}
	if t.Namespace != "" {
		root.add("namespace %s", t.Namespace)
	}
	if r := t.Reference; r != nil {
		n := root.add("reference %s", r.Normalised)
		n.add("registry    %s", r.Registry)
		n.add("repository  %s", r.Repository)
		n.add("tag         %s", orDash(r.Tag))
		n.add("digest      %s", orDash(r.Digest))
	} else {
		root.add("reference does not parse: %s", d.Reason)
	}

	rules := root.add("rules matching (most specific first)")
	if len(t.Rules) == 0 && t.Reference != nil {
		rules.label += ": none"
	}
	for _, r := range t.Rules {
		mark := "✗"
		if r.Chosen {
			mark = "✓"
		}
		n := rules.add("%s %q → validator %q%s", mark, r.Pattern, r.Validator, objectSuffix(r.Object))
		n.add("%s", r.Why)
		n.add("specificity: %s", specificityText(r.Specificity))
	}

	if len(t.Digests) == 0 && t.Reference != nil && t.Reference.Digest == "" && d.Outcome == verify.Static {
		root.add("digest: the tag was not resolved (a static rule decides without the network)")
	}
	if len(t.Digests) > 0 {
		dn := root.add("digest")
		for _, g := range t.Digests {
			if g.Error != "" {
				dn.add("%s (%s): %s", "not learnt", g.Resolver, g.Error)
				continue
			}
			dn.add("%s from %s", g.Digest, digestSource(g))
		}
	}

	for _, v := range t.Verifications {
		typ := ""
		if v.Type != "" {
			typ = ", " + v.Type
		}
		n := root.add("rule %q (validator %q%s)%s: %s", v.Rule, v.Validator, typ, objectSuffix(v.Object), verdict(v.Allowed, v.Outcome))
		if v.Cached {
			n.add("verification remembered from an earlier one (cache)")
		}
		if len(v.Platforms) == 0 {
			addChecks(n, v.Checks)
			addAttestations(n, v.Attestations)
		}
		// with.platforms: one node per manifest of the index checked.
		for _, p := range v.Platforms {
			what := "platform " + p.Platform
			if p.Platform == policy.PlatformIndex {
				what = "index"
			}
			pn := n.add("%s %s %s: %s", checkMark(p.Outcome == verify.Verified), what, p.Digest, p.Outcome)
			if p.Cached {
				pn.add("verification remembered from an earlier one (cache)")
			}
			addChecks(pn, p.Checks)
			addAttestations(pn, p.Attestations)
			if p.Reason != "" {
				pn.add("%s", p.Reason)
			}
		}
		if v.Reason != d.Reason {
			n.add("%s", v.Reason)
		}
	}

	out := root.add("decision: %s (mode %s)", verdict(d.Allowed, d.Outcome), d.Mode)
	if d.Rule != "" {
		out.add("rule %q, validator %q", d.Rule, d.Validator)
	}
	out.add("%s", d.Reason)
	if d.Pinned != "" {
		out.add("pinned: %s", d.Pinned)
	}
	return root
}

// addAttestations lists the outcome of each attestation requirement.
func addAttestations(n *node, as []verify.AttestationResult) {
	for _, a := range as {
		an := n.add("%s attestation %s (%s): %s", checkMark(a.Outcome == verify.Verified), a.Name, a.Type, a.Outcome)
		an.add("%s", a.Reason)
		if a.Source != "" {
			an.add("found at %s", a.Source)
		}
		if len(a.Signers) > 0 {
			an.add("signed by [%s]", strings.Join(a.Signers, ", "))
		}
	}
}

// addChecks lists checks under the trust root each tried, in the order
// the roots were first tried.
func addChecks(n *node, checks []verify.Check) {
	var roots []string
	for _, c := range checks {
		if !slices.Contains(roots, c.TrustRoot) {
			roots = append(roots, c.TrustRoot)
		}
	}
	for _, root := range roots {
		parent := n
		if root != "" && !strings.HasSuffix(root, "/") {
			parent = n.add("trust root %s", root)
		} else if root != "" {
			parent = n.add("validator %s", strings.TrimSuffix(root, "/"))
		}
		for _, c := range checks {
			if c.TrustRoot == root {
				addCheck(parent, c)
			}
		}
	}
}

func addCheck(n *node, c verify.Check) {
	what := cmp.Or(c.Kind, "step")
	switch {
	case strings.HasPrefix(c.Signature, what+" "):
		what = c.Signature // "attestation NAME: …" (attest names the requirement)
	case c.Signature != "":
		what += " " + c.Signature
	}
	if c.Source != "" {
		what += " (" + c.Source + ")"
	}
	cn := n.add("%s %s: %s", checkMark(c.Passed), what, c.Reason)
	if c.Signer != "" {
		cn.add("signer: %s", c.Signer)
	}
	if e := c.Evidence; e != nil {
		addEvidence(cn, e)
	}
}

func addEvidence(cn *node, e *verify.Evidence) {
	if e.Subject != "" {
		cn.add("certificate subject: %s", e.Subject)
	}
	if e.Issuer != "" {
		cn.add("OIDC issuer: %s", e.Issuer)
	}
	if e.CertificateIssuer != "" {
		cn.add("certificate issuer: %s", e.CertificateIssuer)
	}
	if e.LogIndex != nil {
		line := fmt.Sprintf("Rekor log index %d", *e.LogIndex)
		if e.IntegratedTime != nil {
			line += ", integrated " + e.IntegratedTime.UTC().Format(time.RFC3339)
		}
		cn.add("%s", line)
	}
	for _, ts := range e.Timestamps {
		cn.add("timestamp %s", ts.UTC().Format(time.RFC3339))
	}
}

func objectSuffix(o *policy.ObjectRef) string {
	if o == nil {
		return ""
	}
	return " in " + o.String()
}

func specificityText(s policy.Specificity) string {
	digest := "no digest"
	if s.Digest {
		digest = "names a digest"
	}
	return fmt.Sprintf("%s; path components: %d; literal prefixes: %v", digest, s.Components, s.LiteralPrefixes)
}

func digestSource(g policy.TraceDigest) string {
	switch g.Source {
	case policy.DigestFromReference:
		return "the reference (given by digest)"
	case policy.DigestFromCache:
		return "the tag cache (resolved earlier from the registry)"
	case policy.DigestFromTrustData:
		return g.Resolver
	}
	return "the registry (the tag resolved now)"
}

func verdict(allowed bool, o verify.Outcome) string {
	if allowed {
		return "allowed (" + string(o) + ")"
	}
	return "denied (" + string(o) + ")"
}

func checkMark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}
