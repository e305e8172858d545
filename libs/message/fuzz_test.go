package message

import (
	"errors"
	"testing"
)

// FuzzParseRequest feeds arbitrary bodies through the API's decoding and
// validation. Whatever the input, the result is either a *message.Error or a
// message that survives the trip through SQS to the consumer unchanged.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(validBody))
	f.Add([]byte(`{"data":{},"token":""}`))
	f.Add([]byte(`{"data":{"email_subject":"\ud800","email_sender":"a@b.c","email_timestream":"t","email_content":"c"},"token":"t"}`))
	f.Add([]byte(`{"data":{"email_subject":"s","email_sender":"a@b.c","email_timestream":"t","email_content":"a\ud800b\ufffd"},"token":"t"}`))
	f.Add([]byte(`{"data":{"email_subject":"s","email_sender":"a@b.c","email_timestream":"t","email_content":"\\ud800\ud83d\ude00\ufffe"},"token":"t"}`))
	f.Add([]byte(`{"data":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseRequest(body)
		if err != nil {
			var me *Error
			if !errors.As(err, &me) || me.Kind != Malformed {
				t.Fatalf("ParseRequest returned %T: %v", err, err)
			}
			return
		}
		if err := req.Validate(); err != nil {
			var me *Error
			if !errors.As(err, &me) || me.Kind != Invalid || len(me.Fields) == 0 {
				t.Fatalf("Validate returned %T: %v", err, err)
			}
			return
		}
		for _, v := range []string{req.Data.EmailSubject, req.Data.EmailSender, req.Data.EmailTimestream, req.Data.EmailContent} {
			for _, r := range v {
				if !sqsAccepts(r) {
					t.Fatalf("accepted U+%04X, which SQS refuses: %q", r, v)
				}
			}
		}
		enc, err := req.Data.Encode()
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		got, err := DecodeData(enc)
		if err != nil {
			t.Fatalf("the consumer rejects what the API accepted: %v\nbody: %q", err, enc)
		}
		if got != req.Data {
			t.Fatalf("round trip changed the message: %+v != %+v", got, req.Data)
		}
	})
}

// sqsAccepts is SQS's own rule for message bodies, written out
// independently of the validation it checks.
func sqsAccepts(r rune) bool {
	return r == 0x9 || r == 0xA || r == 0xD || (r >= 0x20 && r <= 0xD7FF) ||
		(r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}
