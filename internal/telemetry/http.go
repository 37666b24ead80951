package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves /metrics (Prometheus text format) and /healthz (200 "ok",
// or 503 with one line per problem; then, when instances share the
// desks, a line per desk naming the instance that holds it).
func (t *Telemetry) Handler(log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{
		// A desk whose outbox cannot be read must not hide the others.
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      errorLog{log},
		Timeout:       2 * scrapeTimeout,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), scrapeTimeout)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		lines := []string{"ok"}
		if problems := t.Check(ctx); len(problems) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			lines = problems
		}
		fmt.Fprintln(w, strings.Join(append(lines, t.Leases()...), "\n"))
	})
	return mux
}

type errorLog struct{ log *slog.Logger }

func (l errorLog) Println(v ...any) {
	l.log.Error("metrics: " + strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}

// shutdownWait is how long a scrape in progress may take once the daemon
// stops.
const shutdownWait = 5 * time.Second

// Serve answers on ln until ctx ends, then closes it.
func (t *Telemetry) Serve(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           t.Handler(log),
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	stopped := make(chan error, 1)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownWait)
		defer cancel()
		stopped <- srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http listener %s: %w", ln.Addr(), err)
	}
	return <-stopped
}
