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
	"time"

	"github.com/madoguchi/madoguchi/internal/argon2id"
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

// Hasher hashes and verifies passwords at one cost, reusing the memory of
// its hashes (internal/argon2id): a desk keeps one for all its hashing.
type Hasher struct {
	params Params
	mem    *argon2id.Hasher
}

// idleRelease is how long a Hasher keeps the memory of its hashes after
// the last one.
const idleRelease = time.Minute

// NewHasher returns a Hasher at cost p that keeps the memory of as many
// hashes as run at once on this machine: one per core, plus one for the
// desk's own turn.
func NewHasher(p Params) *Hasher {
	return &Hasher{params: p, mem: argon2id.NewHasher(runtime.NumCPU()+1, idleRelease)}
}

// OffHeapBytes is the memory a Hasher at cost p keeps between hashes
// outside the Go heap: one hash's memory per core plus one where it can be
// mapped outside the heap (internal/argon2id), else none. A soft memory
// limit for the process leaves it out of the heap's share.
func OffHeapBytes(p Params) int64 {
	if !argon2id.BuffersOffHeap {
		return 0
	}
	return int64(runtime.NumCPU()+1) * int64(p.MemoryKiB) << 10
}

// Close lets the memory kept for the next hashes go now, instead of a
// minute after the last one. h may still be used.
func (h *Hasher) Close() { h.mem.Close() }

// Params returns the cost of the hashes h makes.
func (h *Hasher) Params() Params { return h.params }

// Hash returns the PHC-format argon2id hash of password with a fresh salt.
func (h *Hasher) Hash(password string) (string, error) {
	p := h.params
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	key := h.mem.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2id.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Hash hashes once at cost p, with memory of its own: for a single hash
// (the command line, tests). A desk keeps a Hasher.
func Hash(password string, p Params) (string, error) {
	return (&Hasher{params: p, mem: argon2id.NewHasher(0, 0)}).Hash(password)
}

// Verify reports whether password matches the stored hash, at the
// stored hash's own cost.
func Verify(password, encoded string) (bool, error) {
	return (&Hasher{mem: argon2id.NewHasher(0, 0)}).Verify(password, encoded)
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
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2id.Version {
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
	got := h.mem.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
