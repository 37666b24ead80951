package secret

import (
	"strings"
	"testing"
)

// cheap keeps the tests fast; the format and comparison are what is tested.
var cheap = Params{MemoryKiB: 64, Time: 1, Threads: 1}

func TestHashVerify(t *testing.T) {
	h, err := Hash("Tk7#mountain", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h, "Tk7#mountain") || !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("unexpected hash form %q", h)
	}
	for _, tc := range []struct {
		password string
		want     bool
	}{{"Tk7#mountain", true}, {"Tk7#mountaiN", false}, {"", false}} {
		ok, err := Verify(tc.password, h)
		if err != nil || ok != tc.want {
			t.Errorf("Verify(%q) = %v, %v; want %v", tc.password, ok, err, tc.want)
		}
	}
	h2, _ := Hash("Tk7#mountain", cheap)
	if h2 == h {
		t.Error("two hashes of one password are equal: salt not random")
	}
}

func TestVerifyMalformed(t *testing.T) {
	for _, enc := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=x$AAAA$AAAA", "$argon2id$v=19$m=64,t=1,p=1$!!$AAAA"} {
		if _, err := Verify("x", enc); err == nil {
			t.Errorf("Verify accepted malformed %q", enc)
		}
	}
}
