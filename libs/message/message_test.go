package message

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

const validBody = `{"data":{"email_subject":"Hello","email_sender":"Ann <ann@example.com>","email_timestream":"1693561101","email_content":"Line one\nLine two\t<b>&</b>"},"token":"s3cret"}`

func TestParseRequestAcceptsAValidMessage(t *testing.T) {
	req, err := ParseRequest([]byte(validBody))
	if err != nil {
		t.Fatalf("ParseRequest: %v", err)
	}
	want := Data{
		EmailSubject:    "Hello",
		EmailSender:     "Ann <ann@example.com>",
		EmailTimestream: "1693561101",
		EmailContent:    "Line one\nLine two\t<b>&</b>",
	}
	if req.Data != want || req.Token != "s3cret" || !req.HasToken {
		t.Fatalf("got %+v", req)
	}
	if err := req.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestParseRequestWithoutTokenIsNotAnError(t *testing.T) {
	// A missing token is an authentication failure (401), decided by the
	// caller, not a schema violation.
	req, err := ParseRequest([]byte(`{"data":{"email_subject":"a","email_sender":"a@b.c","email_timestream":"t","email_content":"c"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if req.HasToken || req.Token != "" {
		t.Fatalf("got %+v", req)
	}
}

func TestParseRequestRejectsBadInput(t *testing.T) {
	data := func(subject, sender, ts, content string) string {
		return `{"email_subject":` + subject + `,"email_sender":` + sender + `,"email_timestream":` + ts + `,"email_content":` + content + `}`
	}
	good := data(`"s"`, `"a@b.c"`, `"t"`, `"c"`)
	cases := []struct {
		name   string
		body   string
		kind   Kind
		fields []string // offending fields, in order; nil for malformed input
		text   string   // part of the error message
	}{
		{"empty body", ``, Malformed, nil, "body is empty"},
		{"not JSON", `hello`, Malformed, nil, "invalid character"},
		{"array", `[1,2]`, Malformed, nil, "must be a JSON object"},
		{"string", `"x"`, Malformed, nil, "must be a JSON object"},
		{"null", `null`, Malformed, nil, "must be a JSON object"},
		{"truncated", `{"data":{"email_subject":"s"`, Malformed, nil, "before the JSON object is complete"},
		{"trailing object", `{"data":` + good + `,"token":"t"}{}`, Malformed, nil, "unexpected data after"},
		{"trailing garbage", `{"data":` + good + `,"token":"t"} x`, Malformed, nil, "unexpected data after"},
		{"invalid UTF-8 bytes", "{\"data\":" + good + ",\"token\":\"\xff\"}", Malformed, nil, "not valid UTF-8"},
		{"missing data", `{"token":"t"}`, Invalid, []string{"data"}, "required"},
		{"data is a string", `{"data":"x","token":"t"}`, Invalid, []string{"data"}, "must be a JSON object"},
		{"data is null", `{"data":null,"token":"t"}`, Invalid, []string{"data"}, "must be a JSON object"},
		{"unknown top-level field", `{"data":` + good + `,"token":"t","admin":true}`, Invalid, []string{"admin"}, "unknown field"},
		{"repeated token", `{"data":` + good + `,"token":"t","token":"u"}`, Invalid, []string{"token"}, "repeated field"},
		{"token is a number", `{"data":` + good + `,"token":1}`, Invalid, []string{"token"}, "must be a string"},
		{"unknown data field", `{"data":{"email_subject":"s","email_sender":"a@b.c","email_timestream":"t","email_content":"c","cc":"x"},"token":"t"}`, Invalid, []string{"data.cc"}, "unknown field"},
		{"all data fields missing", `{"data":{},"token":"t"}`, Invalid, []string{"data.email_subject", "data.email_sender", "data.email_timestream", "data.email_content"}, "required"},
		{"number and null fields", `{"data":` + data(`1`, `null`, `true`, `{}`) + `,"token":"t"}`, Invalid, []string{"data.email_subject", "data.email_sender", "data.email_timestream", "data.email_content"}, "must be a string"},
		{"structural and value problems together", `{"data":{"email_subject":"","email_sender":"x","extra":1},"token":"t","x":1}`, Invalid,
			[]string{"data.extra", "data.email_timestream", "data.email_content", "x", "data.email_subject", "data.email_sender"}, "unknown field"},
		{"lone surrogate", `{"data":` + data(`"\ud800"`, `"a@b.c"`, `"t"`, `"c"`) + `,"token":"t"}`, Invalid, []string{"data.email_subject"}, "valid UTF-8"},
		{"lone surrogate beside a real U+FFFD escape", `{"data":` + data(`"s"`, `"a@b.c"`, `"t"`, `"a\ud800b\ufffd"`) + `,"token":"t"}`, Invalid, []string{"data.email_content"}, "valid UTF-8"},
		{"lone surrogate beside a literal U+FFFD", `{"data":` + data(`"a\udfff�"`, `"a@b.c"`, `"t"`, `"c"`) + `,"token":"t"}`, Invalid, []string{"data.email_subject"}, "valid UTF-8"},
		{"high surrogate before a non-surrogate escape", `{"data":` + data(`"s"`, `"a@b.c"`, `"t\uD83D\u0041"`, `"c"`) + `,"token":"t"}`, Invalid, []string{"data.email_timestream"}, "valid UTF-8"},
		{"two high surrogates", `{"data":` + data(`"s"`, `"a@b.c"`, `"t"`, `"\ud83d\ud83d\ude00 \ufffd"`) + `,"token":"t"}`, Invalid, []string{"data.email_content"}, "valid UTF-8"},
		{"U+FFFE escaped", `{"data":` + data(`"s"`, `"a@b.c"`, `"t"`, `"a\ufffeb"`) + `,"token":"t"}`, Invalid, []string{"data.email_content"}, "U+FFFE"},
		{"U+FFFF literal", `{"data":` + data("\"s\uFFFF\"", `"a@b.c"`, `"t"`, `"c"`) + `,"token":"t"}`, Invalid, []string{"data.email_subject"}, "U+FFFF"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := ParseRequest([]byte(tc.body))
			if err == nil {
				err = req.Validate()
			}
			assertError(t, err, tc.kind, tc.fields, tc.text)
		})
	}
}

func TestValidateRejectsBadValues(t *testing.T) {
	ok := Data{EmailSubject: "s", EmailSender: "a@b.c", EmailTimestream: "t", EmailContent: "c"}
	with := func(f func(*Data)) Data { d := ok; f(&d); return d }
	cases := []struct {
		name  string
		data  Data
		field string
		text  string
	}{
		{"blank subject", with(func(d *Data) { d.EmailSubject = " \t " }), "data.email_subject", "required"},
		{"subject with line break", with(func(d *Data) { d.EmailSubject = "a\r\nBcc: x@y.z" }), "data.email_subject", "control characters"},
		{"subject too long", with(func(d *Data) { d.EmailSubject = strings.Repeat("é", MaxSubjectRunes+1) }), "data.email_subject", "at most 998 characters"},
		{"sender not an address", with(func(d *Data) { d.EmailSender = "not-an-address" }), "data.email_sender", "e-mail address"},
		{"sender too long", with(func(d *Data) { d.EmailSender = strings.Repeat("a", 250) + "@b.cd" }), "data.email_sender", "at most 254 bytes"},
		{"timestream too long", with(func(d *Data) { d.EmailTimestream = strings.Repeat("1", MaxTimestreamRunes+1) }), "data.email_timestream", "at most 64 characters"},
		{"content too long", with(func(d *Data) { d.EmailContent = strings.Repeat("x", MaxContentBytes+1) }), "data.email_content", "at most 100000 bytes"},
		{"content with NUL", with(func(d *Data) { d.EmailContent = "a\x00b" }), "data.email_content", "control characters other than tab"},
		{"content invalid UTF-8", with(func(d *Data) { d.EmailContent = "a\xffb" }), "data.email_content", "valid UTF-8"},
		{"blank content", with(func(d *Data) { d.EmailContent = "\n\n" }), "data.email_content", "required"},
		{"content with U+FFFE", with(func(d *Data) { d.EmailContent = "a\uFFFEb" }), "data.email_content", "U+FFFE"},
		{"content with U+FFFF", with(func(d *Data) { d.EmailContent = "\uFFFF" }), "data.email_content", "U+FFFF"},
		{"sender with U+FFFF", with(func(d *Data) { d.EmailSender = "a\uFFFF@b.c" }), "data.email_sender", "U+FFFF"},
		{"timestream with U+FFFE", with(func(d *Data) { d.EmailTimestream = "1\uFFFE" }), "data.email_timestream", "U+FFFE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assertError(t, tc.data.Validate(), Invalid, []string{tc.field}, tc.text)
		})
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid data rejected: %v", err)
	}
}

func TestValidateAtTheLimitsAccepts(t *testing.T) {
	d := Data{
		EmailSubject:    strings.Repeat("é", MaxSubjectRunes),
		EmailSender:     strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com",
		EmailTimestream: strings.Repeat("1", MaxTimestreamRunes),
		EmailContent:    strings.Repeat("\"", MaxContentBytes),
	}
	if len(d.EmailSender) != MaxSenderBytes {
		t.Fatalf("test sender is %d bytes", len(d.EmailSender))
	}
	if err := d.Validate(); err != nil {
		t.Fatalf("data at the limits rejected: %v", err)
	}
	b, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	// The worst case (every content byte escaped) must still fit in an SQS
	// message, which is why the limits are what they are.
	if len(b) > 256*1024-4*1024 {
		t.Fatalf("worst-case encoding is %d bytes, over the SQS budget", len(b))
	}
}

func TestErrorsNameEveryProblem(t *testing.T) {
	err := Data{EmailSender: "nope"}.Validate()
	want := "invalid payload: data.email_subject: required: must be a non-empty string; data.email_sender: must be an e-mail address; data.email_timestream: required: must be a non-empty string; data.email_content: required: must be a non-empty string"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	d := Data{EmailSubject: "<Hi> & \"bye\"", EmailSender: "a@b.c", EmailTimestream: "2024-01-15T10:00:00Z", EmailContent: "ünïcode ✓ \U0001F600\n\uFFFD"}
	b, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `\u003c`) {
		t.Errorf("HTML was escaped: %s", b)
	}
	got, err := DecodeData(b)
	if err != nil {
		t.Fatalf("DecodeData(%s): %v", b, err)
	}
	if got != d {
		t.Fatalf("round trip changed the message:\n got %+v\nwant %+v", got, d)
	}
}

func TestStoredEncodesWithoutHTMLEscaping(t *testing.T) {
	doc := Stored{SchemaVersion: SchemaVersion, MessageID: "m-1", Data: Data{EmailSubject: "<b>&</b>"}}
	b, err := doc.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"email_subject":"<b>&</b>"`) || strings.HasSuffix(string(b), "\n") {
		t.Fatalf("encoded %s", b)
	}
}

func TestDecodeDataRejectsWhatTheAPIWould(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		kind   Kind
		fields []string
		text   string
	}{
		{"not JSON", `{"email_subject":`, Malformed, nil, "before the JSON object is complete"},
		{"array", `[]`, Malformed, nil, "must be a JSON object"},
		{"invalid UTF-8", "{\"email_subject\":\"\xfe\"}", Malformed, nil, "not valid UTF-8"},
		{"missing fields", `{"email_subject":"s"}`, Invalid, []string{"email_sender", "email_timestream", "email_content"}, "required"},
		{"token smuggled in", `{"email_subject":"s","email_sender":"a@b.c","email_timestream":"t","email_content":"c","token":"x"}`, Invalid, []string{"token"}, "unknown field"},
		{"bad sender", `{"email_subject":"s","email_sender":"x","email_timestream":"t","email_content":"c"}`, Invalid, []string{"email_sender"}, "e-mail address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeData([]byte(tc.body))
			assertError(t, err, tc.kind, tc.fields, tc.text)
		})
	}
}

func TestObjectKey(t *testing.T) {
	sent := time.Date(2024, 1, 15, 23, 30, 0, 0, time.FixedZone("UTC-5", -5*3600))
	key, err := ObjectKey("3f2b-9c1d", sent)
	if err != nil {
		t.Fatal(err)
	}
	// 23:30 at UTC-5 is the 16th in UTC: the key follows UTC, not the zone.
	if want := "messages/2024/01/16/3f2b-9c1d.json"; key != want {
		t.Fatalf("ObjectKey = %q, want %q", key, want)
	}
	for _, bad := range []string{"", ".", "..", "../etc", "a/b", "a b", strings.Repeat("x", 129)} {
		if _, err := ObjectKey(bad, sent); err == nil {
			t.Errorf("ObjectKey(%q) accepted", bad)
		}
	}
}

func assertError(t *testing.T, err error, kind Kind, fields []string, text string) {
	t.Helper()
	var me *Error
	if !errors.As(err, &me) {
		t.Fatalf("want *message.Error, got %T %v", err, err)
	}
	if me.Kind != kind {
		t.Errorf("kind = %d, want %d (%v)", me.Kind, kind, err)
	}
	var got []string
	for _, f := range me.Fields {
		got = append(got, f.Field)
	}
	if !reflect.DeepEqual(got, fields) {
		t.Errorf("fields = %v, want %v (%v)", got, fields, err)
	}
	if !strings.Contains(err.Error(), text) {
		t.Errorf("error %q lacks %q", err, text)
	}
}

// Escapes that only look like lone surrogates, and real pairs next to a
// U+FFFD the client did send, are valid text.
func TestParseRequestAcceptsSurrogatePairsAndEscapedBackslashes(t *testing.T) {
	cases := map[string]string{
		`"\ud83d\ude00 \ufffd"`:      "\U0001F600 \uFFFD",
		`"\\ud800 \ufffd"`:           `\ud800 ` + "\uFFFD",
		`"\\\ud83d\uDE00"`:           `\` + "\U0001F600",
		`"U+FFFD: ` + "\uFFFD" + `"`: "U+FFFD: \uFFFD",
	}
	for content, want := range cases {
		body := `{"data":{"email_subject":"s","email_sender":"a@b.c","email_timestream":"t","email_content":` + content + `},"token":"t"}`
		req, err := ParseRequest([]byte(body))
		if err == nil {
			err = req.Validate()
		}
		if err != nil || req.Data.EmailContent != want {
			t.Errorf("%s: got %q, %v; want %q", content, req.Data.EmailContent, err, want)
		}
	}
}

// The largest valid request a client can send, with every character
// escaped, fits in MaxRequestBytes and is accepted.
func TestMaxRequestBytesFitsTheWorstCaseValidRequest(t *testing.T) {
	esc := func(r rune, n int) string {
		var one string
		if r > 0xFFFF {
			hi, lo := utf16.EncodeRune(r)
			one = fmt.Sprintf(`\u%04x\u%04x`, hi, lo)
		} else {
			one = fmt.Sprintf(`\u%04x`, r)
		}
		return strings.Repeat(one, n)
	}
	sender := esc('a', 64) + esc('@', 1) + esc('b', MaxSenderBytes-64-1-4) + esc('.', 1) + esc('c', 3)
	body := "{\n  \"data\": {\n    \"email_subject\": \"" + esc('\U0001F600', MaxSubjectRunes) +
		"\",\n    \"email_sender\": \"" + sender +
		"\",\n    \"email_timestream\": \"" + esc('\U0001F600', MaxTimestreamRunes) +
		"\",\n    \"email_content\": \"" + esc('x', MaxContentBytes) +
		"\"\n  },\n  \"token\": \"" + esc('t', MaxTokenBytes) + "\"\n}\n"
	req, err := ParseRequest([]byte(body))
	if err == nil {
		err = req.Validate()
	}
	if err != nil {
		t.Fatalf("worst-case valid request refused: %v", err)
	}
	if len(req.Data.EmailContent) != MaxContentBytes || len(req.Token) != MaxTokenBytes {
		t.Fatalf("test request is not at the limits: content %d, token %d", len(req.Data.EmailContent), len(req.Token))
	}
	if len(body) > MaxRequestBytes {
		t.Fatalf("worst-case valid request is %d bytes, MaxRequestBytes is %d", len(body), MaxRequestBytes)
	}
	// The slack is for punctuation and whitespace, not a second message.
	if MaxRequestBytes-len(body) > 1<<10 {
		t.Fatalf("MaxRequestBytes %d is far above the worst case %d", MaxRequestBytes, len(body))
	}
}

// The consumer records which SQS copy it stored beside the api's id; a
// strict reader of stored objects (the E2E check) must accept it, and an
// object without it reads as before.
func TestStoredCarriesTheStoredCopysSQSMessageID(t *testing.T) {
	b, err := Stored{SchemaVersion: SchemaVersion, MessageID: "01a2-api", SQSMessageID: "sqs-1"}.Encode()
	if err != nil || !strings.Contains(string(b), `"message_id":"01a2-api","sqs_message_id":"sqs-1"`) {
		t.Fatalf("encoded %s, %v", b, err)
	}
	if b, _ := (Stored{MessageID: "m"}).Encode(); strings.Contains(string(b), "sqs_message_id") {
		t.Fatalf("empty sqs_message_id written: %s", b)
	}
}
