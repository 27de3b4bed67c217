//go:build linux

package sensor

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/testenv"
)

// irqWorkInterrupts sums the IRQ work interrupts (the "IWI" line of
// /proc/interrupts) over every CPU: a ring buffer wakes its reader through
// IRQ work, one interrupt per forced wakeup.
func irqWorkInterrupts(t testing.TB) uint64 {
	t.Helper()
	f, err := os.Open("/proc/interrupts")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "IWI:" {
			continue
		}
		var n uint64
		for _, v := range fields[1:] {
			c, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				break // the description after the counts
			}
			n += c
		}
		return n
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Fatal("no IWI line in /proc/interrupts: this test needs x86's IRQ work counter")
	return 0
}

// A reader that falls behind is woken when the bytes pending cross a
// multiple of WakeupBytes, not for every record past the first crossing:
// a wakeup is an interrupt the traced process pays for, and one per
// record slowed a busy tracked process to the reader's pace. Here nothing
// reads while a tracked loop opens a file thousands of times, so every
// record after the first 64 KiB is one the old rule woke the reader for.
func TestWakeupOnlyOnCrossing(t *testing.T) {
	requireBPF(t)
	loop := testenv.Program(t, "github.com/vigilsec/vigil/sensor/testprogs/loop")
	const (
		ring   = 1 << 20
		wakeup = 64 << 10
		opens  = 3000 // about 250 bytes each: the ring holds them all
	)
	s, err := New(Config{RingBufferBytes: ring, WakeupBytes: wakeup})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := t.TempDir()
	before := irqWorkInterrupts(t)
	cmd, tree := gated(t, s, 1, loop, "open", dir, strconv.Itoa(opens))
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	waitTreeGone(t, s, tree)
	woken := irqWorkInterrupts(t) - before

	// Read what was buffered: every open must be there, nothing lost.
	opened := 0
	for _, ev := range drainBuffered(t, s) {
		if ev.Kind == KindLoss && ev.Loss.Cause == CauseRingbufFull {
			t.Errorf("records lost: %s", describe(&ev))
		}
		if ev.Tree == tree && ev.Kind == KindFile && ev.File.Op == FileOpen && strings.HasSuffix(ev.File.Path, "/loop.dat") {
			opened++
		}
	}
	// The loop makes its file first: one more open.
	if opened != opens+1 {
		t.Fatalf("%d open records, want %d", opened, opens+1)
	}
	// About one wakeup per 64 KiB crossed (a dozen), plus whatever else
	// the machine queued as IRQ work meanwhile; one per record past the
	// first crossing would be well over two thousand.
	if limit := uint64(opens / 10); woken > limit {
		t.Errorf("%d IRQ work interrupts while %d records were buffered with a wakeup every %d KiB: want at most %d",
			woken, opens, wakeup>>10, limit)
	}
	t.Logf("%d IRQ work interrupts for %d records", woken, opens)
}
