package message

import (
	"strings"
	"testing"
	"time"
)

func TestAssignedKey(t *testing.T) {
	const id = "0190c6a2-7b3e-7c4d-8e5f-0123456789ab"
	key, at, err := AssignedKey(id, "2024-03-09T23:59:58.123Z")
	if err != nil {
		t.Fatal(err)
	}
	if key != "messages/2024/03/09/"+id+".json" {
		t.Errorf("key %q", key)
	}
	if want := time.Date(2024, 3, 9, 23, 59, 58, 123e6, time.UTC); !at.Equal(want) || at.Location() != time.UTC {
		t.Errorf("accepted %v, want %v", at, want)
	}
}

// Anything but the one canonical spelling is refused: two spellings of one
// id or time would give one message two keys.
func TestAssignedKeyRefusesOtherSpellings(t *testing.T) {
	const id, at = "0190c6a2-7b3e-7c4d-8e5f-0123456789ab", "2024-03-09T23:59:58.123Z"
	for _, tc := range []struct{ name, id, at, want string }{
		{"upper-case id", strings.ToUpper(id), at, AttrMessageID},
		{"UUIDv4", "0190c6a2-7b3e-4c4d-8e5f-0123456789ab", at, AttrMessageID},
		{"wrong variant", "0190c6a2-7b3e-7c4d-ce5f-0123456789ab", at, AttrMessageID},
		{"no dashes", "0190c6a27b3e7c4d8e5f0123456789ab", at, AttrMessageID},
		{"dash misplaced", "0190c6a2-7b3e7-c4d-8e5f-0123456789ab", at, AttrMessageID},
		{"non-hex", "0190c6a2-7b3e-7c4d-8e5f-0123456789ag", at, AttrMessageID},
		{"path escape", "../../../../../../../../../../etc/pa", at, AttrMessageID},
		{"empty id", "", at, AttrMessageID},
		{"offset, not UTC", id, "2024-03-10T00:59:58.123+01:00", AttrAcceptedAt},
		{"no milliseconds", id, "2024-03-09T23:59:58Z", AttrAcceptedAt},
		{"microseconds", id, "2024-03-09T23:59:58.123456Z", AttrAcceptedAt},
		{"lower-case z", id, "2024-03-09T23:59:58.123z", AttrAcceptedAt},
		{"not a time", id, "yesterday", AttrAcceptedAt},
		{"empty time", id, "", AttrAcceptedAt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := AssignedKey(tc.id, tc.at)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one naming %s", err, tc.want)
			}
		})
	}
}
