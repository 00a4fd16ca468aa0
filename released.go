package netflow

import "time"

// Held data released without a datagram of its exporter
// (Decoder.TakeReleased): when a store shared by several instances
// announces a template another instance learned, or a periodic look-up
// finds one, the sets held for it are decoded into a packet of their own.

// takeReleased is Decoder.TakeReleased.
func (d *Decoder) takeReleased(buf *Buffer) (Packet, error) {
	p := d.pending
	if p == nil || !p.any() {
		return nil, nil
	}
	if buf == nil {
		buf = new(Buffer)
	}
	for {
		_, ready, lookups, ok := p.nextDue()
		if !ok {
			return nil, nil
		}
		for _, l := range lookups {
			if rk, ok := d.lookUpHeld(l); ok {
				ready = append(ready, rk)
			}
		}
		if len(ready) == 0 {
			continue
		}
		// One exporter domain per packet: the first key's. The keys of
		// its other domains wait for the next call.
		dk := domainKey(ready[0].key)
		mine := ready[:0]
		var others []readyKey
		for _, rk := range ready {
			if domainKey(rk.key) == dk {
				mine = append(mine, rk)
			} else {
				others = append(others, rk)
			}
		}
		p.requeue(others)
		if pkt, err := d.decodeReleased(buf, dk, mine); pkt != nil || err != nil {
			return pkt, err
		}
	}
}

// lookUpHeld looks a held key up in the store: afresh, through the
// TemplateChecker, for a key whose sets did not fit the template of the
// store's copy, in which case the store's word on the template's age lets
// Config.AcceptMisfitsAfter apply.
func (d *Decoder) lookUpHeld(l lookupKey) (readyKey, bool) {
	if l.misfit && d.checker != nil {
		t, since, err := d.checker.CheckTemplate(l.key)
		if err != nil {
			return readyKey{}, false
		}
		return readyKey{key: l.key, t: t, accept: true, since: since}, true
	}
	t, err := d.store.Template(l.key)
	if err != nil {
		return readyKey{}, false
	}
	return readyKey{key: l.key, t: t}, true
}

// decodeReleased takes the sets held for keys, all of domain dk, and
// decodes them into buf's packet of dk's version; nil, nil if none was
// taken (sets that still do not fit stay held) or what was taken held no
// record and no problem.
func (d *Decoder) decodeReleased(buf *Buffer, dk TemplateKey, keys []readyKey) (Packet, error) {
	dl := dialectOf(dk.Version)
	if dl == nil {
		return nil, nil
	}
	var (
		s   *Sets
		pkt Packet
	)
	switch dk.Version {
	case 9:
		v9 := packet(&buf.v9)
		v9.reset()
		s, pkt = &v9.Sets, v9
	default:
		v10 := packet(&buf.v10)
		v10.reset()
		s, pkt = &v10.Sets, v10
	}
	w := setWalker{d: d, s: s, dialect: dl, key: dk, budget: maxReleaseRecords, gen: d.learnGen.Load()}
	ctx, ok := w.release(keys)
	if !ok {
		return nil, nil
	}
	w.ctx = ctx
	secs := uint32(ctx.exportTime.Unix())
	switch p := pkt.(type) {
	case *V9Packet:
		p.Exporter = ctx.exporter
		p.Header = V9Header{SysUptime: ctx.sysUptime, UnixSecs: secs, Sequence: ctx.sequence, SourceID: ctx.domain}
	case *IPFIXPacket:
		p.Exporter = ctx.exporter
		p.Header = IPFIXHeader{UnixSecs: secs, Sequence: ctx.sequence, ObservationDomainID: ctx.domain}
	}
	err := w.finish()
	if err == nil && len(s.DataSets) == 0 {
		// What was taken held no record (a set of padding shorter than
		// one record of its template): nothing to hand over.
		return nil, nil
	}
	return pkt, err
}

// ReleaseInterval is how often a collector should call
// Decoder.TakeReleased when Decoder.Releases has not signalled: the
// interval at which held sets are looked up again in stores that do not
// announce, and sets that did not fit their template are checked again.
const ReleaseInterval time.Duration = pendingRetry
