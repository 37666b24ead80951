package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// A sensitive notice (an access code, an initial password, a one-time URL)
// is sealed before it is written, so its secret never reaches the database
// file, its WAL or a backup in clear text. The key lives in a file beside
// the database, never in it.

// keySize is the AES-256 key length.
const keySize = 32

// sealedPrefix marks a sealed column value; the version lets a later format
// coexist with rows written by this one.
const sealedPrefix = "sealed:v1:"

// errSealBroken means a sealed value cannot be opened: the key is not the
// one it was sealed with, or the value was altered or moved to another row.
var errSealBroken = errors.New("sealed with a key that is gone (or the sealed text was altered); not sent")

// sealer seals and opens the sensitive columns of outbox rows.
type sealer struct {
	aead cipher.AEAD
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != keySize {
		return nil, fmt.Errorf("seal key: %d bytes, want %d", len(key), keySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	// A random 96-bit nonce per value is safe far beyond the number of
	// notices a desk will ever seal under one key.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// sealContext binds a sealed value to its row and column: a value copied to
// another row (another message ID) or column does not open.
func sealContext(messageID, column string) []byte {
	return []byte("madoguchi outbox " + sealedPrefix + column + "\x00" + messageID)
}

// seal returns plaintext sealed for the column of the row with messageID.
func (s *sealer) seal(messageID, column, plaintext string) string {
	ct := s.aead.Seal(nil, nil, []byte(plaintext), sealContext(messageID, column))
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(ct)
}

// open returns the plaintext of a value written by seal. A value without
// the prefix was written before sealing existed and is returned as is.
func (s *sealer) open(messageID, column, value string) (string, error) {
	if !isSealed(value) {
		return value, nil
	}
	ct, err := base64.RawStdEncoding.DecodeString(value[len(sealedPrefix):])
	if err != nil {
		return "", errSealBroken
	}
	pt, err := s.aead.Open(nil, nil, ct, sealContext(messageID, column))
	if err != nil {
		return "", errSealBroken
	}
	return string(pt), nil
}

func isSealed(value string) bool { return strings.HasPrefix(value, sealedPrefix) }

// randomKey makes a key that lives only as long as the process, for
// databases that do too (":memory:").
func randomKey() []byte {
	key := make([]byte, keySize)
	rand.Read(key) // never fails (crypto/rand since Go 1.24)
	return key
}

// loadOrCreateKey reads the seal key at path, making it on first use.
// created reports that a new key was made.
func loadOrCreateKey(path string) (key []byte, created bool, err error) {
	key, err = readKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	key = randomKey()
	if err := createKeyFile(path, key); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return nil, false, err
		}
		// Another process opening the same fresh database won the race:
		// use its key.
		key, err = readKey(path)
		return key, false, err
	}
	return key, true, nil
}

func readKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	if len(key) != keySize {
		// Never replaced silently: a new key would make every sealed
		// notice unreadable.
		return nil, fmt.Errorf("key file %s: %d bytes, want %d", path, len(key), keySize)
	}
	if err := makePrivate(path); err != nil {
		return nil, err
	}
	return key, nil
}

// createKeyFile writes key to a private temporary file and links it to
// path. The link publishes the whole key at once and, like O_EXCL, fails
// when path exists, so no process ever reads a half-written key and two
// processes never use different keys.
func createKeyFile(path string, key []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".new-*") // mode 0600
	if err != nil {
		return fmt.Errorf("create key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(key)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("create key file: %w", err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// syncDir makes a new directory entry durable; best effort, as some systems
// cannot sync a directory.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// makePrivate takes group and world access away from an existing file.
func makePrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("check mode of %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("make %s private: %w", path, err)
	}
	return nil
}
