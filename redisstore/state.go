package redisstore

import (
	"fmt"
	"maps"

	"github.com/flowkit/netflow"
	"github.com/redis/go-redis/v9"
)

func cloneState(st netflow.ExporterState) netflow.ExporterState {
	st.Samplers = maps.Clone(st.Samplers)
	st.SamplerAlgorithms = maps.Clone(st.SamplerAlgorithms)
	st.InterfaceNames = maps.Clone(st.InterfaceNames)
	st.InterfaceDescriptions = maps.Clone(st.InterfaceDescriptions)
	st.VRFNames = maps.Clone(st.VRFNames)
	st.ApplicationNames = maps.Clone(st.ApplicationNames)
	return st
}

// ExporterState implements netflow.StateStore from the local cache.
func (s *Store) ExporterState(key netflow.TemplateKey) (netflow.ExporterState, bool, error) {
	s.mu.RLock()
	st, ok := s.states[domainOf(key)]
	s.mu.RUnlock()
	if !ok {
		return netflow.ExporterState{}, false, nil
	}
	return cloneState(st), true, nil
}

// SetExporterState implements netflow.StateStore: it caches a copy of st,
// tells this instance's subscribers, and writes it to Redis (without TTL:
// options state lives until the exporter is forgotten) and notifies the
// other instances. If Redis fails, the state stays cached here and is
// written when Redis is back; the error matches netflow.ErrStore.
func (s *Store) SetExporterState(key netflow.TemplateKey, st netflow.ExporterState) error {
	dk := domainOf(key)
	val, err := encodeState(st)
	if err != nil {
		return err
	}
	st = cloneState(st)
	s.mu.Lock()
	if _, ok := s.states[dk]; !ok && len(s.states) >= s.cfg.MaxStates {
		n := len(s.states)
		s.mu.Unlock()
		return fmt.Errorf("%w: redisstore: options state of %d domains cached", netflow.ErrLimit, n)
	}
	s.states[dk] = st
	s.echoes[echoState+domainSuffix(dk)]++
	s.mu.Unlock()
	s.subs.announce(dk)
	if err := s.writeState(dk, val); err != nil {
		s.noEcho(echoState + domainSuffix(dk))
		s.mu.Lock()
		s.dirtyS[dk] = struct{}{}
		s.mu.Unlock()
		return err
	}
	return nil
}

func (s *Store) writeState(dk netflow.TemplateKey, val []byte) error {
	ctx, cancel := s.opContext()
	defer cancel()
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.stateKey(dk), val, 0)
		p.Publish(ctx, s.channel, s.message(opState, domainSuffix(dk), val))
		return nil
	})
	if err != nil {
		return s.fail("set exporter state", err)
	}
	return nil
}
