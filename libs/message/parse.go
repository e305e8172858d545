package message

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf16"
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
	// complaint, so the raw text is checked for them whatever else the
	// string holds (a real U+FFFD beside one must not hide it).
	if strings.ContainsRune(s, utf8.RuneError) && hasLoneSurrogate(w.body[start:w.dec.InputOffset()]) {
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

// hasLoneSurrogate reports whether the raw JSON of one string holds a
// \uD800–\uDFFF escape that is not a high surrogate followed at once by a
// low one. Escaped backslashes are stepped over, so `\\ud800` (a backslash
// and the letters "ud800") is not mistaken for an escape.
func hasLoneSurrogate(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if i+1 < len(raw) && raw[i+1] != 'u' {
			i++ // a two-byte escape such as \\ or \"
			continue
		}
		r, ok := hexEscape(raw, i)
		switch {
		case !ok:
			i++
		case utf16.IsSurrogate(r) && r < 0xDC00: // high: a low must follow
			if low, ok := hexEscape(raw, i+6); !ok || low < 0xDC00 || low > 0xDFFF {
				return true
			}
			i += 11
		case utf16.IsSurrogate(r): // a low surrogate on its own
			return true
		default:
			i += 5
		}
	}
	return false
}

// hexEscape decodes the \uXXXX escape at raw[i:], if there is one.
func hexEscape(raw []byte, i int) (rune, bool) {
	if i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(raw[i+2:i+6]), 16, 16)
	return rune(n), err == nil
}
