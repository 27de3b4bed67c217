package esf

// Dropped messages. ES numbers the messages it delivers to a client:
// seq_num per event type, global_seq_num across all types, each going up
// by 1 per message. ESMessage.h: "When events have been dropped, the
// difference between the last seen sequence number of that event type
// plus 1 and seq_num of the received message indicates the number of
// events that had to be dropped" (the kernel generated more than the
// client could take). eslogger is that client, so a gap in its output
// counts what ES dropped, or what eslogger lost itself, before printing.
//
// A gap in a type's numbers is reported at once with that type's record
// class. Drops of a type that never comes again show only in the global
// numbers; what the global gaps count beyond the per-type ones is
// reported without a class at the end of the stream. A number that goes
// back (a second eslogger run in the same input) starts counting afresh.
// A line that cannot be decoded is decode loss, not a drop: its numbers
// are read from the raw line where they can be, and a line whose global
// number cannot be is taken off the unclaimed global gaps (if its type's
// number could not be read either and a later message of its type shows
// the gap, that message is counted twice: once lost, once dropped).

type seqTracker struct {
	global     uint64
	globalSeen bool
	last       map[int64]uint64 // per event type
	// Since the stream (or run) began: drops the global numbers showed,
	// and drops the per-type numbers showed.
	globalDropped, typeDropped uint64
	// Lines not decoded whose global number could not be read: their
	// numbers show as gaps, but they are counted as decode loss.
	undecoded    uint64
	unattributed uint64 // of runs already ended
}

// observe follows one message's numbers (nil: absent, as in messages of
// version < 2 and < 4) and returns how many messages of its type were
// dropped before it.
func (s *seqTracker) observe(typ int64, seq, global *Int) uint64 {
	if global != nil {
		g := uint64(*global)
		if s.globalSeen {
			switch {
			case g > s.global+1:
				s.globalDropped += g - s.global - 1
			case g <= s.global:
				s.newRun()
			}
		}
		s.global, s.globalSeen = g, true
	}
	if seq == nil {
		return 0
	}
	q := uint64(*seq)
	last, ok := s.last[typ]
	s.last[typ] = q
	if !ok || q <= last+1 {
		return 0
	}
	n := q - last - 1
	s.typeDropped += n
	return n
}

// newRun ends the current run's numbering.
func (s *seqTracker) newRun() {
	if claimed := s.typeDropped + s.undecoded; s.globalDropped > claimed {
		s.unattributed += s.globalDropped - claimed
	}
	s.globalDropped, s.typeDropped, s.undecoded, s.globalSeen = 0, 0, 0, false
	clear(s.last)
}

// end ends the stream and returns the drops no type claimed.
func (s *seqTracker) end() uint64 {
	s.newRun()
	n := s.unattributed
	s.unattributed = 0
	return n
}
