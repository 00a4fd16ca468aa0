package polltimer

// fallback returns the Timer New returns when it has no timerfd.
func fallback() *Timer { return &Timer{tt: newTimeTimer()} }
