// Package message is the one schema of the pipeline: what the API accepts,
// what travels through SQS, what the consumer re-validates and what lands in
// S3. Keeping it in one place means the API and the consumer can never
// disagree about what a valid message is.
package message

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// SchemaVersion is written into every stored object so that readers can
// tell layouts apart if the schema ever changes.
const SchemaVersion = 1

// Limits on each field. Together they keep the worst-case JSON encoding of a
// message (every byte escaped to two) well under SQS's 256 KiB message size,
// so a message the API accepts can always be published.
const (
	MaxSubjectRunes    = 998 // RFC 5322's line limit for a header.
	MaxSenderBytes     = 254 // RFC 5321's path limit.
	MaxTimestreamRunes = 64
	MaxContentBytes    = 100_000
)

// MaxTokenBytes is the longest token that can be valid: SSM's limit on a
// parameter value (8 KB, advanced tier). The schema does not refuse longer
// tokens (they are simply wrong), but the body limit must fit this one.
const MaxTokenBytes = 8 << 10

// MaxRequestBytes is the largest body of a valid POST /api/message: every
// field at its limit and every character escaped as \uXXXX, as clients that
// escape non-ASCII send it (Python's json.dumps by default). A byte-limited
// field costs at most 6 bytes per byte (an ASCII character as \u0041); a
// character-limited one at most 12 per character (a character outside the
// BMP as a surrogate pair, \ud83d\ude00). requestSlackBytes covers the
// member names, punctuation and some whitespace. The API's body limit may
// not go below this, or it would refuse valid messages.
const MaxRequestBytes = 6*MaxContentBytes + 12*MaxSubjectRunes + 6*MaxSenderBytes +
	12*MaxTimestreamRunes + 6*MaxTokenBytes + requestSlackBytes

// requestSlackBytes is room for everything in a request body but the values.
const requestSlackBytes = 1 << 10

// SQS message attribute names set by the API and read by the consumer.
//
// AttrMessageID and AttrAcceptedAt carry the id the API gave the message
// (a UUIDv7, lower-case canonical form) and the time it accepted it (RFC 3339,
// UTC, millisecond precision). They, not SQS's MessageId and SentTimestamp,
// name the stored object, so every copy of one accepted message (a
// redelivery, or a send the SDK retried after a lost response) lands on the
// same key. A message without them, from an older producer, falls back to
// SQS's MessageId and SentTimestamp.
const (
	AttrRequestID     = "request_id"
	AttrSchemaVersion = "schema_version"
	AttrMessageID     = "message_id"
	AttrAcceptedAt    = "accepted_at"
)

// AcceptedAtLayout formats and parses the AttrAcceptedAt attribute.
const AcceptedAtLayout = "2006-01-02T15:04:05.000Z07:00"

// Field names as a client sends them; errors name fields this way.
const (
	FieldData       = "data"
	FieldToken      = "token"
	FieldSubject    = "email_subject"
	FieldSender     = "email_sender"
	FieldTimestream = "email_timestream"
	FieldContent    = "email_content"
)

// Data is the e-mail a client submits. It is the body of the SQS message.
type Data struct {
	EmailSubject    string `json:"email_subject"`
	EmailSender     string `json:"email_sender"`
	EmailTimestream string `json:"email_timestream"`
	EmailContent    string `json:"email_content"`
}

// Request is the body of POST /api/message.
type Request struct {
	Data  Data
	Token string
	// HasToken is false when the body had no "token" member at all.
	HasToken bool

	problems     []FieldError // found by ParseRequest, reported by Validate
	dataUnusable bool         // "data" missing or not an object: its fields are not judged
}

// Stored is the JSON document written to S3 for each message.
type Stored struct {
	SchemaVersion int    `json:"schema_version"`
	MessageID     string `json:"message_id"`
	// SQSMessageID is the SQS MessageId of the copy that was stored; it
	// differs from MessageID when the api named the message. Informational.
	SQSMessageID string    `json:"sqs_message_id,omitempty"`
	RequestID    string    `json:"request_id,omitempty"`
	SentAt       time.Time `json:"sent_at"`
	StoredAt     time.Time `json:"stored_at"`
	ReceiveCount int       `json:"receive_count"`
	Data         Data      `json:"data"`
}

// FieldError names one offending field and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Kind classifies an Error for the caller that maps it to a status code.
type Kind int

const (
	// Malformed means the bytes are not one JSON object.
	Malformed Kind = iota + 1
	// Invalid means the JSON is well formed but breaks the schema.
	Invalid
)

// Error is returned for any input that is not a valid message.
type Error struct {
	Kind   Kind
	Reason string
	Fields []FieldError
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return e.Reason
	}
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return e.Reason + ": " + strings.Join(parts, "; ")
}

func malformed(format string, args ...any) *Error {
	return &Error{Kind: Malformed, Reason: "malformed JSON: " + fmt.Sprintf(format, args...)}
}

// ParseRequest reads the body of POST /api/message strictly: exactly one JSON
// object whose members are known and not repeated. It returns an error only
// for malformed JSON; every other problem is kept in the Request and
// reported by Validate, which the caller runs after checking the token, so
// that unauthenticated callers learn nothing more than that the JSON was
// well formed.
func ParseRequest(body []byte) (Request, error) {
	if req, ok := fastRequest(body); ok {
		return req, nil
	}
	return walkRequest(body)
}

// walkRequest is ParseRequest for any input, read by the walker.
func walkRequest(body []byte) (Request, error) {
	var req Request
	w, err := newWalker(body)
	if err != nil {
		return req, err
	}
	seenData := false
	err = w.object(func(key string) error {
		switch {
		case key == FieldToken && !req.HasToken:
			req.HasToken = true
			return w.str(FieldToken, &req.Token, &req.problems)
		case key == FieldData && !seenData:
			seenData = true
			usable, err := w.data(FieldData+".", &req.Data, &req.problems)
			req.dataUnusable = !usable
			return err
		case key == FieldToken || key == FieldData:
			req.problems = append(req.problems, FieldError{Field: key, Message: "repeated field"})
		default:
			req.problems = append(req.problems, FieldError{Field: key, Message: "unknown field"})
		}
		return w.skip()
	})
	if err == nil {
		err = w.end()
	}
	if err != nil {
		return Request{}, err
	}
	if !seenData {
		req.problems = append(req.problems, FieldError{Field: FieldData, Message: "required"})
		req.dataUnusable = true
	}
	return req, nil
}

// Validate reports every problem with the request at once: those the parse
// found (unknown, repeated or mistyped members) and those in the values,
// each field named once.
func (r Request) Validate() error {
	fields := r.problems
	if !r.dataUnusable {
		fields = mergeFields(fields, r.Data.Validate())
	}
	if len(fields) == 0 {
		return nil
	}
	return &Error{Kind: Invalid, Reason: "invalid payload", Fields: fields}
}

// mergeFields adds the fields of err that known does not name already.
func mergeFields(known []FieldError, err error) []FieldError {
	me, ok := err.(*Error)
	if !ok {
		return known
	}
	named := make(map[string]bool, len(known))
	for _, f := range known {
		named[f.Field] = true
	}
	out := append([]FieldError(nil), known...)
	for _, f := range me.Fields {
		if !named[f.Field] {
			out = append(out, f)
		}
	}
	return out
}

// DecodeData reads an SQS message body and validates it with the same rules
// the API applied, so the consumer never stores what the API would refuse.
func DecodeData(body []byte) (Data, error) {
	if d, ok := fastData(body); ok {
		return judgeData(d, nil)
	}
	return walkData(body)
}

// walkData is DecodeData for any input, read by the walker.
func walkData(body []byte) (Data, error) {
	var d Data
	var fields []FieldError
	w, err := newWalker(body)
	if err == nil {
		_, err = w.data("", &d, &fields)
	}
	if err == nil {
		err = w.end()
	}
	if err != nil {
		return Data{}, err
	}
	return judgeData(d, fields)
}

// judgeData adds the problems in d's values to those the parse found.
func judgeData(d Data, fields []FieldError) (Data, error) {
	if fields = mergeFields(fields, d.validate("")); len(fields) > 0 {
		return d, &Error{Kind: Invalid, Reason: "invalid payload", Fields: fields}
	}
	return d, nil
}

// Encode renders d as the SQS message body. HTML escaping is off so that the
// stored text is what the client sent, byte for byte.
func (d Data) Encode() ([]byte, error) { return marshal(d, "message") }

// Encode renders the stored document, without HTML escaping like Data.Encode.
func (s Stored) Encode() ([]byte, error) { return marshal(s, "stored message") }

func marshal(v any, what string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode %s: %w", what, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Validate checks every field of a request's data and names each offending
// one with its "data." prefix, as the client sent it.
func (d Data) Validate() error { return d.validate(FieldData + ".") }

func (d Data) validate(prefix string) error {
	var fields []FieldError
	check := func(name, value string, maxRunes, maxBytes int, allowLines bool) bool {
		field := prefix + name
		switch {
		case strings.TrimSpace(value) == "":
			fields = append(fields, FieldError{field, "required: must be a non-empty string"})
		case !utf8.ValidString(value):
			fields = append(fields, FieldError{field, "must be valid UTF-8"})
		case maxRunes > 0 && utf8.RuneCountInString(value) > maxRunes:
			fields = append(fields, FieldError{field, fmt.Sprintf("must be at most %d characters", maxRunes)})
		case maxBytes > 0 && len(value) > maxBytes:
			fields = append(fields, FieldError{field, fmt.Sprintf("must be at most %d bytes", maxBytes)})
		case sqsRefused(value) != 0:
			fields = append(fields, FieldError{field, fmt.Sprintf("must not contain U+%04X, a character SQS does not accept", sqsRefused(value))})
		case hasControl(value, allowLines):
			if allowLines {
				fields = append(fields, FieldError{field, "must not contain control characters other than tab and line breaks"})
			} else {
				fields = append(fields, FieldError{field, "must not contain control characters or line breaks"})
			}
		default:
			return true
		}
		return false
	}
	check(FieldSubject, d.EmailSubject, MaxSubjectRunes, 0, false)
	if check(FieldSender, d.EmailSender, 0, MaxSenderBytes, false) {
		if _, err := mail.ParseAddress(d.EmailSender); err != nil {
			fields = append(fields, FieldError{prefix + FieldSender, "must be an e-mail address"})
		}
	}
	check(FieldTimestream, d.EmailTimestream, MaxTimestreamRunes, 0, false)
	check(FieldContent, d.EmailContent, 0, MaxContentBytes, true)
	if len(fields) > 0 {
		return &Error{Kind: Invalid, Reason: "invalid payload", Fields: fields}
	}
	return nil
}

// sqsRefused returns the first character outside what SQS accepts in a
// message body (#x9 | #xA | #xD | #x20–#xD7FF | #xE000–#xFFFD |
// #x10000–#x10FFFF), or 0. SQS answers such a body with a 400 that no
// retry can fix. Control characters are refused by hasControl with their
// own message; what is left for valid UTF-8 is U+FFFE and U+FFFF.
func sqsRefused(s string) rune {
	for _, r := range s {
		if r == 0xFFFE || r == 0xFFFF {
			return r
		}
	}
	return 0
}

func hasControl(s string, allowLines bool) bool {
	for _, r := range s {
		if allowLines && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return true
		}
	}
	return false
}
