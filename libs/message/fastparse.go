package message

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The fast path reads the common case, a well-formed body with every known
// member once and only string values, in one pass over the bytes without
// encoding/json's per-token allocations. On anything else it gives up and
// the walker reads the body again, so every error and every problem still
// comes from one place. It must return exactly what the walker would.

var (
	requestMembers = []string{FieldToken, FieldData}
	dataMembers    = []string{FieldSubject, FieldSender, FieldTimestream, FieldContent}
)

// fastRequest is ParseRequest for the common case; ok is false for any
// other input. A body without a token is left to the walker as well: it is
// refused with a 401, not the traffic worth speeding up.
func fastRequest(body []byte) (req Request, ok bool) {
	s, ok := newScanner(body)
	if !ok {
		return Request{}, false
	}
	ok = s.object(requestMembers, func(i int) bool {
		if requestMembers[i] == FieldData {
			return s.data(&req.Data)
		}
		var ok bool
		req.Token, ok = s.str()
		return ok
	}) && s.end()
	if !ok {
		return Request{}, false
	}
	req.HasToken = true
	return req, true
}

// fastData is the reading half of DecodeData for the common case; ok is
// false for any other input.
func fastData(body []byte) (d Data, ok bool) {
	s, ok := newScanner(body)
	if !ok || !s.data(&d) || !s.end() {
		return Data{}, false
	}
	return d, true
}

// scanner reads JSON from b, position i. Each method reports false when
// the input is not the common case, after which the scanner is not used.
type scanner struct {
	b string
	i int
}

// newScanner refuses invalid UTF-8 up front, as the walker does, so that
// strings can be taken as they are without decoding their runes. It copies
// the body once, and the values without escapes are parts of that copy:
// one allocation instead of one a value, and the values are most of the
// body anyway.
func newScanner(body []byte) (*scanner, bool) {
	if !utf8.Valid(body) {
		return nil, false
	}
	return &scanner{b: string(body)}, true
}

// data reads the data object, whose four members are all strings.
func (s *scanner) data(d *Data) bool {
	dst := [...]*string{&d.EmailSubject, &d.EmailSender, &d.EmailTimestream, &d.EmailContent}
	return s.object(dataMembers, func(i int) bool {
		var ok bool
		*dst[i], ok = s.str()
		return ok
	})
}

// object reads an object whose members are exactly names, each once, in
// any order, calling member with the index of each name when the scanner
// stands at its value.
func (s *scanner) object(names []string, member func(i int) bool) bool {
	if !s.punct('{') {
		return false
	}
	var seen uint
	for n := range names {
		if n > 0 && !s.punct(',') {
			return false
		}
		i, ok := s.key(names)
		if !ok || seen&(1<<i) != 0 || !s.punct(':') || !member(i) {
			return false
		}
		seen |= 1 << i
	}
	return s.punct('}')
}

// key reads a member name and returns its index in names.
func (s *scanner) key(names []string) (int, bool) {
	raw, escaped, ok := s.raw()
	if !ok {
		return 0, false
	}
	if escaped {
		// encoding/json decodes names, so `"tok\u0065n"` is token.
		if raw, ok = unescape(raw); !ok {
			return 0, false
		}
	}
	for i, n := range names {
		if raw == n {
			return i, true
		}
	}
	return 0, false
}

// str reads a string value.
func (s *scanner) str() (string, bool) {
	raw, escaped, ok := s.raw()
	if !ok {
		return "", false
	}
	if escaped {
		return unescape(raw)
	}
	return raw, true
}

// raw reads a string and returns what stands between its quotes, and
// whether that holds escapes. A raw control byte is not the common case.
func (s *scanner) raw() (raw string, escaped, ok bool) {
	if !s.punct('"') {
		return "", false, false
	}
	b, start := s.b, s.i
	for i := start; ; {
		for i < len(b) && plain[b[i]] { // locals: the loop stays in registers
			i++
		}
		if i >= len(b) {
			return "", false, false
		}
		switch b[i] {
		case '"':
			s.i = i + 1
			return b[start:i], escaped, true
		case '\\':
			escaped = true
			i += 2 // the escape's letter cannot be a closing quote
		default:
			return "", false, false
		}
	}
}

// plain marks the bytes that stand for themselves inside a string: all but
// the quote, the backslash and the control bytes. A table keeps the loop
// over long values to one load and one branch a byte.
var plain = func() (t [256]bool) {
	for c := 0x20; c < len(t); c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// unescape decodes the contents of a string as encoding/json does, but
// reports false where it would quietly write U+FFFD for a lone surrogate,
// so that the walker can report it.
func unescape(raw string) (string, bool) {
	var b strings.Builder
	b.Grow(len(raw)) // an escape never decodes to more bytes than it takes
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(raw) {
			return "", false
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			b.WriteByte(raw[i+1])
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, n := unicodeEscape(raw[i:])
			if n == 0 {
				return "", false
			}
			b.WriteRune(r)
			i += n
			continue
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), true
}

// unicodeEscape decodes the \uXXXX escape at the start of raw, or the pair
// of them that encodes one character outside the BMP, and returns how many
// bytes it took: 0 if there is no such escape or it is a lone surrogate.
func unicodeEscape(raw string) (rune, int) {
	r, ok := hex4(raw)
	switch {
	case !ok:
		return 0, 0
	case !utf16.IsSurrogate(r):
		return r, 6
	}
	low, ok := hex4(raw[6:])
	if !ok {
		return 0, 0
	}
	if pair := utf16.DecodeRune(r, low); pair != utf8.RuneError {
		return pair, 12
	}
	return 0, 0
}

// hex4 decodes `\uXXXX` at the start of raw.
func hex4(raw string) (rune, bool) {
	if len(raw) < 6 || raw[0] != '\\' || raw[1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range raw[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// punct skips whitespace and reads c.
func (s *scanner) punct(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end reports whether only whitespace is left.
func (s *scanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// space skips JSON's four whitespace bytes, and no others.
func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}
