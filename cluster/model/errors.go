package model

import (
	"errors"
	"fmt"
)

// ErrorCode classifies an error so that it survives a hop between nodes and
// maps to one HTTP status in the UI.
type ErrorCode string

// The error codes. They are part of the replicated log and the API: never
// rename one.
const (
	CodeInvalid         ErrorCode = "invalid"
	CodeNotFound        ErrorCode = "not_found"
	CodeAlreadyExists   ErrorCode = "already_exists"
	CodeForbidden       ErrorCode = "forbidden"
	CodeConflict        ErrorCode = "conflict"
	CodeUnauthenticated ErrorCode = "unauthenticated"
	CodeTooLarge        ErrorCode = "too_large"
	CodeUnavailable     ErrorCode = "unavailable"
	CodeInternal        ErrorCode = "internal"
)

// Error is a domain error with a code, a message for people and, for invalid
// input, the field at fault. errors.Is matches two *Error values by Code, so
// errors.Is(err, model.ErrForbidden) works on any forbidden error.
type Error struct {
	Code    ErrorCode `json:"code"`
	Message string    `json:"message,omitempty"`
	Field   string    `json:"field,omitempty"`
}

// Sentinels for errors.Is, one per code.
var (
	ErrInvalid         = &Error{Code: CodeInvalid}
	ErrNotFound        = &Error{Code: CodeNotFound}
	ErrAlreadyExists   = &Error{Code: CodeAlreadyExists}
	ErrForbidden       = &Error{Code: CodeForbidden}
	ErrConflict        = &Error{Code: CodeConflict}
	ErrUnauthenticated = &Error{Code: CodeUnauthenticated}
	ErrTooLarge        = &Error{Code: CodeTooLarge}
	ErrUnavailable     = &Error{Code: CodeUnavailable}
	ErrInternal        = &Error{Code: CodeInternal}
)

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = string(e.Code)
	}
	if e.Field != "" {
		return e.Field + ": " + msg
	}
	return msg
}

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && t.Code == e.Code
}

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an invalid-input error about one field.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// AsError returns err as an *Error: its own *Error if it wraps one, otherwise
// an internal error carrying its text. AsError(nil) is nil.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternal, Message: err.Error()}
}

// CodeOf returns the code of err, CodeInternal if it carries none, "" for nil.
func CodeOf(err error) ErrorCode {
	if err == nil {
		return ""
	}
	return AsError(err).Code
}
