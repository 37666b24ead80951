// Copyright 2017 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

// Package argon2id is golang.org/x/crypto/argon2 (v0.59.0, same licence,
// LICENSE here) reduced to Argon2id, with one change: a Hasher reuses the
// memory of its hashes instead of allocating it for every hash.
//
// Why: a desk hashes every password that arrives, and each hash at the
// OWASP cost allocates 19 MiB. Under the daemon's soft memory limit that
// garbage made the collector run after nearly every hash and the runtime
// hand the pages back to the kernel, so every hash page-faulted its 19 MiB
// in again; madoguchi bench measured about 30% of each hash lost to it.
// x/crypto has no API to pass the memory in (MinIO forked it for the same
// reason).
//
// Reused memory holds the previous hash's blocks, so the first pass writes
// every block (x/crypto XORs into freshly zeroed memory, which is the same
// thing); TestMatchesXCrypto checks the output against x/crypto.
package argon2id

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/blake2b"
)

// The Argon2 version implemented by this package.
const Version = 0x13

const (
	argon2d = iota
	argon2i
	argon2id
)

// Hasher derives Argon2id keys, keeping the memory of up to maxIdle hashes
// for the next ones until it has been idle for a while. It is safe for
// concurrent use.
type Hasher struct {
	idle chan buffer
	// made and freed count the buffers allocated and freed, for tests.
	made, freed atomic.Int64
	release     *time.Timer // empties idle once no hash has run for idleTime
	idleTime    time.Duration
}

// NewHasher returns a Hasher that keeps the memory of up to maxIdle hashes
// (the number that run at once) between calls, and lets it go once no hash
// has run for idleTime: a desk that is quiet for the night does not hold
// it.
func NewHasher(maxIdle int, idleTime time.Duration) *Hasher {
	h := &Hasher{idle: make(chan buffer, max(maxIdle, 0)), idleTime: idleTime}
	if maxIdle > 0 {
		h.release = time.AfterFunc(idleTime, h.drop)
	}
	return h
}

// Close lets the idle memory go now. The timer would hold it (and h) for
// up to idleTime after the last hash otherwise. h may still be used.
func (h *Hasher) Close() {
	if h.release != nil {
		h.release.Stop()
	}
	h.drop()
}

// drop lets the idle memory go.
func (h *Hasher) drop() {
	for {
		select {
		case b := <-h.idle:
			h.free(b)
		default:
			return
		}
	}
}

// IDKey is argon2.IDKey of golang.org/x/crypto: the Argon2id key of
// password and salt at the given costs (memory in KiB).
func (h *Hasher) IDKey(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	if time < 1 {
		panic("argon2: number of rounds too small")
	}
	if threads < 1 {
		panic("argon2: parallelism degree too low")
	}
	h0 := initHash(password, salt, nil, nil, time, memory, uint32(threads), keyLen, argon2id)

	memory = memory / (syncPoints * uint32(threads)) * (syncPoints * uint32(threads))
	if memory < 2*syncPoints*uint32(threads) {
		memory = 2 * syncPoints * uint32(threads)
	}
	buf := h.take(memory)
	defer h.give(buf)
	B := buf.blocks
	initBlocks(B, &h0, memory, uint32(threads))
	processBlocks(B, time, memory, uint32(threads), argon2id)
	return extractKey(B, memory, uint32(threads), keyLen)
}

// buffer is the memory of one hash. mapped is set when it lies outside the
// Go heap (mem_unix.go) and must be freed explicitly.
type buffer struct {
	blocks []block
	mapped []byte
}

// take returns memory for a hash: an idle one of that size, or a new one.
func (h *Hasher) take(memory uint32) buffer {
	for range cap(h.idle) {
		select {
		case b := <-h.idle:
			if uint32(len(b.blocks)) == memory {
				return b
			}
			// Another cost (a hash stored with older parameters): drop it.
			h.free(b)
		default:
			return h.newBuffer(memory)
		}
	}
	return h.newBuffer(memory)
}

func (h *Hasher) newBuffer(memory uint32) buffer {
	h.made.Add(1)
	return newBuffer(memory)
}

func (h *Hasher) free(b buffer) {
	h.freed.Add(1)
	b.free()
}

// give keeps b for the next hash, or frees it when enough are idle.
func (h *Hasher) give(b buffer) {
	select {
	case h.idle <- b:
	default:
		h.free(b)
	}
	if h.release != nil {
		h.release.Reset(h.idleTime)
	}
}

const (
	blockLength = 128
	blockBytes  = blockLength * 8
	syncPoints  = 4
)

type block [blockLength]uint64

func initHash(password, salt, key, data []byte, time, memory, threads, keyLen uint32, mode int) [blake2b.Size + 8]byte {
	var (
		h0     [blake2b.Size + 8]byte
		params [24]byte
		tmp    [4]byte
	)

	b2, _ := blake2b.New512(nil)
	binary.LittleEndian.PutUint32(params[0:4], threads)
	binary.LittleEndian.PutUint32(params[4:8], keyLen)
	binary.LittleEndian.PutUint32(params[8:12], memory)
	binary.LittleEndian.PutUint32(params[12:16], time)
	binary.LittleEndian.PutUint32(params[16:20], uint32(Version))
	binary.LittleEndian.PutUint32(params[20:24], uint32(mode))
	b2.Write(params[:])
	binary.LittleEndian.PutUint32(tmp[:], uint32(len(password)))
	b2.Write(tmp[:])
	b2.Write(password)
	binary.LittleEndian.PutUint32(tmp[:], uint32(len(salt)))
	b2.Write(tmp[:])
	b2.Write(salt)
	binary.LittleEndian.PutUint32(tmp[:], uint32(len(key)))
	b2.Write(tmp[:])
	b2.Write(key)
	binary.LittleEndian.PutUint32(tmp[:], uint32(len(data)))
	b2.Write(tmp[:])
	b2.Write(data)
	b2.Sum(h0[:0])
	return h0
}

func initBlocks(B []block, h0 *[blake2b.Size + 8]byte, memory, threads uint32) {
	var block0 [1024]byte
	for lane := uint32(0); lane < threads; lane++ {
		j := lane * (memory / threads)
		binary.LittleEndian.PutUint32(h0[blake2b.Size+4:], lane)

		binary.LittleEndian.PutUint32(h0[blake2b.Size:], 0)
		blake2bHash(block0[:], h0[:])
		for i := range B[j+0] {
			B[j+0][i] = binary.LittleEndian.Uint64(block0[i*8:])
		}

		binary.LittleEndian.PutUint32(h0[blake2b.Size:], 1)
		blake2bHash(block0[:], h0[:])
		for i := range B[j+1] {
			B[j+1][i] = binary.LittleEndian.Uint64(block0[i*8:])
		}
	}
}

func processBlocks(B []block, time, memory, threads uint32, mode int) {
	lanes := memory / threads
	segments := lanes / syncPoints

	processSegment := func(n, slice, lane uint32, wg *sync.WaitGroup) {
		var addresses, in, zero block
		if mode == argon2i || (mode == argon2id && n == 0 && slice < syncPoints/2) {
			in[0] = uint64(n)
			in[1] = uint64(lane)
			in[2] = uint64(slice)
			in[3] = uint64(memory)
			in[4] = uint64(time)
			in[5] = uint64(mode)
		}

		index := uint32(0)
		if n == 0 && slice == 0 {
			index = 2 // we have already generated the first two blocks
			if mode == argon2i || mode == argon2id {
				in[6]++
				processBlock(&addresses, &in, &zero)
				processBlock(&addresses, &addresses, &zero)
			}
		}

		offset := lane*lanes + slice*segments + index
		var random uint64
		for index < segments {
			prev := offset - 1
			if index == 0 && slice == 0 {
				prev += lanes // last block in lane
			}
			if mode == argon2i || (mode == argon2id && n == 0 && slice < syncPoints/2) {
				if index%blockLength == 0 {
					in[6]++
					processBlock(&addresses, &in, &zero)
					processBlock(&addresses, &addresses, &zero)
				}
				random = addresses[index%blockLength]
			} else {
				random = B[prev][0]
			}
			newOffset := indexAlpha(random, lanes, segments, threads, n, slice, lane, index)
			if n == 0 {
				// The memory may hold an earlier hash: the first pass writes.
				processBlock(&B[offset], &B[prev], &B[newOffset])
			} else {
				processBlockXOR(&B[offset], &B[prev], &B[newOffset])
			}
			index, offset = index+1, offset+1
		}
		wg.Done()
	}

	for n := uint32(0); n < time; n++ {
		for slice := uint32(0); slice < syncPoints; slice++ {
			var wg sync.WaitGroup
			for lane := uint32(0); lane < threads; lane++ {
				wg.Add(1)
				go processSegment(n, slice, lane, &wg)
			}
			wg.Wait()
		}
	}

}

func extractKey(B []block, memory, threads, keyLen uint32) []byte {
	lanes := memory / threads
	for lane := uint32(0); lane < threads-1; lane++ {
		for i, v := range B[(lane*lanes)+lanes-1] {
			B[memory-1][i] ^= v
		}
	}

	var block [1024]byte
	for i, v := range B[memory-1] {
		binary.LittleEndian.PutUint64(block[i*8:], v)
	}
	key := make([]byte, keyLen)
	blake2bHash(key, block[:])
	return key
}

func indexAlpha(rand uint64, lanes, segments, threads, n, slice, lane, index uint32) uint32 {
	refLane := uint32(rand>>32) % threads
	if n == 0 && slice == 0 {
		refLane = lane
	}
	m, s := 3*segments, ((slice+1)%syncPoints)*segments
	if lane == refLane {
		m += index
	}
	if n == 0 {
		m, s = slice*segments, 0
		if slice == 0 || lane == refLane {
			m += index
		}
	}
	if index == 0 || lane == refLane {
		m--
	}
	return phi(rand, uint64(m), uint64(s), refLane, lanes)
}

func phi(rand, m, s uint64, lane, lanes uint32) uint32 {
	p := rand & 0xFFFFFFFF
	p = (p * p) >> 32
	p = (p * m) >> 32
	return lane*lanes + uint32((s+m-(p+1))%uint64(lanes))
}
