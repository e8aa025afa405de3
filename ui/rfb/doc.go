// Package rfb is a filtering proxy for the RFB (VNC) protocol, version 3.8. It
// sits between a browser's noVNC client and a workstation's VNC server, parses
// the handshake and every message in both directions, and enforces the
// clipboard policy on the server side: guest-to-browser clipboard text
// (ServerCutText) is always dropped, browser-to-guest text (ClientCutText) is
// dropped unless the policy allows paste-in, and the extended clipboard
// pseudo-encoding is stripped from SetEncodings so neither side can negotiate
// another way to move clipboard data. Encodings the proxy cannot frame are
// stripped too, and any message it does not understand ends the session: the
// proxy fails closed rather than forwarding bytes it has not parsed.
package rfb
