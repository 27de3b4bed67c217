package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/vigilsec/vigil/output/chain"
	"github.com/vigilsec/vigil/output/store"
)

const keygenUsage = `Usage: vigil keygen --dir DIR

Creates DIR (mode 0700) with a new Ed25519 signing key and a new initial
MAC key (files 0600), and prints the public key and the initial MAC key.
Keep both off this host: with them, "vigil verify" proves the records
were not changed, and because the MAC key moves on one way at every epoch,
someone who takes this host later cannot forge earlier records. Then
remove DIR/` + chain.MACKey0File + ` from this host.

Options:
`

func keygenCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vigil keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "key `DIR`ectory to create")
	fs.Usage = func() { fmt.Fprint(stderr, keygenUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return exitUsage(err)
	}
	if *dir == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	pub, mac0, err := chain.Keygen(*dir)
	if err != nil {
		fmt.Fprintf(stderr, "vigil: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "public key:      %s\ninitial MAC key: %s\n", hex.EncodeToString(pub), hex.EncodeToString(mac0))
	fmt.Fprintf(stderr, "keys written to %s; copy both values off this host, then remove %s\n",
		*dir, filepath.Join(*dir, chain.MACKey0File))
	return 0
}

const verifyUsage = `Usage: vigil verify [--key-dir DIR | --pub KEY --mac-key K0] PATH...

Checks record files (in the order given, as one log; a data directory
stands for all its segments, in order) and reports every
modified, deleted, inserted, forged or reordered record, bad checkpoint
signatures, a wrong key and a tail cut without a seal, each with its
sequence number and line. Restarts and crashes are reported as such.
Exits 0 only when everything verifies. KEY and K0 are hex, or files
holding hex.

Options:
`

func verifyCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vigil verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyDir := fs.String("key-dir", "", "read the public key and the initial MAC key from `DIR`")
	pubArg := fs.String("pub", "", "Ed25519 public `KEY` (hex, or a file)")
	macArg := fs.String("mac-key", "", "initial MAC `KEY` (hex, or a file)")
	fs.Usage = func() { fmt.Fprint(stderr, verifyUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return exitUsage(err)
	}
	if fs.NArg() == 0 || (*keyDir == "") == (*pubArg == "" || *macArg == "") {
		fs.Usage()
		return 2
	}
	v := &chain.Verifier{}
	var err error
	if *keyDir != "" {
		if v.Pub, err = chain.ReadPublicKey(filepath.Join(*keyDir, chain.PubKeyFile)); err == nil {
			v.MAC0, err = chain.ReadMACKey0(filepath.Join(*keyDir, chain.MACKey0File))
		}
	} else {
		var pub []byte
		if pub, err = hexArg(*pubArg, ed25519.PublicKeySize); err == nil {
			v.Pub = pub
			v.MAC0, err = hexArg(*macArg, 32)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "vigil verify: %v\n", err)
		return 2
	}
	var paths []string
	for _, a := range fs.Args() {
		// A data directory stands for its segments, in write order.
		if st, err := os.Stat(a); err == nil && st.IsDir() {
			segs, err := store.List(a)
			if err != nil {
				fmt.Fprintf(stderr, "vigil verify: %v\n", err)
				return 1
			}
			paths = append(paths, segs...)
			continue
		}
		paths = append(paths, a)
	}
	rep, err := v.Verify(paths...)
	if err != nil {
		fmt.Fprintf(stderr, "vigil verify: %v\n", err)
		return 1
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(stdout, p)
	}
	fmt.Fprintf(stdout, "%d records, %d checkpoints, %d restarts, %d crashes: ", rep.Records, rep.Checkpoints, rep.Restarts, rep.Crashes)
	if rep.OK() {
		fmt.Fprintln(stdout, "verified")
		return 0
	}
	fmt.Fprintf(stdout, "%d problems\n", len(rep.Problems))
	return 1
}

// hexArg reads a key given as hex or as a file holding hex.
func hexArg(arg string, size int) ([]byte, error) {
	s := arg
	if b, err := os.ReadFile(arg); err == nil {
		s = string(b)
	} else if !errors.Is(err, os.ErrNotExist) && strings.ContainsRune(arg, '/') {
		return nil, err
	}
	k, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(k) != size {
		return nil, fmt.Errorf("key %q: want %d bytes of hex", arg, size)
	}
	return k, nil
}

const holdUsage = `Usage: vigil hold add --dir DIR [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--reason TEXT] NAME
       vigil hold remove --dir DIR NAME
       vigil hold list --dir DIR

A legal hold keeps the stored segments of its days (all days without
--from/--to) from deletion by the retention policy until it is removed.

Options:
`

func holdCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "add" && args[0] != "remove" && args[0] != "list") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprint(stdout, holdUsage)
			return 0
		}
		fmt.Fprint(stderr, holdUsage)
		return 2
	}
	verb := args[0]
	fs := flag.NewFlagSet("vigil hold "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "the data `DIR`ectory (output.dir)")
	from := fs.String("from", "", "first day held (UTC, YYYY-MM-DD)")
	to := fs.String("to", "", "last day held (UTC, YYYY-MM-DD)")
	reason := fs.String("reason", "", "why, for the record")
	fs.Usage = func() { fmt.Fprint(stderr, holdUsage); fs.PrintDefaults() }
	if err := fs.Parse(args[1:]); err != nil {
		return exitUsage(err)
	}
	if *dir == "" || (verb == "list") != (fs.NArg() == 0) || fs.NArg() > 1 {
		fs.Usage()
		return 2
	}
	var err error
	switch verb {
	case "add":
		err = store.AddHold(*dir, store.Hold{Name: fs.Arg(0), From: *from, To: *to, Reason: *reason})
	case "remove":
		err = store.RemoveHold(*dir, fs.Arg(0))
	case "list":
		var holds []store.Hold
		if holds, err = store.Holds(*dir); err == nil {
			for _, h := range holds {
				span := "all days"
				if h.From != "" || h.To != "" {
					span = h.From + ".." + h.To
				}
				fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\n", h.Name, span, h.Created.Format("2006-01-02T15:04:05Z"), h.Reason)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "vigil hold: %v\n", err)
		return 1
	}
	return 0
}
