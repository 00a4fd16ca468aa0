package receiver

import (
	"net/netip"
	"time"

	"github.com/flowkit/netflow"
)

// Held data released without a datagram: when the decoder's store makes a
// template known that held data sets wait for (another instance sharing
// the store learned it), the decoder signals it (Decoder.Releases), and
// this goroutine takes the released sets (Decoder.TakeReleased) and hands
// them to the handler as a Datagram with Released set, without waiting for
// that exporter's next datagram. It also calls TakeReleased every
// netflow.ReleaseInterval, for stores that do not announce and for sets
// that wait for a template they fit.

// releaseSettle is how long after a signal the goroutine takes what is
// released: announcements come in bursts (the templates of a datagram,
// then the options state its options data set, each written to the store
// in turn), and flows released at the first template would miss the
// sampling interval and system init time the options state brings a few
// milliseconds later. It is the margin the multi-instance tests leave for
// a change to reach the other instances on a loaded machine.
const releaseSettle = 200 * time.Millisecond

// releaseHeld runs until the receiver stops.
func (r *Receiver) releaseHeld() {
	signal := r.dec.Releases()
	if signal == nil {
		return // pending data is off: nothing is ever held
	}
	tick := time.NewTicker(netflow.ReleaseInterval)
	defer tick.Stop()
	var (
		buf netflow.Buffer
		d   = new(Datagram)
	)
	for {
		select {
		case <-r.stopCh:
			return
		case <-signal:
			settle := time.NewTimer(releaseSettle)
			select {
			case <-r.stopCh:
				settle.Stop()
				return
			case <-settle.C:
			}
		case <-tick.C:
		}
		r.takeReleased(&buf, d)
	}
}

// takeReleased hands over what the decoder releases now, packet by packet,
// until it has nothing more or the receiver stops.
func (r *Receiver) takeReleased(buf *netflow.Buffer, d *Datagram) {
	for !r.stopping() {
		p, err := r.dec.TakeReleased(buf)
		if p == nil && err == nil {
			return
		}
		exporter := releasedExporter(p)
		now := time.Now()
		ent, _ := r.exporters.get(exporter, now.UnixNano(), false)
		ent.released.Add(1)
		r.total.released.Add(1)
		if p != nil {
			flows := uint64(p.FlowCount())
			ent.flows.Add(flows)
			r.total.flows.Add(flows)
		}
		if err != nil {
			ent.countErr(err)
			r.total.countErr(err)
			if r.debug {
				r.log.Debug("netflow receiver: released data", "exporter", exporter.String(), "err", err)
			}
		}
		if r.h != nil {
			*d = Datagram{Exporter: exporter, Transport: UDP, Received: now, Packet: p, Err: err, Released: true}
			r.h(d)
			*d = Datagram{}
		}
	}
}

// releasedExporter returns the exporter of a released packet.
func releasedExporter(p netflow.Packet) netip.AddrPort {
	switch p := p.(type) {
	case *netflow.V9Packet:
		return p.Exporter
	case *netflow.IPFIXPacket:
		return p.Exporter
	}
	return netip.AddrPort{}
}
