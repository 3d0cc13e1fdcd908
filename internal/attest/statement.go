package attest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
)

// In-toto Statement _type values signet accepts: v0.1 (cosign v1/v2 attest)
// and v1 (cosign v3, the in-toto attestation framework's current version).
const (
	StatementTypeV01 = "https://in-toto.io/Statement/v0.1"
	StatementTypeV1  = "https://in-toto.io/Statement/v1"
)

const (
	// MaxStatementBytes bounds one Statement (the DSSE payload, decoded). A
	// 50 MiB SBOM fits; anything larger is refused before it is parsed.
	MaxStatementBytes = 64 << 20
	// MaxSubjects bounds the subjects of one Statement. An image attestation
	// names one; build provenance for many artifacts a few hundred.
	MaxSubjects = 1024
	// MaxDigestsPerSubject bounds the digest algorithms of one subject.
	MaxDigestsPerSubject = 16
	// MaxSubjectBytes bounds the JSON of one subject (its name and digests).
	MaxSubjectBytes = 16 << 10
)

// Statement is a parsed in-toto Statement. The predicate is kept as the
// bytes of the payload (validated, never decoded by ParseStatement) and is
// indexed only when a condition reads it, once per Statement.
type Statement struct {
	Type          string // _type
	PredicateType string
	Subjects      []Subject

	predicate []byte // the predicate's JSON, aliasing the payload; nil when absent

	mu   sync.Mutex // guards tape while it is built
	tape *tape
}

// Subject is one subject of a Statement: a name and its digests by algorithm
// ("sha256" → lowercase hex).
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// ParseStatement parses and validates an in-toto Statement: a JSON object
// with a known _type, a predicateType, at least one subject with a digest,
// and an optional predicate. The whole payload must be valid JSON (UTF-8, no
// duplicate object names, so that no two readers of one signed payload can
// see different values). The Statement keeps a reference to payload: the
// caller must not modify it afterwards.
func ParseStatement(payload []byte) (*Statement, error) {
	if len(payload) > MaxStatementBytes {
		return nil, fmt.Errorf("in-toto statement: %d bytes is over the limit of %d", len(payload), MaxStatementBytes)
	}
	st := &Statement{}
	dec := jsontext.NewDecoder(bytes.NewBuffer(payload))
	if tok, err := dec.ReadToken(); err != nil {
		return nil, fmt.Errorf("in-toto statement: not JSON: %w", err)
	} else if tok.Kind() != '{' {
		return nil, fmt.Errorf("in-toto statement: not a JSON object")
	}
	var haveType, havePredicateType, haveSubject bool
	for dec.PeekKind() == '"' {
		name, err := dec.ReadToken()
		if err != nil {
			return nil, fmt.Errorf("in-toto statement: %w", err)
		}
		switch name.String() {
		case "_type":
			haveType = true
			st.Type, err = readString(dec, "_type")
		case "predicateType":
			havePredicateType = true
			st.PredicateType, err = readString(dec, "predicateType")
		case "subject":
			haveSubject = true
			st.Subjects, err = readSubjects(dec)
		case "predicate":
			var v jsontext.Value
			v, err = dec.ReadValue()
			if err == nil && v.Kind() != 'n' {
				st.predicate = v
			}
		default: // in-toto: consumers ignore unknown fields
			err = dec.SkipValue()
		}
		if err != nil {
			return nil, fmt.Errorf("in-toto statement: %w", err)
		}
	}
	if _, err := dec.ReadToken(); err != nil { // '}'
		return nil, fmt.Errorf("in-toto statement: %w", err)
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, fmt.Errorf("in-toto statement: data after the JSON object")
	}
	switch {
	case !haveType:
		return nil, errors.New("in-toto statement: no _type")
	case st.Type != StatementTypeV01 && st.Type != StatementTypeV1:
		return nil, fmt.Errorf("in-toto statement: _type %q is not %s or %s", st.Type, StatementTypeV01, StatementTypeV1)
	case !havePredicateType || st.PredicateType == "":
		return nil, errors.New("in-toto statement: no predicateType")
	case !haveSubject || len(st.Subjects) == 0:
		return nil, errors.New("in-toto statement: no subject")
	}
	return st, nil
}

func readString(dec *jsontext.Decoder, field string) (string, error) {
	if k := dec.PeekKind(); k != '"' {
		if k == 0 {
			_, err := dec.ReadToken()
			return "", err
		}
		return "", fmt.Errorf("%s is not a string", field)
	}
	tok, err := dec.ReadToken()
	return tok.String(), err
}

func readSubjects(dec *jsontext.Decoder) ([]Subject, error) {
	if k := dec.PeekKind(); k != '[' {
		if k == 0 {
			_, err := dec.ReadToken()
			return nil, err
		}
		return nil, errors.New("subject is not a list")
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, err
	}
	var subjects []Subject
	for dec.PeekKind() != ']' {
		if len(subjects) == MaxSubjects {
			return nil, fmt.Errorf("more than %d subjects", MaxSubjects)
		}
		v, err := dec.ReadValue()
		if err != nil {
			return nil, err
		}
		i := len(subjects)
		if len(v) > MaxSubjectBytes {
			return nil, fmt.Errorf("subject[%d]: %d bytes is over the limit of %d", i, len(v), MaxSubjectBytes)
		}
		if v.Kind() != '{' {
			return nil, fmt.Errorf("subject[%d] is not an object", i)
		}
		var s Subject
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, fmt.Errorf("subject[%d]: %w", i, err)
		}
		if len(s.Digest) == 0 {
			return nil, fmt.Errorf("subject[%d] has no digest", i)
		}
		if len(s.Digest) > MaxDigestsPerSubject {
			return nil, fmt.Errorf("subject[%d] has more than %d digests", i, MaxDigestsPerSubject)
		}
		subjects = append(subjects, s)
	}
	_, err := dec.ReadToken() // ']'
	return subjects, err
}

// Names reports whether a subject of the Statement carries digest, given as
// "algorithm:hex" ("sha256:…"): the subject's digest for that algorithm
// must equal the hex (case-insensitively). A malformed digest names nothing.
func (s *Statement) Names(digest string) bool {
	alg, hex, ok := strings.Cut(digest, ":")
	if !ok || alg == "" || hex == "" {
		return false
	}
	for _, sub := range s.Subjects {
		if d, ok := sub.Digest[alg]; ok && strings.EqualFold(d, hex) {
			return true
		}
	}
	return false
}

// index returns the Statement's predicate index (nil without a
// predicate), building it on first use. A build stopped by ctx is not
// kept: the next caller starts again.
func (s *Statement) index(ctx context.Context) (*tape, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tape == nil && s.predicate != nil {
		t, err := buildTape(ctx, s.predicate)
		if err != nil {
			return nil, err
		}
		s.tape = t
	}
	return s.tape, nil
}
