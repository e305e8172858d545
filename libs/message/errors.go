package message

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// describeJSONError turns encoding/json's errors into text a client can act
// on, with the byte offset where the decoder gave up.
func describeJSONError(err error) string {
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("%s at byte %d", syn.Error(), syn.Offset)
	case errors.Is(err, io.EOF):
		return "body is empty"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "body ends before the JSON object is complete"
	default:
		return err.Error()
	}
}

// midObject maps a plain EOF inside an object, which the decoder reports
// when a value is missing, to the unexpected EOF that it is.
func midObject(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
