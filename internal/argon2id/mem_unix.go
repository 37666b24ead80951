//go:build unix

package argon2id

import (
	"syscall"
	"unsafe"
)

// BuffersOffHeap tells whether a hash's memory lies outside the Go heap.
const BuffersOffHeap = true

// newBuffer maps the memory of a hash outside the Go heap. A desk keeps
// one 19 MiB buffer per core between its hashes; on the heap they counted
// towards the collector's goal, so under the daemon's soft memory limit
// the collector ran after every few megabytes the rest of the program
// allocated (madoguchi bench: about 20 cycles a second). The kernel hands
// out zeroed pages, and blocks hold no Go pointers.
func newBuffer(n uint32) buffer {
	raw, err := syscall.Mmap(-1, 0, int(n)*blockBytes, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		// Out of address space or over a ulimit: the heap may still have
		// room, and fails in the usual way if not.
		return buffer{blocks: make([]block, n)}
	}
	return buffer{blocks: unsafe.Slice((*block)(unsafe.Pointer(unsafe.SliceData(raw))), n), mapped: raw}
}

// free unmaps a mapped buffer at once; b must not be used again. A buffer
// from the heap is left to the collector.
func (b buffer) free() {
	if b.mapped != nil {
		_ = syscall.Munmap(b.mapped)
	}
}
