package auditlog

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"

	"github.com/signet-dev/signet/internal/keysource"
)

// Line types.
const (
	TypeGenesis    = "genesis"
	TypeRotate     = "rotate"
	TypeDecision   = "decision"
	TypeCheckpoint = "checkpoint"
)

// MaxLineBytes bounds one line of the log, "\n" included. A decision
// whose record is longer loses images from its end (counted in
// omittedImages) until it fits.
const MaxLineBytes = 256 << 10

// Line is one line of the audit log.
type Line struct {
	Seq  uint64 `json:"seq"`
	Prev string `json:"prev"`
	Time string `json:"time"` // RFC 3339 with nanoseconds, UTC
	Type string `json:"type"`

	Genesis       *Genesis       `json:"genesis,omitempty"`
	Rotate        *Rotate        `json:"rotate,omitempty"`
	Decision      jsontext.Value `json:"decision,omitempty"`
	OmittedImages int            `json:"omittedImages,omitempty"`
	Checkpoint    *Checkpoint    `json:"checkpoint,omitempty"`
}

// Genesis names the process that starts writing.
type Genesis struct {
	Instance           string    `json:"instance"`
	Start              time.Time `json:"start"`
	CheckpointLines    int       `json:"checkpointLines,omitempty"`
	CheckpointInterval string    `json:"checkpointInterval,omitempty"`
	KeyID              string    `json:"keyId,omitempty"`
}

// Rotate names the file the chain continues from.
type Rotate struct {
	Previous string `json:"previous"`
}

// Checkpoint is a signed statement of the chain's length and head.
type Checkpoint struct {
	Count     uint64 `json:"count"`
	Head      string `json:"head"`
	KeyID     string `json:"keyId"`
	Signature []byte `json:"signature"` // standard base64 in JSON
}

// Hash is the chain hash of a line: the hex SHA-256 of its bytes without
// the trailing newline.
func Hash(line []byte) string {
	sum := sha256.Sum256(bytes.TrimSuffix(line, []byte("\n")))
	return hex.EncodeToString(sum[:])
}

// CheckpointMessage is the bytes a checkpoint's signature covers. t is
// the line's time field as written (RFC 3339, UTC).
func CheckpointMessage(count uint64, head, t string) []byte {
	return []byte("signet-audit-checkpoint-v1\n" + strconv.FormatUint(count, 10) + "\n" + head + "\n" + t + "\n")
}

// ParseLine decodes one line (without its newline). Unknown fields,
// duplicate names and a type without its object are errors.
func ParseLine(b []byte) (*Line, error) {
	if len(b) >= MaxLineBytes {
		return nil, fmt.Errorf("line of %d bytes, more than %d", len(b), MaxLineBytes-1)
	}
	var l Line
	if err := json.Unmarshal(b, &l, json.RejectUnknownMembers(true)); err != nil {
		return nil, err
	}
	if l.Prev != "" {
		if _, err := hex.DecodeString(l.Prev); err != nil || len(l.Prev) != 2*sha256.Size {
			return nil, fmt.Errorf("prev %q is not a SHA-256", l.Prev)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, l.Time); err != nil {
		return nil, fmt.Errorf("time: %w", err)
	}
	ok := false
	switch l.Type {
	case TypeGenesis:
		ok = l.Genesis != nil
	case TypeRotate:
		ok = l.Rotate != nil
	case TypeDecision:
		ok = len(l.Decision) > 0
	case TypeCheckpoint:
		ok = l.Checkpoint != nil
	default:
		return nil, fmt.Errorf("unknown line type %q", l.Type)
	}
	if !ok {
		return nil, fmt.Errorf("%s line without its %q object", l.Type, l.Type)
	}
	return &l, nil
}

// timeField is the time as the writer encodes it and the checkpoint
// message names it.
func timeField(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// LoadSigner loads the checkpoint signing key: a PEM private key file
// (Ed25519 or ECDSA: PKCS#8, SEC 1, or encrypted — PKCS#8 or cosign's
// format — with password, nil for none) or a KMS reference (awskms://,
// gcpkms://, azurekms://, hashivault://, through sigstore's KMS
// providers, which must be linked in).
func LoadSigner(ctx context.Context, ref string, password []byte) (signature.Signer, string, error) {
	var s signature.SignerVerifier
	if strings.HasPrefix(ref, keysource.SecretScheme) {
		return nil, "", errKeyRef
	}
	if isKMS(ref) {
		k, err := kms.Get(ctx, ref, crypto.SHA256)
		if err != nil {
			return nil, "", fmt.Errorf("audit key %s: %w", ref, err)
		}
		s = k
	} else {
		b, err := os.ReadFile(ref)
		if err != nil {
			return nil, "", fmt.Errorf("audit key: %w", err)
		}
		pf := cryptoutils.SkipPassword
		if password != nil {
			pf = cryptoutils.StaticPasswordFunc(password)
		}
		priv, err := cryptoutils.UnmarshalPEMToPrivateKey(b, pf)
		if err != nil {
			return nil, "", fmt.Errorf("audit key %s: %w", ref, err)
		}
		switch priv.(type) {
		case ed25519.PrivateKey, *ecdsa.PrivateKey:
		default:
			return nil, "", fmt.Errorf("audit key %s: want an Ed25519 or ECDSA private key, got %T", ref, priv)
		}
		if s, err = signature.LoadSignerVerifier(priv, crypto.SHA256); err != nil {
			return nil, "", fmt.Errorf("audit key %s: %w", ref, err)
		}
	}
	return withKeyID(s, "audit key "+ref)
}

// withKeyID returns v with its key id (keysource.Fingerprint).
func withKeyID[V signature.Verifier](v V, what string) (V, string, error) {
	id, err := keysource.Fingerprint(v)
	if err != nil {
		var zero V
		return zero, "", fmt.Errorf("%s: %w", what, err)
	}
	return v, id, nil
}

// LoadVerifier loads a checkpoint verification key: a PEM public key
// file, or a KMS reference.
func LoadVerifier(ctx context.Context, ref string) (signature.Verifier, string, error) {
	var v signature.Verifier
	if isKMS(ref) {
		k, err := kms.Get(ctx, ref, crypto.SHA256)
		if err != nil {
			return nil, "", fmt.Errorf("key %s: %w", ref, err)
		}
		v = k
	} else {
		b, err := os.ReadFile(ref)
		if err != nil {
			return nil, "", fmt.Errorf("key: %w", err)
		}
		pub, err := cryptoutils.UnmarshalPEMToPublicKey(b)
		if err != nil {
			return nil, "", fmt.Errorf("key %s: %w", ref, err)
		}
		if v, err = signature.LoadVerifier(pub, crypto.SHA256); err != nil {
			return nil, "", fmt.Errorf("key %s: %w", ref, err)
		}
	}
	return withKeyID(v, "key "+ref)
}

func isKMS(ref string) bool {
	for _, s := range keysource.KMSSchemes {
		if strings.HasPrefix(ref, s) {
			return true
		}
	}
	return false
}

// errKeyRef is returned for a k8s:// key: mount the Secret as a file.
var errKeyRef = errors.New("a k8s:// audit key is not read through the API: mount the Secret as a file and name the file")
