//go:build linux

package sensor

import (
	"fmt"
)

// reportSends delivers the send totals of every socket still open, as
// KindNet events with NetSendEnd|NetInterim: outbound volume per
// destination shows up while a connection lasts, not only when it ends.
// The totals stay in the kernel; the final report comes at close or exit.
func (s *Sensor) reportSends(ev *Event, h Handler) error {
	var (
		k   vigilWriteKey
		v   vigilSendAgg
		now = BootNow()
	)
	it := s.objs.Sends.Iterate()
	for it.Next(&k, &v) {
		*ev = Event{
			Kind:    KindNet,
			Partial: true,
			KTime:   now,
			Task:    Task{PID: k.Tgid, TID: k.Tgid, StartTime: v.Start},
			Net: Net{
				Op:       NetSendEnd,
				Flags:    NetInterim,
				Dst:      endpoint(&v.Dst),
				Src:      endpoint(&v.Src),
				Cookie:   v.File,
				Bytes:    v.Bytes,
				Packets:  v.Packets,
				First:    v.First,
				FD:       k.Fd,
				SockType: v.SockType,
				Protocol: v.Protocol,
			},
		}
		if tree, ok, err := s.Tracked(k.Tgid); err == nil && ok {
			ev.Tree = tree
		}
		if err := h.HandleEvent(ev); err != nil {
			return err
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("iterate send totals: %w", err)
	}
	return nil
}
