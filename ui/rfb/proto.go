package rfb

// Client-to-server message types (RFC 6143 section 7.5, plus extensions).
const (
	msgSetPixelFormat        = 0
	msgSetEncodings          = 2
	msgFramebufferUpdateReq  = 3
	msgKeyEvent              = 4
	msgPointerEvent          = 5
	msgClientCutText         = 6
	msgSetDesktopSize        = 251
	msgQEMUClient            = 255
	qemuExtendedKeyEventType = 0
)

// Server-to-client message types.
const (
	msgFramebufferUpdate   = 0
	msgSetColourMapEntries = 1
	msgBell                = 2
	msgServerCutText       = 3
)

// Encodings and pseudo-encodings the proxy knows how to frame.
const (
	encRaw                 = 0
	encCopyRect            = 1
	encRRE                 = 2
	encHextile             = 5
	encZRLE                = 16
	encDesktopSize         = -223
	encLastRect            = -224
	encCursor              = -239
	encQEMUExtendedKey     = -258
	encDesktopName         = -307
	encExtendedDesktopSize = -308

	// EncExtendedClipboard is the extended clipboard pseudo-encoding; it is
	// always stripped.
	EncExtendedClipboard = -1063131698 // 0xC0A1E5CE as int32
)

// Security types.
const (
	secNone    = 1
	secVNCAuth = 2
)

// allowedEncoding reports whether the proxy forwards encoding e in a
// SetEncodings message: encodings whose rectangles it can frame, and
// quality/compression levels, which produce no rectangles.
func allowedEncoding(e int32) bool {
	switch e {
	case encRaw, encCopyRect, encRRE, encHextile, encZRLE,
		encDesktopSize, encLastRect, encCursor, encQEMUExtendedKey,
		encDesktopName, encExtendedDesktopSize:
		return true
	}
	if e >= -32 && e <= -23 { // JPEG quality levels
		return true
	}
	if e >= -256 && e <= -247 { // compression levels
		return true
	}
	return false
}
