package export

import (
	"time"

	"github.com/flowkit/netflow"
)

// Flows as v1, v5 and v7 datagrams.

// fixedFlow adds f to the message, beginning one (or writing the full one
// first) as needed. The message's flows share its header: a v5 message
// holds the flows of one engine (Flow.Domain) and one sampling interval.
func (w *Writer) fixedFlow(f *netflow.Flow) error {
	ff := w.fixed
	var dom uint32
	var sampling uint16
	if ff.version == 5 {
		dom = w.flowDomain(f)
		if dom > 0xffff {
			return rangeErr("v5 domain %d: engine type and ID are 16 bits", dom)
		}
		if f.Known&netflow.FieldSamplingInterval != 0 && f.SamplingInterval != 0 {
			if f.SamplingInterval > 0x3fff {
				return rangeErr("v5 sampling interval %d: 14 bits", f.SamplingInterval)
			}
			sampling = uint16(w.cfg.SamplingMode)<<14 | uint16(f.SamplingInterval)
		}
	}
	d, err := w.domainOf(dom)
	if err != nil {
		return err
	}
	if len(w.m.buf) > 0 && (w.m.sampling != sampling || w.m.records == ff.maxRecords ||
		len(w.m.buf)+ff.recordLen > w.cfg.MTU) {
		if err := w.emit(); err != nil {
			return err
		}
	}
	if len(w.m.buf) == 0 {
		w.beginFixed(d, sampling)
	}
	if w.m.buf, err = appendFixedFlow(w.m.buf, f, ff, w.m.fclk, w.cfg.Saturate); err != nil {
		return err
	}
	w.m.records++
	w.placed.template, w.placed.record, w.placed.options = nil, ff.recordLen, w.placed.options[:0]
	return nil
}

// beginFixed begins a message of domain d with the sampling field
// sampling (v5).
func (w *Writer) beginFixed(d *domain, sampling uint16) {
	w.m.sampling, w.m.records = sampling, 0
	export := w.exportTime()
	w.m.fclk = newFixedClock(export, w.boot)
	ms := w.m.fclk.exportMs
	secs, nsecs := uint32(ms/1000), uint32(ms%1000)*1e6
	w.m.seq, w.m.export, w.m.uptime = d.seq, time.UnixMilli(ms), w.m.fclk.uptime
	switch w.fixed.version {
	case 1:
		w.m.buf = AppendV1Header(w.m.buf[:0], &netflow.V1Header{SysUptime: w.m.fclk.uptime, UnixSecs: secs, UnixNsecs: nsecs})
	case 7:
		w.m.buf = AppendV7Header(w.m.buf[:0], &netflow.V7Header{SysUptime: w.m.fclk.uptime, UnixSecs: secs, UnixNsecs: nsecs, FlowSequence: d.seq})
	default:
		w.m.buf = w.m.buf[:0]
		w.m.buf = be.AppendUint16(w.m.buf, 5)
		w.m.buf = be.AppendUint16(w.m.buf, 0)
		w.m.buf = be.AppendUint32(w.m.buf, w.m.fclk.uptime)
		w.m.buf = be.AppendUint32(w.m.buf, secs)
		w.m.buf = be.AppendUint32(w.m.buf, nsecs)
		w.m.buf = be.AppendUint32(w.m.buf, d.seq)
		w.m.buf = be.AppendUint16(w.m.buf, uint16(d.id))
		w.m.buf = be.AppendUint16(w.m.buf, sampling)
	}
}
