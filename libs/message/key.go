package message

import (
	"fmt"
	"strings"
	"time"
)

// KeyPrefix is where every stored message lives in the bucket.
const KeyPrefix = "messages/"

// ObjectKey is the S3 key of a message: messages/YYYY/MM/DD/<id>.json, dated
// by the UTC day SQS received the message. Deriving the key from the message
// alone, never from the consumer's clock, sends a redelivery to the same key.
func ObjectKey(messageID string, sent time.Time) (string, error) {
	if err := checkMessageID(messageID); err != nil {
		return "", err
	}
	return KeyPrefix + sent.UTC().Format("2006/01/02") + "/" + messageID + ".json", nil
}

// checkMessageID refuses ids that could escape the key layout. SQS ids are
// UUIDs; anything else is a sign of a foreign producer.
func checkMessageID(id string) error {
	if id == "" || len(id) > 128 {
		return fmt.Errorf("message id %q: must be 1 to 128 characters", id)
	}
	if id == "." || id == ".." {
		return fmt.Errorf("message id %q: not a valid message id", id)
	}
	for _, r := range id {
		ok := r == '-' || r == '_' || r == '.' ||
			(r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !ok {
			return fmt.Errorf("message id %q: only letters, digits, '-', '_' and '.' are allowed", id)
		}
	}
	return nil
}

// AssignedKey checks the id and acceptance time the API attached to a
// message (AttrMessageID, AttrAcceptedAt) and returns the object key they
// name, dated by the UTC day of acceptance, with the parsed time. The id
// must be a UUIDv7 in lower-case canonical form and the time exactly
// AcceptedAtLayout in UTC: the key is only stable if every copy of a
// message spells both the same way, so nothing is normalised.
func AssignedKey(id, acceptedAt string) (key string, accepted time.Time, err error) {
	if !isUUIDv7(id) {
		return "", time.Time{}, fmt.Errorf("%s %q: not a lower-case UUIDv7", AttrMessageID, id)
	}
	accepted, err = time.Parse(AcceptedAtLayout, acceptedAt)
	if err != nil || accepted.Location() != time.UTC || accepted.Format(AcceptedAtLayout) != acceptedAt {
		return "", time.Time{}, fmt.Errorf("%s %q: not an RFC 3339 UTC time with milliseconds", AttrAcceptedAt, acceptedAt)
	}
	key, err = ObjectKey(id, accepted)
	return key, accepted, err
}

// isUUIDv7 accepts xxxxxxxx-xxxx-7xxx-Yxxx-xxxxxxxxxxxx in lower-case hex,
// Y being the RFC 9562 variant (8, 9, a or b).
func isUUIDv7(s string) bool {
	if len(s) != 36 || s[14] != '7' || !strings.ContainsRune("89ab", rune(s[19])) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}
