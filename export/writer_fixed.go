package export

import (
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
	if len(w.msg) > 0 && (w.msgDom.id != dom || w.msgFixed != sampling || w.records == ff.maxRecords ||
		len(w.msg)+ff.recordLen > w.cfg.MTU) {
		if err := w.emit(); err != nil {
			return err
		}
	}
	if len(w.msg) == 0 {
		w.beginFixed(w.domainOf(dom), sampling)
	}
	var err error
	if w.msg, err = appendFixedFlow(w.msg, f, ff, w.fclk, w.cfg.Saturate); err != nil {
		return err
	}
	w.records++
	return nil
}

// beginFixed begins a message of domain d with the sampling field
// sampling (v5).
func (w *Writer) beginFixed(d *domain, sampling uint16) {
	w.msgDom, w.msgFixed, w.records = d, sampling, 0
	export := w.exportTime()
	w.fclk = newFixedClock(export, w.boot)
	ms := w.fclk.exportMs
	secs, nsecs := uint32(ms/1000), uint32(ms%1000)*1e6
	switch w.fixed.version {
	case 1:
		w.msg = AppendV1Header(w.msg[:0], &netflow.V1Header{SysUptime: w.fclk.uptime, UnixSecs: secs, UnixNsecs: nsecs})
	case 7:
		w.msg = AppendV7Header(w.msg[:0], &netflow.V7Header{SysUptime: w.fclk.uptime, UnixSecs: secs, UnixNsecs: nsecs, FlowSequence: d.seq})
	default:
		w.msg = w.msg[:0]
		w.msg = be.AppendUint16(w.msg, 5)
		w.msg = be.AppendUint16(w.msg, 0)
		w.msg = be.AppendUint32(w.msg, w.fclk.uptime)
		w.msg = be.AppendUint32(w.msg, secs)
		w.msg = be.AppendUint32(w.msg, nsecs)
		w.msg = be.AppendUint32(w.msg, d.seq)
		w.msg = be.AppendUint16(w.msg, uint16(d.id))
		w.msg = be.AppendUint16(w.msg, sampling)
	}
}
