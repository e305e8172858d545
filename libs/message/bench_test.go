package message

import (
	"strconv"
	"strings"
	"testing"
)

func BenchmarkParseAndValidate(b *testing.B) {
	for _, size := range []int{100, 10_000, MaxContentBytes} {
		body := []byte(`{"data":{"email_subject":"Quarterly report","email_sender":"Ann <ann@example.com>","email_timestream":"1693561101","email_content":"` +
			strings.Repeat("x", size) + `"},"token":"s3cret"}`)
		b.Run(byteSize(size), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				req, err := ParseRequest(body)
				if err != nil {
					b.Fatal(err)
				}
				if err := req.Validate(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeData(b *testing.B) {
	d := Data{EmailSubject: "Quarterly report", EmailSender: "ann@example.com", EmailTimestream: "1693561101", EmailContent: strings.Repeat("x", 10_000)}
	body, err := d.Encode()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeData(body); err != nil {
			b.Fatal(err)
		}
	}
}

func byteSize(n int) string {
	if n >= 1000 {
		return strconv.Itoa(n/1000) + "KB"
	}
	return strconv.Itoa(n) + "B"
}
