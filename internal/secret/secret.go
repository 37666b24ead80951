// Package secret hashes passwords with argon2id and checks them in
// constant time. Hashes are stored in the PHC string format so that the
// cost can be raised later without breaking the hashes already stored.
package secret

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id costs.
type Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// DefaultParams follow OWASP's argon2id minimum (19 MiB, t=2, p=1): about
// 20-30 ms of one core. The desk hashes the forms ahead of their turn on
// the spare cores (intake.Preparer), so one lane per hash keeps every
// core busy without the lanes' synchronisation.
func DefaultParams() Params { return Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1} }

const keyLen = 32

var b64 = base64.RawStdEncoding

// Hasher hashes and verifies passwords at one cost. It lets as many
// hashes run at once as the machine has cores, plus one for the desk's own
// turn: each takes its 19 MiB for its duration, so the bound on hashes in
// flight is the bound on their memory. A desk keeps one for all its
// hashing; the desks of one daemon share one.
type Hasher struct {
	params Params
	slots  chan struct{}
}

// NewHasher returns a Hasher at cost p.
func NewHasher(p Params) *Hasher {
	return &Hasher{params: p, slots: make(chan struct{}, runtime.NumCPU()+1)}
}

// InFlightBytes is the most memory the hashes of a Hasher at cost p hold
// at once: the process's memory settings leave room for it.
func InFlightBytes(p Params) int64 {
	return int64(runtime.NumCPU()+1) * int64(p.MemoryKiB) << 10
}

// Params returns the cost of the hashes h makes.
func (h *Hasher) Params() Params { return h.params }

func (h *Hasher) idKey(password, salt []byte, p Params, keyLen uint32) []byte {
	h.slots <- struct{}{}
	defer func() { <-h.slots }()
	return argon2.IDKey(password, salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
}

// Hash returns the PHC-format argon2id hash of password with a fresh salt.
func (h *Hasher) Hash(password string) (string, error) {
	p := h.params
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	key := h.idKey([]byte(password), salt, p, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Hash hashes once at cost p, with memory of its own: for a single hash
// (the command line, tests). A desk keeps a Hasher.
func Hash(password string, p Params) (string, error) {
	return NewHasher(p).Hash(password)
}

// Verify reports whether password matches the stored hash, at the
// stored hash's own cost.
func Verify(password, encoded string) (bool, error) {
	return NewHasher(Params{}).Verify(password, encoded)
}

// ErrMalformed means a stored hash cannot be read.
var ErrMalformed = errors.New("malformed argon2id hash")

// Verify reports whether password matches the stored hash, at the
// stored hash's own cost.
func (h *Hasher) Verify(password, encoded string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrMalformed
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrMalformed
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return false, ErrMalformed
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, ErrMalformed
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, ErrMalformed
	}
	got := h.idKey([]byte(password), salt, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
