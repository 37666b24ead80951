//go:build !unix

package argon2id

// BuffersOffHeap tells whether a hash's memory lies outside the Go heap.
const BuffersOffHeap = false

// newBuffer allocates the memory of a hash on the heap where it cannot be
// mapped outside it.
func newBuffer(n uint32) buffer { return buffer{blocks: make([]block, n)} }

func (b buffer) free() {}
