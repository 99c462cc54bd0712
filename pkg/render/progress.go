package render

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/psync-dev/psync/pkg/apply"
)

// Progress prints an apply as it runs: each change when it finishes, with
// its duration and the same wording as the text report, and on a terminal
// a status line ("\r"-rewritten) with done/total, the elapsed time, the
// changes calling the API (never more than the parallelism) and those
// waiting for their journal write, an estimate of the time left, and what
// holds the apply back when it is a rate limit. It is safe for concurrent
// use, so it can be the applier's event callback.
type Progress struct {
	w     io.Writer
	st    styler
	live  bool
	now   func() time.Time
	start time.Time

	mu      sync.Mutex
	total   int
	done    int
	calling map[string]bool // keys of changes whose API calls are in flight
	saving  map[string]bool // keys of changes waiting for their journal write
	note    string          // the last EventProgress message, for the status line
	shown   int             // width of the status line on screen, 0 if none
	closed  bool
	stop    chan struct{}
	ticker  sync.WaitGroup
	// pace, if set, says what sets the apply's pace when it is not the
	// API's latency ("rate-limited by the API: 48 req/s"), or "".
	pace func() string
}

// etaAfter is how many changes must be done before the status line
// estimates the time left: the first few include connecting, and a guess
// from them jumps about.
const etaAfter = 5

// progressTick is how often a live status line refreshes its clock when
// no event arrives (a long template create, say).
const progressTick = time.Second

// NewProgress starts reporting an apply of total changes to w. live
// selects the status line: pass true only when w is a terminal. Close it
// when the apply returns.
func NewProgress(w io.Writer, total int, o Options, live bool) *Progress {
	return newProgress(w, total, o, live, time.Now, progressTick)
}

// newProgress takes the clock and refresh period, so tests can fix them
// (tick 0: no refresh goroutine).
func newProgress(w io.Writer, total int, o Options, live bool, now func() time.Time, tick time.Duration) *Progress {
	p := &Progress{w: w, st: styler{on: o.Color}, live: live, now: now, start: now(), total: total, calling: map[string]bool{}, saving: map[string]bool{}}
	if live && tick > 0 {
		p.stop = make(chan struct{})
		p.ticker.Add(1)
		go p.refresh(tick)
	}
	return p
}

func (p *Progress) refresh(tick time.Duration) {
	defer p.ticker.Done()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			if !p.closed {
				p.drawStatus()
			}
			p.mu.Unlock()
		}
	}
}

// Event reports one apply event. Events after Close are ignored.
func (p *Progress) Event(e apply.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if e.Total > 0 {
		p.total = e.Total
	}
	switch e.Kind {
	case apply.EventStarted:
		p.calling[e.Result.Change.Key] = true
	case apply.EventSaving:
		delete(p.calling, e.Result.Change.Key)
		p.saving[e.Result.Change.Key] = true
	case apply.EventProgress:
		msg := object(e.Result.Change) + ": " + sanitize(e.Message)
		if p.live {
			p.note = msg
		} else {
			// In the columns of the result lines, with "..." for the
			// status and the change's symbol.
			c := e.Result.Change
			pad := strings.Repeat(" ", statusWidth-len("...")+1)
			sym := strings.Repeat(" ", max(0, 3-len(Symbol(c.Action)))) + p.st.symbol(c.Action)
			p.println("  ..." + pad + sym + " " + msg)
		}
	case apply.EventFinished:
		// A skipped change never started.
		delete(p.calling, e.Result.Change.Key)
		delete(p.saving, e.Result.Change.Key)
		if e.Done > 0 {
			p.done = e.Done
		} else {
			p.done++
		}
		p.note = ""
		p.println(textView{st: p.st}.resultLine(e.Result))
	}
	p.drawStatus()
}

// SetPace gives the status line what sets the apply's pace when it is not
// the API's latency; f is called at each redraw and returns "" when
// nothing holds the apply back.
func (p *Progress) SetPace(f func() string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pace = f
}

// Println prints a line (a notice of the caller's) above the status line,
// which it redraws below. After Close it prints the line alone.
func (p *Progress) Println(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.println(s)
	if !p.closed {
		p.drawStatus()
	}
}

// println prints a line above the status line.
func (p *Progress) println(s string) {
	p.clearStatus()
	fmt.Fprintln(p.w, s)
}

// clearStatus blanks the status line with spaces (no terminal escape
// codes, so Options.Color alone decides whether any appear).
func (p *Progress) clearStatus() {
	if p.shown > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.shown))
		p.shown = 0
	}
}

func (p *Progress) drawStatus() {
	if !p.live {
		return
	}
	elapsed := p.now().Sub(p.start)
	line := fmt.Sprintf("[%d/%d] %s elapsed", p.done, p.total, duration(elapsed))
	if n := len(p.calling); n > 0 {
		line += fmt.Sprintf(", %d in progress", n)
	}
	if n := len(p.saving); n > 0 {
		line += fmt.Sprintf(", %d saving", n)
	}
	if p.done >= etaAfter && p.done < p.total {
		left := time.Duration(float64(elapsed) / float64(p.done) * float64(p.total-p.done))
		line += ", about " + max(left, time.Second).Round(time.Second).String() + " left"
	}
	if p.pace != nil {
		if pace := p.pace(); pace != "" {
			line += ", " + sanitize(pace)
		}
	}
	if p.note != "" {
		line += " (" + p.note + ")"
	}
	// Keep it on one line of a narrow terminal: a wrapped line cannot be
	// rewritten with "\r".
	if r := []rune(line); len(r) > statusWidthMax {
		line = string(r[:statusWidthMax-1]) + "…"
	}
	// Pad over the longer line it replaces.
	if n := utf8.RuneCountInString(line); n < p.shown {
		line += strings.Repeat(" ", p.shown-n)
	}
	fmt.Fprint(p.w, "\r"+line)
	p.shown = utf8.RuneCountInString(line)
}

// statusWidthMax fits an 80-column terminal.
const statusWidthMax = 79

// Close stops the status line and erases it, so that the report printed
// next starts on a clean line. It is safe to call more than once.
func (p *Progress) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.clearStatus()
	p.mu.Unlock()
	if p.stop != nil {
		close(p.stop)
		p.ticker.Wait()
	}
}
