package message

import (
	"fmt"
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
