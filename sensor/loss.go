//go:build linux

package sensor

import (
	"errors"
	"fmt"
)

const (
	numCauses = int(vigilDropCauseDROP_CAUSE_MAX)
	numTypes  = int(vigilEventTypeEVENT_TYPE_MAX)
)

// lossCounter turns the kernel's cumulative per-CPU drop counters and
// user-space decode failures into per-interval Loss events.
type lossCounter struct {
	reported [numCauses][numTypes]uint64 // kernel totals already reported
	decode   [numTypes + 1]uint64        // decode failures not yet reported; last slot: unknown type
	percpu   []uint64
}

func (l *lossCounter) decodeError(err error) {
	var de *DecodeError
	if errors.As(err, &de) && int(de.Type) > 0 && int(de.Type) < numTypes {
		l.decode[de.Type]++
		return
	}
	l.decode[numTypes]++
}

// Counters returns the kernel's drop totals (summed over CPUs) by cause
// and event type.
func (s *Sensor) Counters() (totals [numCauses][numTypes]uint64, err error) {
	for c := range numCauses {
		for t := range numTypes {
			key := uint32(c*numTypes + t)
			if err := s.objs.Drops.Lookup(key, &s.loss.percpu); err != nil {
				return totals, fmt.Errorf("read drop counter %d: %w", key, err)
			}
			for _, v := range s.loss.percpu {
				totals[c][t] += v
			}
		}
	}
	return totals, nil
}

// reportLoss delivers one KindLoss event per cause and type whose count
// grew since the last report. ev is scratch space.
func (s *Sensor) reportLoss(ev *Event, h Handler) (err error) {
	totals, err := s.Counters()
	if err != nil {
		return err
	}
	emit := func(cause Cause, class Kind, n uint64) error {
		*ev = Event{Kind: KindLoss, KTime: BootNow(), Loss: Loss{Cause: cause, Class: class, Count: n}}
		return h.HandleEvent(ev)
	}
	for c := range numCauses {
		for t := range numTypes {
			d := totals[c][t] - s.loss.reported[c][t]
			if d == 0 {
				continue
			}
			s.loss.reported[c][t] = totals[c][t]
			if err := emit(Cause(c), Kind(t), d); err != nil {
				return err
			}
		}
	}
	defer func() {
		if err == nil {
			err = h.Flush()
		}
	}()
	for t, d := range s.loss.decode {
		if d == 0 {
			continue
		}
		s.loss.decode[t] = 0
		class := Kind(t)
		if t == numTypes {
			class = 0
		}
		if err := emit(CauseDecode, class, d); err != nil {
			return err
		}
	}
	return nil
}
