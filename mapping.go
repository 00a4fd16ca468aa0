package netflow

import (
	"sync"
)

// Vendor elements into Flow (issue 14): Config.FlowElements names further
// elements, typically enterprise-specific ones, that fill Flow fields. A
// template's own plan (compiled in NewTemplate, shared by every decoder)
// knows only the built-in elements; a decoder with mappings compiles its
// own plan once per template that carries a mapped element and keeps it in
// a small cache keyed by the template, so that a data set costs one cache
// look-up and a record none.

// FlowMapping maps the information element (PEN, ID) into one Flow field.
// Field is one of the Field constants: any but FieldDomain, FieldSequence,
// FieldStart, FieldEnd and FieldScaled, which no single element fills. An
// address field takes an element of 4 or 16 bytes, a MAC field one of 6,
// MPLSLabel one of 3 to 8 (the first 20 bits), the others unsigned
// integers of 1 to 8 bytes; an element of another length, or a mapping of
// another Field, is ignored.
//
// A mapped element is the field's first choice: it wins over the built-in
// elements of the field when a template carries both.
type FlowMapping struct {
	PEN   uint32
	ID    uint16
	Field FlowFields
}

// destOfField returns the destination a Flow field bit is filled through.
func destOfField(f FlowFields) (flowDest, bool) {
	for d := flowDest(1); d < destCount; d++ {
		if destKnown[d] == f && d != destICMPTypeCode && d != destSection {
			return d, true
		}
	}
	return destNone, false
}

// maxCachedPlans bounds a decoder's plan cache; when full it is emptied
// (plans are compiled again as data sets come).
const maxCachedPlans = 4096

// planCache holds a decoder's plans for templates with mapped elements.
type planCache struct {
	mapped [destCount][]elementKey
	keys   map[elementKey]struct{}

	mu    sync.RWMutex
	plans map[*Template]*flowPlan
}

// newPlanCache returns the cache for mappings, nil if there are none that
// apply.
func newPlanCache(mappings []FlowMapping) *planCache {
	c := &planCache{keys: make(map[elementKey]struct{}), plans: make(map[*Template]*flowPlan)}
	for _, m := range mappings {
		d, ok := destOfField(m.Field)
		if !ok {
			continue
		}
		k := elementKey{pen: m.PEN, id: m.ID}
		c.mapped[d] = append(c.mapped[d], k)
		c.keys[k] = struct{}{}
	}
	if len(c.keys) == 0 {
		return nil
	}
	return c
}

// plan returns the decoder's plan for t: nil (the template's own) unless t
// carries a mapped element.
func (c *planCache) plan(t *Template) *flowPlan {
	if c == nil || t.Options {
		return nil
	}
	c.mu.RLock()
	p, ok := c.plans[t]
	c.mu.RUnlock()
	if ok {
		return p
	}
	p = nil
	for _, f := range t.Fields {
		if _, ok := c.keys[elementKey{pen: f.PEN, id: f.ID}]; ok {
			plan := compilePlanWith(t, &c.mapped)
			p = &plan
			break
		}
	}
	c.mu.Lock()
	if len(c.plans) >= maxCachedPlans {
		clear(c.plans)
	}
	c.plans[t] = p
	c.mu.Unlock()
	return p
}

// setContext is the flow context of a data set of t: the decoder's plan for
// t (walkSets put the exporter's sampling policy in ctx already).
func (d *Decoder) setContext(ctx flowContext, t *Template) flowContext {
	ctx.plan = d.plans.plan(t)
	return ctx
}
