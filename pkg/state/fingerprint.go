package state

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// FingerprintKey keys the fingerprints of what holds a secret: the body of
// a sensitive script or of one with fromEnv variables, and each such
// variable's value. A bare SHA-256 of a short secret gives it back (the
// 10,000 four-digit PINs take no time to try), and the state file and
// saved plans are committed; an HMAC-SHA256 with a key the repository does
// not hold gives nothing back.
//
// The key is derived from a secret psync already has (the API key, or
// PSYNC_FINGERPRINT_KEY, see cmd/psync): never stored, and identified in
// the state by KeyID so that a plan can tell "fingerprinted with another
// key" from "changed". When the key changes, only the scripts
// fingerprinted with it are pushed again, once.
type FingerprintKey struct {
	key [32]byte
	id  string
}

// NewFingerprintKey derives the key from secret (non-empty). The
// derivation is one HMAC with a fixed label, so the key is not the secret
// itself and its id reveals nothing about either.
func NewFingerprintKey(secret string) FingerprintKey {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("psync fingerprint key v1"))
	var k FingerprintKey
	copy(k.key[:], m.Sum(nil))
	k.id = k.sum("key-id", "")[:16]
	return k
}

// IsZero reports whether the key was never derived.
func (k FingerprintKey) IsZero() bool { return k.id == "" }

// ID identifies the key (16 hex digits of an HMAC of a fixed label).
func (k FingerprintKey) ID() string { return k.id }

// Body is the keyed fingerprint of a body that holds a secret.
func (k FingerprintKey) Body(body string) string { return k.sum("body", body) }

// Secret is the keyed fingerprint of one variable's value. The variable's
// name is part of it, so equal values of two variables do not look alike.
func (k FingerprintKey) Secret(name, value string) string { return k.sum("secret\x00"+name, value) }

// sum is HMAC-SHA256(key, domain NUL data), hex.
func (k FingerprintKey) sum(domain, data string) string {
	m := hmac.New(sha256.New, k.key[:])
	m.Write([]byte(domain))
	m.Write([]byte{0})
	m.Write([]byte(data))
	return hex.EncodeToString(m.Sum(nil))
}

// String hides the key.
func (k FingerprintKey) String() string { return "state.FingerprintKey{" + k.id + "}" }

// GoString hides the key.
func (k FingerprintKey) GoString() string { return k.String() }
