package chain

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"time"
)

// Resume continues the chain of an existing log (read from log, in
// order) and returns it with the chain_start record of the new run. The
// record names the run before it (last sequence and hash) and whether it
// ended with a seal; a log that ends without one means Vigil stopped
// without sealing (a crash or kill), which verify reports as such. The
// MAC key is moved on to the epoch the log implies when the last run
// died between writing a checkpoint and evolving its key. An empty log
// starts a new chain.
func Resume(cfg Config, log io.Reader) (*Chain, []byte, error) {
	cfg = cfg.withDefaults()
	th := newTreeHasher()
	c := &Chain{cfg: cfg, th: th, tree: th.newRange(), epochStart: cfg.Now()}
	var (
		lastEpoch  uint64
		lastAction string
		any        bool
	)
	sc := bufio.NewScanner(log)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		n, err := parse(sc.Bytes())
		if err != nil {
			continue // a damaged line: verify reports it; the chain goes on from what is readable
		}
		seq, ok1 := uintAt(n, "event.sequence")
		epoch, ok2 := uintAt(n, "Vigil.chain.epoch")
		h, err := hex.DecodeString(strAt(n, "event.hash"))
		if !ok1 || !ok2 || err != nil || len(h) != 32 {
			continue
		}
		if err := c.tree.Append(c.th.hashLeaf(h), nil); err != nil {
			return nil, nil, fmt.Errorf("resume: %w", err)
		}
		c.seq = seq
		copy(c.prev[:], h)
		lastEpoch, lastAction, any = epoch, strAt(n, "event.action"), true
		c.inEpoch++
		if lastAction == "checkpoint" {
			c.inEpoch = 0
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("resume: read log: %w", err)
	}
	if !any {
		return New(cfg)
	}
	logEpoch := lastEpoch
	if lastAction == "checkpoint" {
		logEpoch++ // the key should have moved on after it
	}
	for cfg.Keys.Epoch() < logEpoch {
		if err := cfg.Keys.Evolve(); err != nil {
			return nil, nil, err
		}
	}
	line, err := c.control("chain_start", map[string]*node{
		"chain_start": object(map[string]*node{
			"epoch":             number(cfg.Keys.Epoch()),
			"log_epoch":         number(logEpoch),
			"previous_sequence": number(c.seq),
			"previous_hash":     str(hex.EncodeToString(c.prev[:])),
			"clean":             boolean(lastAction == "seal"),
		}),
	})
	c.epochStart = time.Now()
	return c, line, err
}

func boolean(b bool) *node { return &node{kind: 'b', b: b} }
