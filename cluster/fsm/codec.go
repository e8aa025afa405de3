package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/sded/sded/cluster/model"
)

// MaxCommandSize bounds an encoded command.
const MaxCommandSize = 1 << 20

// Encode writes cmd as one type byte followed by its JSON envelope. It
// refuses an invalid envelope and anything larger than MaxCommandSize.
func Encode(cmd model.Command) ([]byte, error) {
	if err := cmd.Validate(); err != nil {
		return nil, err
	}
	if len(cmd.Payload) > 0 && !json.Valid(cmd.Payload) {
		return nil, model.FieldError("payload", "is not valid JSON")
	}
	if len(cmd.Payload) > MaxCommandSize {
		return nil, model.Errorf(model.CodeTooLarge, "command is larger than %d bytes", MaxCommandSize)
	}
	var buf bytes.Buffer
	buf.WriteByte(byte(cmd.Type))
	if err := json.NewEncoder(&buf).Encode(cmd); err != nil {
		return nil, fmt.Errorf("encoding command: %w", err)
	}
	if buf.Len() > MaxCommandSize {
		return nil, model.Errorf(model.CodeTooLarge, "command is %d bytes, more than %d", buf.Len(), MaxCommandSize)
	}
	return buf.Bytes(), nil
}

// Decode reads a command written by Encode. Anything else — empty, oversize,
// an unknown type, bad JSON, unknown fields, a bad envelope — is a
// *model.Error with code invalid (too_large for oversize).
func Decode(b []byte) (model.Command, error) {
	if len(b) == 0 {
		return model.Command{}, model.Errorf(model.CodeInvalid, "empty command")
	}
	if len(b) > MaxCommandSize {
		return model.Command{}, model.Errorf(model.CodeTooLarge, "command is %d bytes, more than %d", len(b), MaxCommandSize)
	}
	cmd := model.Command{Type: model.CommandType(b[0])}
	if !cmd.Type.Known() {
		return model.Command{}, model.Errorf(model.CodeInvalid, "unknown command type %d", b[0])
	}
	dec := json.NewDecoder(bytes.NewReader(b[1:]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cmd); err != nil {
		return model.Command{}, model.Errorf(model.CodeInvalid, "malformed %s command: %v", cmd.Type, err)
	}
	if dec.More() {
		return model.Command{}, model.Errorf(model.CodeInvalid, "trailing data after %s command", cmd.Type)
	}
	if err := cmd.Validate(); err != nil {
		return model.Command{}, err
	}
	cmd.Time = cmd.Time.UTC()
	return cmd, nil
}

// decodePayload decodes and validates a command's payload strictly.
func decodePayload[T model.Validator](cmd model.Command) (T, error) {
	var p T
	if len(cmd.Payload) == 0 {
		return p, model.FieldError("payload", "is missing")
	}
	dec := json.NewDecoder(bytes.NewReader(cmd.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, model.FieldError("payload", "malformed %s payload: %v", cmd.Type, err)
	}
	if dec.More() {
		return p, model.FieldError("payload", "trailing data")
	}
	if err := p.Validate(); err != nil {
		return p, err
	}
	return p, nil
}
