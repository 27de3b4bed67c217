package etw

import (
	"github.com/vigilsec/vigil/sensor"
)

// Counters are an ETW session's loss counters (EVENT_TRACE_PROPERTIES,
// as ControlTraceW's EVENT_TRACE_CONTROL_QUERY fills it), cumulative
// since the session started.
type Counters struct {
	// EventsLost: events the providers could not log, every buffer being
	// full. They never reached a buffer.
	EventsLost uint64
	// RealTimeBuffersLost: full buffers dropped because the consumer did
	// not take them in time. Each held at least one event, so a buffer
	// counts as one record lost: a lower bound.
	RealTimeBuffersLost uint64
}

// ReportLoss passes what was lost since the last report to emit, as
// KindLoss events:
//
//   - events ETW lost and buffers it dropped (CauseRingbufFull, no class:
//     a lost event's kind is unknown), from c, the session's cumulative
//     counters (zero for a replay; a counter that went down is taken as
//     a new session's);
//   - records that failed to decode (CauseDecode), by the kind of record
//     each would have made;
//   - write and send totals not kept, the table being full (CauseAggFull);
//   - processes left out of a full scope (CauseTrackFull).
//
// The events carry the newest record's time.
func (d *Decoder) ReportLoss(c Counters, emit func(*sensor.Event) error) error {
	report := func(cause sensor.Cause, class sensor.Kind, n uint64) error {
		if n == 0 {
			return nil
		}
		d.ev = sensor.Event{Kind: sensor.KindLoss, KTime: d.lastNS(), Loss: sensor.Loss{Cause: cause, Class: class, Count: n}}
		return emit(&d.ev)
	}
	prev := d.loss.session
	d.loss.session = c
	if err := report(sensor.CauseRingbufFull, 0, since(c.EventsLost, prev.EventsLost)+
		since(c.RealTimeBuffersLost, prev.RealTimeBuffersLost)); err != nil {
		return err
	}
	for class, n := range d.loss.decode {
		d.loss.decode[class] = 0
		if err := report(sensor.CauseDecode, sensor.Kind(class), n); err != nil {
			return err
		}
	}
	file, net := d.loss.aggFile, d.loss.aggNet
	d.loss.aggFile, d.loss.aggNet = 0, 0
	if err := report(sensor.CauseAggFull, sensor.KindFile, file); err != nil {
		return err
	}
	if err := report(sensor.CauseAggFull, sensor.KindNet, net); err != nil {
		return err
	}
	return report(sensor.CauseTrackFull, 0, d.scope.Dropped())
}

// since is a cumulative counter's growth from prev to now.
func since(now, prev uint64) uint64 {
	if now < prev {
		return now // the counter restarted
	}
	return now - prev
}
