package revoke

import "testing"

func TestStatusVocabulary(t *testing.T) {
	all := Statuses()
	want := []Status{Revoked, NotFound, Failed, Invalid, Duplicate, DryRun}
	if len(all) != NumStatuses || len(all) != len(want) {
		t.Fatalf("Statuses() = %v, NumStatuses %d", all, NumStatuses)
	}
	for i, s := range want {
		if all[i] != s {
			t.Errorf("Statuses()[%d] = %s, want %s", i, all[i], s)
		}
		if got, ok := s.Index(); !ok || got != i || !s.Known() {
			t.Errorf("%s.Index() = %d, %v; want %d", s, got, ok, i)
		}
	}
	for _, s := range []Status{"", "revoked ", "REVOKED", "skipped"} {
		if s.Known() {
			t.Errorf("%q is known", s)
		}
	}
	all[0] = "mutated"
	if Statuses()[0] != Revoked {
		t.Error("Statuses() hands out the list itself")
	}
}
