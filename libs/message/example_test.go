package message_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/devops-exam/msgpipe/libs/message"
)

func ExampleParseRequest() {
	body := []byte(`{"data":{"email_subject":"Hi","email_sender":"not an address","email_timestream":"1693561101","cc":"x"},"token":"t"}`)
	req, err := message.ParseRequest(body)
	if err != nil {
		fmt.Println("400:", err) // malformed JSON: no token to check
		return
	}
	// ... check req.Token first, then:
	var me *message.Error
	if errors.As(req.Validate(), &me) {
		for _, f := range me.Fields {
			fmt.Printf("%s: %s\n", f.Field, f.Message)
		}
	}
	// Output:
	// data.cc: unknown field
	// data.email_content: required: must be a non-empty string
	// data.email_sender: must be an e-mail address
}

func ExampleObjectKey() {
	sent := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
	key, _ := message.ObjectKey("3f2b9c1d-0000-4000-8000-000000000000", sent)
	fmt.Println(key)
	// Output: messages/2024/01/15/3f2b9c1d-0000-4000-8000-000000000000.json
}
