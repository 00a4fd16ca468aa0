package export

import (
	"github.com/flowkit/netflow"
)

// The options data a writer sends itself: each sampler's interval, keyed by
// the sampler ID its flows carry, and (IPFIX with TimeUptime) the
// exporter's system init time.
//
// NetFlow v9 (RFC 3954 section 6.1, Cisco's sampler options): scope System,
// then FLOW_SAMPLER_ID (48), FLOW_SAMPLER_MODE (49) and
// FLOW_SAMPLER_RANDOM_INTERVAL (50). IPFIX (RFC 5476 and RFC 5477): scope
// selectorId (302), then selectorAlgorithm (304) and, for systematic
// count-based sampling, samplingPacketInterval (305) = 1 and
// samplingPacketSpace (306) = N-1; for random n-out-of-N sampling,
// samplingSize (309) = 1 and samplingPopulation (310) = N.

// More IANA elements of the options templates.
const (
	ieSamplingSize       = 309
	ieSamplingPopulation = 310
)

// IPFIX selector algorithms (IANA's PSAMP registry).
const (
	selectorSystematicCount = 1
	selectorRandomNofN      = 3
)

// makeSamplerOptions makes the sampler options template.
func (w *Writer) makeSamplerOptions() error {
	var fields []netflow.TemplateField
	switch {
	case !w.ipfix:
		fields = []netflow.TemplateField{
			{ID: v9ScopeSystem, Length: 4}, {ID: ieSamplerID, Length: samplerIDLen},
			{ID: ieSamplerMode, Length: 1}, {ID: ieSamplerRandomInterval, Length: 4},
		}
	case w.cfg.SamplingMode == 2:
		fields = []netflow.TemplateField{
			{ID: ieSelectorID, Length: samplerIDLen}, {ID: ieSelectorAlgorithm, Length: 1},
			{ID: ieSamplingSize, Length: 4}, {ID: ieSamplingPopulation, Length: 4},
		}
	default:
		fields = []netflow.TemplateField{
			{ID: ieSelectorID, Length: samplerIDLen}, {ID: ieSelectorAlgorithm, Length: 1},
			{ID: ieSamplingPacketInterval, Length: 4}, {ID: ieSamplingPacketSpace, Length: 4},
		}
	}
	s, err := w.optionsSlot(fields)
	w.samplerOpts = s
	return err
}

// makeSysInitOptions makes the system init time options template (IPFIX):
// scope observationDomainId (149), then systemInitTimeMilliseconds (160).
func (w *Writer) makeSysInitOptions() error {
	s, err := w.optionsSlot([]netflow.TemplateField{
		{ID: ieObservationDomainID, Length: 4}, {ID: ieSystemInitTimeMilliseconds, Length: 8},
	})
	w.sysInitOpts = s
	return err
}

// optionsSlot makes an options template of one scope field.
func (w *Writer) optionsSlot(fields []netflow.TemplateField) (*slot, error) {
	id, err := w.nextID()
	if err != nil {
		return nil, err
	}
	t, err := netflow.NewTemplate(w.cfg.Version, id, true, 1, fields)
	if err != nil {
		return nil, err
	}
	return w.addSlot(&slot{t: t})
}

// announceSampler sends the options data of sampler id, with its
// template, if the message's domain has not had them.
func (w *Writer) announceSampler(id uint64) {
	if w.samplerSent(id) {
		return
	}
	w.announce(w.samplerOpts)
	iv := w.samplers[id-1]
	b := w.optRec[:0]
	switch {
	case !w.ipfix:
		b = be.AppendUint32(b, w.m.dom.id)
		b = be.AppendUint16(b, uint16(id))
		b = append(b, w.cfg.SamplingMode)
		b = be.AppendUint32(b, iv)
	case w.cfg.SamplingMode == 2:
		b = be.AppendUint16(b, uint16(id))
		b = append(b, selectorRandomNofN)
		b = be.AppendUint32(b, 1)
		b = be.AppendUint32(b, iv)
	default:
		b = be.AppendUint16(b, uint16(id))
		b = append(b, selectorSystematicCount)
		b = be.AppendUint32(b, 1)
		b = be.AppendUint32(b, iv-1)
	}
	w.optRec = b
	w.appendOptions(w.samplerOpts, b)
	w.m.dom.samplersSent[id-1] = true
	w.stats.Options++
}

// announceSysInit sends the system init time, with its template, if the
// message's domain has not had it.
func (w *Writer) announceSysInit() {
	if w.m.dom.sysInitSent {
		return
	}
	w.announce(w.sysInitOpts)
	b := be.AppendUint32(w.optRec[:0], w.m.dom.id)
	b = be.AppendUint64(b, uint64(w.m.clk.bootMs))
	w.optRec = b
	w.appendOptions(w.sysInitOpts, b)
	w.m.dom.sysInitSent = true
	w.stats.Options++
}

// appendOptions appends an options data record of the writer's own, and
// notes it for the flow's Placement.
func (w *Writer) appendOptions(s *slot, rec []byte) {
	w.appendData(s, rec)
	n := len(w.m.buf)
	w.placed.options = append(w.placed.options, netflow.Record{Template: s.t, Data: w.m.buf[n-len(rec) : n : n]})
}
