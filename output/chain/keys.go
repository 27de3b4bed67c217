package chain

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vigilsec/vigil/internal/fsperm"
)

// Key files in a key directory.
const (
	SignKeyFile = "sign.key" // Ed25519 private key (seed, hex), 0600
	PubKeyFile  = "sign.pub" // Ed25519 public key (hex), 0644
	MACKeyFile  = "mac.key"  // {"epoch": N, "key": hex} — the current epoch's MAC key, 0600
	MACKey0File = "mac0.key" // the initial MAC key, written by Keygen for escrow; move it off the host
)

// macKeySize is the size of an epoch's HMAC-SHA256 key.
const macKeySize = 32

// EvolveKey derives the next epoch's MAC key from this one. The step is
// one-way (HKDF-SHA256), so a key reveals nothing of earlier keys.
func EvolveKey(k []byte) []byte {
	next, err := hkdf.Key(sha256.New, k, nil, "vigil chain epoch key v1", macKeySize)
	if err != nil {
		panic(err) // fixed, valid sizes
	}
	return next
}

// KeyForEpoch derives epoch e's key from the initial key.
func KeyForEpoch(k0 []byte, e uint64) []byte {
	k := k0
	for range e {
		k = EvolveKey(k)
	}
	return k
}

// Keygen creates a key directory (0700) with a new Ed25519 signing key
// and a new initial MAC key, and returns the public key and the initial
// MAC key for the verifier to keep off the host. It refuses to overwrite
// existing keys.
func Keygen(dir string) (ed25519.PublicKey, []byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("keygen: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("keygen: %w", err)
	}
	if err := fsperm.Private(dir); err != nil {
		return nil, nil, fmt.Errorf("keygen: %w", err)
	}
	for _, f := range []string{SignKeyFile, MACKeyFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return nil, nil, fmt.Errorf("keygen: %s already exists; refusing to replace keys", filepath.Join(dir, f))
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("keygen: %w", err)
	}
	mac0 := make([]byte, macKeySize)
	if _, err := rand.Read(mac0); err != nil {
		return nil, nil, fmt.Errorf("keygen: %w", err)
	}
	files := []struct {
		name string
		data string
		mode os.FileMode
	}{
		{SignKeyFile, hex.EncodeToString(priv.Seed()) + "\n", 0o600},
		{PubKeyFile, hex.EncodeToString(pub) + "\n", 0o644},
		{MACKey0File, hex.EncodeToString(mac0) + "\n", 0o600},
	}
	for _, f := range files {
		if err := writeFileSync(filepath.Join(dir, f.name), []byte(f.data), f.mode); err != nil {
			return nil, nil, fmt.Errorf("keygen: %w", err)
		}
	}
	if err := writeMACKey(dir, 0, mac0); err != nil {
		return nil, nil, fmt.Errorf("keygen: %w", err)
	}
	return pub, mac0, nil
}

// KeyStore holds the writer's keys: the signing key and the current
// epoch's MAC key, which Evolve replaces in memory and on disk.
type KeyStore struct {
	dir   string
	sign  ed25519.PrivateKey
	epoch uint64
	mac   []byte
}

// OpenKeys loads a key directory, refusing one that others can read.
func OpenKeys(dir string) (*KeyStore, error) {
	if err := checkPrivate(dir, true); err != nil {
		return nil, err
	}
	for _, f := range []string{SignKeyFile, MACKeyFile} {
		if err := checkPrivate(filepath.Join(dir, f), false); err != nil {
			return nil, err
		}
	}
	seed, err := readHex(filepath.Join(dir, SignKeyFile), ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, MACKeyFile))
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	var mk struct {
		Epoch uint64 `json:"epoch"`
		Key   string `json:"key"`
	}
	if err := json.Unmarshal(b, &mk); err != nil {
		return nil, fmt.Errorf("keys: %s: %w", MACKeyFile, err)
	}
	mac, err := hex.DecodeString(mk.Key)
	if err != nil || len(mac) != macKeySize {
		return nil, fmt.Errorf("keys: %s: bad key", MACKeyFile)
	}
	return &KeyStore{dir: dir, sign: ed25519.NewKeyFromSeed(seed), epoch: mk.Epoch, mac: mac}, nil
}

// Public is the signing key's public half.
func (k *KeyStore) Public() ed25519.PublicKey { return k.sign.Public().(ed25519.PublicKey) }

// Epoch is the current epoch.
func (k *KeyStore) Epoch() uint64 { return k.epoch }

// Evolve moves to the next epoch: the next key is written (atomically,
// synced) before the old one is overwritten in memory.
func (k *KeyStore) Evolve() error {
	next := EvolveKey(k.mac)
	if err := writeMACKey(k.dir, k.epoch+1, next); err != nil {
		return fmt.Errorf("evolve MAC key: %w", err)
	}
	clear(k.mac)
	k.mac, k.epoch = next, k.epoch+1
	return nil
}

func writeMACKey(dir string, epoch uint64, key []byte) error {
	b, _ := json.Marshal(map[string]any{"epoch": epoch, "key": hex.EncodeToString(key)})
	return writeFileSync(filepath.Join(dir, MACKeyFile), append(b, '\n'), 0o600)
}

// writeFileSync replaces a file atomically and durably.
func writeFileSync(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// checkPrivate refuses a key file or directory that group or others can
// access.
func checkPrivate(path string, dir bool) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if dir != st.IsDir() {
		return fmt.Errorf("keys: %s: wrong file type", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("keys: refusing %s: mode %04o lets others read it (want %s)", path, st.Mode().Perm(), map[bool]string{true: "0700", false: "0600"}[dir])
	}
	return nil
}

func readHex(path string, size int) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) != size {
		return nil, fmt.Errorf("keys: %s: bad key", path)
	}
	return k, nil
}

// ReadPublicKey reads a public key file (hex).
func ReadPublicKey(path string) (ed25519.PublicKey, error) {
	k, err := readHex(path, ed25519.PublicKeySize)
	return ed25519.PublicKey(k), err
}

// ReadMACKey0 reads an initial MAC key file (hex).
func ReadMACKey0(path string) ([]byte, error) { return readHex(path, macKeySize) }
