package main

import "context"

// serveUI starts the web interface; wired once the ui package lands.
func (d *daemon) serveUI(ctx context.Context) (func(), error) { return func() {}, nil }
