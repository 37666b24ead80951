package argon2id

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

type costs struct {
	time, memory uint32
	threads      uint8
	keyLen       uint32
}

var costTable = []costs{
	{1, 64, 1, 32},
	{2, 64, 2, 16},
	{3, 256, 4, 64},
	{2, 19 * 1024, 1, 32}, // secret.DefaultParams
	{1, 1000, 3, 32},      // memory not a multiple of 4*threads
	{4, 8, 1, 32},         // below the minimum of 2*4*threads blocks
}

// The Hasher gives x/crypto's key for every cost, with its memory reused
// across hashes of different passwords and sizes (memory left dirty by
// the previous hash must not change the next key).
func TestMatchesXCrypto(t *testing.T) {
	h := NewHasher(2, time.Minute)
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 3; round++ {
		for _, c := range costTable {
			password := make([]byte, rng.IntN(40))
			salt := make([]byte, 8+rng.IntN(24))
			for i := range password {
				password[i] = byte(rng.Uint32())
			}
			for i := range salt {
				salt[i] = byte(rng.Uint32())
			}
			want := argon2.IDKey(password, salt, c.time, c.memory, c.threads, c.keyLen)
			got := h.IDKey(password, salt, c.time, c.memory, c.threads, c.keyLen)
			if !bytes.Equal(got, want) {
				t.Fatalf("round %d, costs %+v: key %x, x/crypto %x", round, c, got, want)
			}
		}
	}
}

// The Argon2id v1.3 vector of the reference implementation's tests
// (phc-winner-argon2 src/test.c: t=2, m=2^16, p=1, "password", "somesalt").
func TestKnownVector(t *testing.T) {
	got := NewHasher(1, time.Minute).IDKey([]byte("password"), []byte("somesalt"), 2, 65536, 1, 32)
	const want = "09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7"
	if hex.EncodeToString(got) != want {
		t.Fatalf("key %x, want %s", got, want)
	}
}

// Concurrent hashes never share memory: each gets x/crypto's key.
func TestConcurrentHashes(t *testing.T) {
	h := NewHasher(2, time.Minute)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				pw := []byte(fmt.Sprintf("pw-%d-%d", g, i))
				salt := []byte("0123456789abcdef")
				if got, want := h.IDKey(pw, salt, 2, 512, 1, 32), argon2.IDKey(pw, salt, 2, 512, 1, 32); !bytes.Equal(got, want) {
					errs <- fmt.Errorf("goroutine %d hash %d: %x, want %x", g, i, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// Memory is kept for up to maxIdle hashes and reused: ten hashes make one
// buffer, and a Hasher that keeps nothing makes and frees one per hash.
// On unix the buffers lie outside the Go heap.
func TestMemoryIsReused(t *testing.T) {
	h := NewHasher(1, time.Minute)
	pw, salt := []byte("pw"), []byte("0123456789abcdef")
	before := totalAlloc()
	for i := 0; i < 10; i++ {
		h.IDKey(pw, salt, 1, 1024, 1, 32)
	}
	if made, freed := h.made.Load(), h.freed.Load(); made != 1 || freed != 0 {
		t.Errorf("10 hashes with reused memory made %d buffers and freed %d, want 1 and 0", made, freed)
	}
	grown := totalAlloc() - before
	if BuffersOffHeap && grown > 512<<10 {
		t.Errorf("10 hashes of 1 MiB allocated %d bytes of Go heap; their memory belongs outside it", grown)
	}
	h.Close()
	if freed := h.freed.Load(); freed != 1 {
		t.Errorf("Close freed %d buffers, want 1", freed)
	}

	once := NewHasher(0, time.Minute)
	for i := 0; i < 3; i++ {
		once.IDKey(pw, salt, 1, 1024, 1, 32)
	}
	if made, freed := once.made.Load(), once.freed.Load(); made != 3 || freed != 3 {
		t.Errorf("a Hasher that keeps nothing made %d buffers and freed %d for 3 hashes, want 3 and 3", made, freed)
	}
}

func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// Idle memory is let go once no hash has run for the idle time.
func TestIdleMemoryIsReleased(t *testing.T) {
	h := NewHasher(2, 20*time.Millisecond)
	h.IDKey([]byte("pw"), []byte("0123456789abcdef"), 1, 64, 1, 32)
	if len(h.idle) != 1 {
		t.Fatalf("%d idle buffers after one hash, want 1", len(h.idle))
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(h.idle) != 0 || h.freed.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("idle memory still held 5 s after the last hash")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkIDKey compares the OWASP cost with reused memory and with
// x/crypto's fresh memory per hash.
func BenchmarkIDKey(b *testing.B) {
	pw, salt := []byte("Vb4nRt8wQ#z"), []byte("0123456789abcdef")
	b.Run("reused", func(b *testing.B) {
		h := NewHasher(1, time.Minute)
		b.ReportAllocs()
		for b.Loop() {
			h.IDKey(pw, salt, 2, 19*1024, 1, 32)
		}
	})
	b.Run("x-crypto", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			argon2.IDKey(pw, salt, 2, 19*1024, 1, 32)
		}
	})
}
