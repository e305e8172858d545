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

// SQS message attribute names set by the API and read by the consumer.
const (
	AttrRequestID     = "request_id"
	AttrSchemaVersion = "schema_version"
)

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
	SchemaVersion int       `json:"schema_version"`
	MessageID     string    `json:"message_id"`
	RequestID     string    `json:"request_id,omitempty"`
	SentAt        time.Time `json:"sent_at"`
	StoredAt      time.Time `json:"stored_at"`
	ReceiveCount  int       `json:"receive_count"`
	Data          Data      `json:"data"`
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
	var req Request
	members, err := parseObject(body, true)
	if err != nil {
		return req, err
	}
	for _, m := range members.unknown {
		req.problems = append(req.problems, FieldError{Field: m, Message: "unknown field"})
	}
	for _, m := range members.repeated {
		req.problems = append(req.problems, FieldError{Field: m, Message: "repeated field"})
	}
	if raw, ok := members.values[FieldToken]; ok {
		req.HasToken = true
		if fe := decodeString(raw, FieldToken, &req.Token); fe != nil {
			req.problems = append(req.problems, *fe)
		}
	}
	raw, ok := members.values[FieldData]
	if !ok {
		req.problems = append(req.problems, FieldError{Field: FieldData, Message: "required"})
		req.dataUnusable = true
		return req, nil
	}
	data, dataFields, err := parseData(raw, FieldData+".")
	if err != nil {
		return req, err
	}
	req.Data = data
	req.dataUnusable = !isObject(raw)
	req.problems = append(req.problems, dataFields...)
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
	if !utf8.Valid(body) {
		return Data{}, malformed("body is not valid UTF-8")
	}
	if !isObject(body) {
		return Data{}, malformed("body must be a JSON object")
	}
	d, fields, err := parseData(body, "")
	if err != nil {
		return d, err
	}
	if fields = mergeFields(fields, d.validate("")); len(fields) > 0 {
		return d, &Error{Kind: Invalid, Reason: "invalid payload", Fields: fields}
	}
	return d, nil
}

// Encode renders d as the SQS message body. HTML escaping is off so that the
// stored text is what the client sent, byte for byte.
func (d Data) Encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
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

// parseData reads the members of the data object. Type errors and unknown
// members are reported here; values are judged by validate.
func parseData(raw json.RawMessage, prefix string) (Data, []FieldError, error) {
	var d Data
	if !isObject(raw) {
		return d, []FieldError{{strings.TrimSuffix(prefix, "."), "must be a JSON object"}}, nil
	}
	// Only an SQS body can fail here: the API's body was already walked
	// whole by the outer parseObject.
	members, err := parseObject(raw, false)
	if err != nil {
		return d, nil, err
	}
	var fields []FieldError
	for _, m := range members.unknown {
		fields = append(fields, FieldError{prefix + m, "unknown field"})
	}
	for _, m := range members.repeated {
		fields = append(fields, FieldError{prefix + m, "repeated field"})
	}
	targets := []struct {
		name string
		dst  *string
	}{
		{FieldSubject, &d.EmailSubject},
		{FieldSender, &d.EmailSender},
		{FieldTimestream, &d.EmailTimestream},
		{FieldContent, &d.EmailContent},
	}
	for _, t := range targets {
		raw, ok := members.values[t.name]
		if !ok {
			fields = append(fields, FieldError{prefix + t.name, "required: must be a non-empty string"})
			continue
		}
		if fe := decodeString(raw, prefix+t.name, t.dst); fe != nil {
			fields = append(fields, *fe)
		}
	}
	return d, fields, nil
}

type objectMembers struct {
	values   map[string]json.RawMessage
	unknown  []string
	repeated []string
}

var (
	topLevelMembers = map[string]bool{FieldData: true, FieldToken: true}
	dataMembers     = map[string]bool{FieldSubject: true, FieldSender: true, FieldTimestream: true, FieldContent: true}
)

// parseObject walks one JSON object token by token, which, unlike decoding
// into a struct, sees repeated keys and every unknown key rather than the
// first. It also rejects anything after the object.
func parseObject(body []byte, topLevel bool) (objectMembers, error) {
	out := objectMembers{values: map[string]json.RawMessage{}}
	if topLevel && !utf8.Valid(body) {
		return out, malformed("body is not valid UTF-8")
	}
	known := dataMembers
	if topLevel {
		known = topLevelMembers
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return out, malformed("%s", describeJSONError(err))
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '{' {
		return out, malformed("body must be a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return out, malformed("%s", describeJSONError(midObject(err)))
		}
		key, _ := tok.(string) // object keys are always strings
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return out, malformed("%s", describeJSONError(midObject(err)))
		}
		switch {
		case !known[key]:
			out.unknown = append(out.unknown, key)
		case out.values[key] != nil:
			out.repeated = append(out.repeated, key)
		default:
			out.values[key] = raw
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return out, malformed("%s", describeJSONError(midObject(err)))
	}
	if _, err := dec.Token(); !isEOF(err) {
		return out, malformed("unexpected data after the JSON object")
	}
	return out, nil
}

func decodeString(raw json.RawMessage, field string, dst *string) *FieldError {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '"' {
		return &FieldError{field, "must be a string"}
	}
	if err := json.Unmarshal(trimmed, dst); err != nil {
		return &FieldError{field, "must be a string"}
	}
	// encoding/json turns lone UTF-16 surrogate escapes into U+FFFD without
	// complaint; a replacement character the client did not send marks
	// text that was never valid UTF-8.
	if strings.ContainsRune(*dst, utf8.RuneError) && !sentReplacementChar(trimmed) {
		return &FieldError{field, "must be valid UTF-8"}
	}
	return nil
}

func sentReplacementChar(raw []byte) bool {
	lower := bytes.ToLower(raw)
	return bytes.Contains(raw, []byte("\uFFFD")) || bytes.Contains(lower, []byte(`\ufffd`))
}

func isObject(raw []byte) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '{'
}
