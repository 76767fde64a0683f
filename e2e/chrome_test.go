package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// A headless Chromium (Debian's chromium package) driven through chromedp,
// for tests of the monitor page as a person uses it.

// chromiumPath finds the browser. Without one the browser tests skip,
// unless REPORTD_REQUIRE_BROWSER=1 (CI) makes that a failure.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	const msg = "no Chromium found (install Debian's chromium package, or set CHROMIUM): the browser tests of the monitor page did not run"
	if os.Getenv("REPORTD_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + ", and REPORTD_REQUIRE_BROWSER=1 requires them")
	}
	t.Skip(msg)
	return ""
}

// browser is one Chromium with one tab, used by one test at a time (on).
type browser struct {
	t    *testing.T
	ctx  context.Context
	name string // prefixes screenshot files
	log  *pageLog
}

// pageLog keeps the page's uncaught exceptions.
type pageLog struct {
	mu     sync.Mutex
	errors []string
}

// on is the browser for a subtest: failures are reported to t.
func (b *browser) on(t *testing.T) *browser {
	return &browser{t: t, ctx: b.ctx, name: b.name, log: b.log}
}

// screenshotDir is git-ignored; the README's pictures are copied to docs/.
const screenshotDir = "../artifacts/screenshots"

func newBrowser(t *testing.T, name string) *browser {
	t.Helper()
	path := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{t: t, name: name, log: &pageLog{}}
	ctx, cancel := chromedp.NewContext(alloc, chromedp.WithListener(func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			msg := e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
			b.log.mu.Lock()
			b.log.errors = append(b.log.errors, msg)
			b.log.mu.Unlock()
		}
	}))
	b.ctx = ctx
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	return b
}

// run performs actions with a deadline.
func (b *browser) run(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v%s", err, b.pageErrors())
	}
}

// evalAs evaluates a JavaScript expression in the page, awaiting a promise,
// and decodes its value. CDP's evaluation is not subject to the page's CSP,
// so tests can look at anything.
func evalAs[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %.80q: %v%s", expr, err, b.pageErrors())
	}
	return v
}

// exec evaluates a JavaScript expression for its effect.
func (b *browser) exec(expr string) {
	b.t.Helper()
	evalAs[any](b, expr)
}

// waitFor waits until a JavaScript expression is truthy.
func (b *browser) waitFor(what, expr string, timeout time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[any](expr, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector('main').innerText`))
		if png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot()); err == nil {
			_ = os.MkdirAll(screenshotDir, 0o755)
			_ = os.WriteFile(filepath.Join(screenshotDir, "failed-"+b.name+"-"+strings.ReplaceAll(what, " ", "-")+".png"), png, 0o644)
		}
		b.t.Fatalf("waiting for %s: %v\npage text:\n%s%s", what, err, body, b.pageErrors())
	}
}

// text is the text of the first element matching a CSS selector, or "".
func (b *browser) text(selector string) string {
	b.t.Helper()
	return evalAs[string](b, fmt.Sprintf(`(document.querySelector(%q)?.textContent ?? '').trim()`, selector))
}

func (b *browser) pageErrors() string {
	b.log.mu.Lock()
	defer b.log.mu.Unlock()
	if len(b.log.errors) == 0 {
		return ""
	}
	return "\nuncaught page errors:\n  " + strings.Join(b.log.errors, "\n  ")
}

// noPageErrors fails the test if the page threw anything.
func (b *browser) noPageErrors() {
	b.t.Helper()
	if e := b.pageErrors(); e != "" {
		b.t.Errorf("the page threw:%s", e)
	}
}

// shot saves a screenshot of the whole page as <name>-<state>.png, without
// a passing toast message over it.
func (b *browser) shot(state string) { b.screenshot(state, chromedp.FullScreenshot(100)) }

// shotViewport saves what the screen shows.
func (b *browser) shotViewport(state string) { b.screenshot(state, chromedp.CaptureScreenshot()) }

func (b *browser) screenshot(state string, take chromedp.Action[[]byte]) {
	b.t.Helper()
	b.exec(`(() => { const t = document.getElementById('toast'); t.style.transition = 'none'; t.classList.remove('shown') })()`)
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, take)
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	file := filepath.Join(screenshotDir, b.name+"-"+state+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// typeInto replaces the value of a form field as a person would type it.
func (b *browser) typeInto(selector, value string) {
	b.t.Helper()
	b.waitFor(selector+" to show", fmt.Sprintf(`document.querySelector(%q)?.checkVisibility()`, selector), 10*time.Second)
	b.exec(fmt.Sprintf(`document.querySelector(%q).value = ''`, selector))
	b.run(chromedp.SendKeys(chromedp.CSS(selector), value))
}

func (b *browser) click(selector string) {
	b.t.Helper()
	b.run(chromedp.Click(chromedp.CSS(selector), chromedp.NodeVisible))
}

// press clicks a button in a list that live updates keep re-laying out.
// chromedp.Click aims the mouse at where the node was a moment earlier, so
// a row that moves in between (a new job above it, a tile that wraps)
// takes the click elsewhere; a DOM click reaches the button wherever it is.
func (b *browser) press(selector string) {
	b.t.Helper()
	b.waitFor(selector+" to show", fmt.Sprintf(`document.querySelector(%q)?.checkVisibility()`, selector), 10*time.Second)
	if !evalAs[bool](b, fmt.Sprintf(`(() => { const el = document.querySelector(%q); if (!el || el.disabled) return false; el.click(); return true })()`, selector)) {
		b.t.Fatalf("%s is gone or disabled", selector)
	}
}
