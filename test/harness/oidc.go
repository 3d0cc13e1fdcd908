package harness

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"
)

// OIDCClientID is the audience of the ID tokens OIDC mints: the client ID
// Fulcio expects for a Sigstore deployment.
const OIDCClientID = "sigstore"

// OIDC is a minimal OpenID Connect issuer for Fulcio: a discovery
// document, a JWKS with one RSA key, and /token?email=ADDR minting RS256 ID
// tokens for that (verified) address. It runs in-process on loopback; it
// authenticates nobody, which is the point: tests choose the identity.
type OIDC struct {
	// URL is the issuer URL, the iss claim of its tokens:
	// http://127.0.0.1:PORT.
	URL string
	key *rsa.PrivateKey
	kid string
}

// StartOIDC serves an OIDC issuer until the test ends.
func StartOIDC(t testing.TB) *OIDC {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(key.N.Bytes())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &OIDC{URL: "http://" + ln.Addr().String(), key: key, kid: base64.RawURLEncoding.EncodeToString(sum[:8])}
	srv := &http.Server{Handler: o.handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return o
}

func (o *OIDC) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                                o.URL,
			"jwks_uri":                              o.URL + "/keys",
			"authorization_endpoint":                o.URL + "/auth",
			"token_endpoint":                        o.URL + "/token",
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"claims_supported":                      []string{"iss", "sub", "aud", "exp", "iat", "email", "email_verified"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, _ *http.Request) {
		pub := o.key.PublicKey
		writeJSON(w, map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "alg": "RS256", "use": "sig", "kid": o.kid,
			"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		}}})
	})
	mux.HandleFunc("GET /token", func(w http.ResponseWriter, r *http.Request) {
		email := r.URL.Query().Get("email")
		if email == "" {
			http.Error(w, "token: the email query parameter is required", http.StatusBadRequest)
			return
		}
		tok, err := o.mint(email, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/jwt")
		w.Write([]byte(tok))
	})
	return mux
}

// Token mints an ID token for email, valid for ten minutes.
func (o *OIDC) Token(t testing.TB, email string) string {
	t.Helper()
	tok, err := o.mint(email, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// mint signs a compact JWS (RFC 7515) with RS256: base64url(header) "."
// base64url(claims) "." base64url(RSASSA-PKCS1-v1_5(SHA-256)).
func (o *OIDC) mint(email string, now time.Time) (string, error) {
	if email == "" {
		return "", errors.New("minting an ID token: no email")
	}
	seg := func(v any) (string, error) {
		b, err := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b), err
	}
	h, err := seg(map[string]string{"alg": "RS256", "typ": "JWT", "kid": o.kid})
	if err != nil {
		return "", err
	}
	c, err := seg(map[string]any{
		"iss": o.URL, "sub": email, "aud": OIDCClientID,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		"email": email, "email_verified": true,
	})
	if err != nil {
		return "", err
	}
	digest := sha256.Sum256([]byte(h + "." + c))
	sig, err := rsa.SignPKCS1v15(rand.Reader, o.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	return h + "." + c + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
