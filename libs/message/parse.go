package message

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// walker reads one JSON document token by token in a single pass. Unlike
// decoding into a struct it sees every unknown and every repeated member,
// not just the first, and it reads nested objects in place instead of
// copying them out and parsing them again.
type walker struct {
	body []byte
	dec  *json.Decoder
}

func newWalker(body []byte) (*walker, error) {
	if !utf8.Valid(body) {
		return nil, malformed("body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return &walker{body: body, dec: dec}, nil
}

func (w *walker) token() (json.Token, error) {
	tok, err := w.dec.Token()
	if err != nil {
		return nil, malformed("%s", describeJSONError(midObject(err)))
	}
	return tok, nil
}

// object reads the top-level object, calling member for each key with the
// decoder positioned at its value, which member must consume.
func (w *walker) object(member func(key string) error) error {
	tok, err := w.dec.Token()
	if err != nil {
		return malformed("%s", describeJSONError(err))
	}
	if tok != json.Delim('{') {
		return malformed("body must be a JSON object")
	}
	return w.members(member)
}

// members reads keys and values up to and including the closing brace.
func (w *walker) members(member func(key string) error) error {
	for w.dec.More() {
		tok, err := w.token()
		if err != nil {
			return err
		}
		key, _ := tok.(string) // inside an object, keys are strings
		if err := member(key); err != nil {
			return err
		}
	}
	_, err := w.token() // the closing brace
	return err
}

// end rejects anything after the document.
func (w *walker) end() error {
	if _, err := w.dec.Token(); !isEOF(err) {
		return malformed("unexpected data after the JSON object")
	}
	return nil
}

// data reads the data object at the current position into d, appending type
// errors, unknown and repeated members and missing fields to problems. It
// reports whether the value was an object at all.
func (w *walker) data(prefix string, d *Data, problems *[]FieldError) (bool, error) {
	tok, err := w.token()
	if err != nil {
		return false, err
	}
	if tok != json.Delim('{') {
		if prefix == "" {
			return false, malformed("body must be a JSON object")
		}
		*problems = append(*problems, FieldError{strings.TrimSuffix(prefix, "."), "must be a JSON object"})
		return false, w.skipRest(tok)
	}
	fields := [...]struct {
		name string
		dst  *string
		seen bool
	}{
		{name: FieldSubject, dst: &d.EmailSubject},
		{name: FieldSender, dst: &d.EmailSender},
		{name: FieldTimestream, dst: &d.EmailTimestream},
		{name: FieldContent, dst: &d.EmailContent},
	}
	err = w.members(func(key string) error {
		for i := range fields {
			f := &fields[i]
			if f.name != key {
				continue
			}
			if f.seen {
				*problems = append(*problems, FieldError{prefix + key, "repeated field"})
				return w.skip()
			}
			f.seen = true
			return w.str(prefix+key, f.dst, problems)
		}
		*problems = append(*problems, FieldError{prefix + key, "unknown field"})
		return w.skip()
	})
	if err != nil {
		return true, err
	}
	for _, f := range fields {
		if !f.seen {
			*problems = append(*problems, FieldError{prefix + f.name, "required: must be a non-empty string"})
		}
	}
	return true, nil
}

// str reads a string value into dst, or records why it is not one.
func (w *walker) str(field string, dst *string, problems *[]FieldError) error {
	start := w.dec.InputOffset()
	tok, err := w.token()
	if err != nil {
		return err
	}
	s, ok := tok.(string)
	if !ok {
		*problems = append(*problems, FieldError{field, "must be a string"})
		return w.skipRest(tok)
	}
	// encoding/json turns lone UTF-16 surrogate escapes into U+FFFD without
	// complaint; a replacement character the client did not send marks
	// text that was never valid UTF-8.
	if strings.ContainsRune(s, utf8.RuneError) && !sentReplacementChar(w.body[start:w.dec.InputOffset()]) {
		*problems = append(*problems, FieldError{field, "must be valid UTF-8"})
		return nil
	}
	*dst = s
	return nil
}

// skip consumes the value at the current position.
func (w *walker) skip() error {
	tok, err := w.token()
	if err != nil {
		return err
	}
	return w.skipRest(tok)
}

// skipRest consumes the rest of a value whose first token was tok.
func (w *walker) skipRest(tok json.Token) error {
	if tok != json.Delim('{') && tok != json.Delim('[') {
		return nil
	}
	for depth := 1; depth > 0; {
		tok, err := w.token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

func sentReplacementChar(raw []byte) bool {
	return bytes.Contains(raw, []byte("\uFFFD")) || bytes.Contains(bytes.ToLower(raw), []byte(`\ufffd`))
}
