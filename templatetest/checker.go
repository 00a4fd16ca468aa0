package templatetest

// Checks of netflow.TemplateChecker.

import (
	"errors"
	"testing"
	"time"

	"github.com/flowkit/netflow"
)

func needsChecker(s netflow.TemplateStore) string {
	if _, ok := s.(netflow.TemplateChecker); !ok {
		return "netflow.TemplateChecker"
	}
	return ""
}

// testCheckTemplate: a fresh store is confirmed; CheckTemplate of a
// missing key is ErrTemplateNotFound; a stored template comes back with its
// layout and, as since, the time it was stored, which a resend of the same
// layout keeps and a new layout moves.
func testCheckTemplate(t testing.TB, s netflow.TemplateStore) {
	c := s.(netflow.TemplateChecker)
	if !c.Confirmed() {
		t.Fatalf("a fresh store is not Confirmed")
	}
	if got, _, err := c.CheckTemplate(baseKey); !errors.Is(err, netflow.ErrTemplateNotFound) {
		t.Fatalf("CheckTemplate of a missing key: %s, %v; want an error matching ErrTemplateNotFound", describe(got), err)
	}
	first := newTemplate(t, baseKey.Version, baseKey.ID, false, 0)
	before := time.Now()
	if err := s.AddTemplate(baseKey, first); err != nil {
		t.Fatalf("AddTemplate: %v", err)
	}
	after := time.Now()
	got, since, err := c.CheckTemplate(baseKey)
	if err != nil || got == nil || !sameLayout(got, first) {
		t.Fatalf("CheckTemplate after AddTemplate: %s, %v; want %s", describe(got), err, describe(first))
	}
	if since.Before(before.Truncate(0)) || since.After(after) {
		t.Fatalf("CheckTemplate since %v: want the time the layout was stored, between %v and %v", since, before, after)
	}
	time.Sleep(2 * time.Millisecond) // so that a since taken anew shows
	if err := s.AddTemplate(baseKey, newTemplate(t, baseKey.Version, baseKey.ID, false, 0)); err != nil {
		t.Fatalf("AddTemplate (resend): %v", err)
	}
	if _, again, err := c.CheckTemplate(baseKey); err != nil || !again.Equal(since) {
		t.Fatalf("CheckTemplate after a resend of the same layout: since %v, %v; want %v kept", again, err, since)
	}
	moved := time.Now()
	second := newTemplate(t, baseKey.Version, baseKey.ID, false, 2)
	if err := s.AddTemplate(baseKey, second); err != nil {
		t.Fatalf("AddTemplate (new layout): %v", err)
	}
	got, newSince, err := c.CheckTemplate(baseKey)
	if err != nil || got == nil || !sameLayout(got, second) {
		t.Fatalf("CheckTemplate after a new layout: %s, %v; want %s", describe(got), err, describe(second))
	}
	if newSince.Before(moved.Truncate(0)) {
		t.Fatalf("CheckTemplate since %v after a new layout stored at %v: want the new layout's time", newSince, moved)
	}
}
