package remote

import "context"

type progressKey struct{}

// WithProgress returns a context under which long operations (an
// asynchronous template creation in the live dialect) report how far they
// have come, e.g. `in progress (12s)`. The message does not name the
// object: the caller knows which change it is running and says so.
// report may be called from the goroutine making the call, several times.
func WithProgress(ctx context.Context, report func(message string)) context.Context {
	return context.WithValue(ctx, progressKey{}, report)
}

// progressFrom returns the context's progress reporter, or one that
// discards.
func progressFrom(ctx context.Context) func(string) {
	if f, ok := ctx.Value(progressKey{}).(func(string)); ok && f != nil {
		return f
	}
	return func(string) {}
}
