package intake

// observe tells Options.Observe how the connection fares: connected after
// every pass that completed (the server answers), not connected for each
// connection lost or not made (a reconnect follows). It runs on intake's
// own goroutine, so the observer must only count.
func (in *Intake) observe(connected bool) {
	if in.opts.Observe != nil {
		in.opts.Observe(connected)
	}
}
