// Package browser holds sded's end-to-end browser tests: headless Chromium
// (driven with chromedp) signs in with TOTP, creates a workstation and opens
// its desktop through the UI's websocket proxy to a real VNC server, and the
// benchmarks of the logged-in UI and the desktop proxy. Screenshots go to
// test/artifacts/.
package browser
