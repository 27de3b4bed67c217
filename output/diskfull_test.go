package output

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vigilsec/vigil/output/chain"
)

// fullUntil fails writes with ENOSPC while full is set, like a store on a
// full disk (which cuts a failed write back to the last whole record).
type fullUntil struct {
	bytes.Buffer
	full bool
}

func (f *fullUntil) Write(p []byte) (int, error) {
	if f.full {
		return 0, syscall.ENOSPC
	}
	return f.Buffer.Write(p)
}

// A full disk: records wait, then beyond the limit are dropped before
// sealing; when space returns a disk_full loss record counts them, and
// the chain still verifies.
func TestWriterDiskFull(t *testing.T) {
	for name, newWriter := range writerKinds {
		t.Run(name, func(t *testing.T) { testWriterDiskFull(t, newWriter) })
	}
}

// writerKinds are the sealed Writers: synchronous, and pipelined.
var writerKinds = map[string]func(io.Writer, *Encoder, *chain.Chain, []byte) *Writer{
	"sync": func(w io.Writer, enc *Encoder, ch *chain.Chain, start []byte) *Writer {
		return NewSealedWriter(w, enc, ch, start)
	},
	"pipelined": NewPipelinedWriter,
}

func testWriterDiskFull(t *testing.T, newWriter func(io.Writer, *Encoder, *chain.Chain, []byte) *Writer) {
	keyDir := filepath.Join(t.TempDir(), "keys")
	if _, _, err := chain.Keygen(keyDir); err != nil {
		t.Fatal(err)
	}
	ks, _ := chain.OpenKeys(keyDir)
	ch, start, err := chain.New(chain.Config{Keys: ks, EpochRecords: 1000})
	if err != nil {
		t.Fatal(err)
	}
	dst := &fullUntil{}
	w := newWriter(dst, NewEncoder(testIdentity, testNow), ch, start)
	w.MaxPending = 8 << 10
	rec := testRecords()[1].rec
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	dst.full = true
	for range 100 {
		if err := w.Write(rec); err != nil {
			t.Fatalf("write while full: %v", err)
		}
		if err := w.Flush(); err != nil {
			t.Fatalf("flush while full: %v", err)
		}
	}
	dropped := w.Dropped()
	if dropped == 0 || dropped >= 100 {
		t.Fatalf("dropped %d of 100 records", dropped)
	}
	dst.full = false
	if err := w.Close(); err != nil {
		t.Fatalf("close after space returned: %v", err)
	}
	out := dst.String()
	if !strings.Contains(out, `"cause":"disk_full"`) || !strings.Contains(out, `"count":`) {
		t.Fatal("no disk_full loss record")
	}
	rep := verifyLog(t, keyDir, []byte(out))
	if rep.Records != int(100-dropped)+4 { // start, kept records, loss record, checkpoint, seal
		t.Errorf("%d records in the log, %d kept", rep.Records, 100-dropped)
	}
}
