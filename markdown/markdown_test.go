package markdown

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func render(t *testing.T, src string) string {
	t.Helper()
	out, err := Render(src)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// What a report may contain renders as Markdown should.
func TestRendersReports(t *testing.T) {
	t.Parallel()
	out := render(t, "# Title\n\nSome *emphasis*, **strong**, ~~gone~~ and `code`.\n\n"+
		"- [x] done\n- [ ] todo\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```go\nfmt.Println(\"<hi>\")\n```\n")
	for _, want := range []string{
		"<h1>Title</h1>", "<em>emphasis</em>", "<strong>strong</strong>", "<del>gone</del>", "<code>code</code>",
		`<input checked="" disabled="" type="checkbox"`, "<table>", "<td>1</td>",
		`<code class="language-go">fmt.Println(&quot;&lt;hi&gt;&quot;)`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
}

// Raw HTML is shown as text, whether inline or a block.
func TestRawHTMLIsText(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"<script>window.__pwned = 1</script>\n":                "&lt;script&gt;window.__pwned = 1&lt;/script&gt;",
		"Look: <img src=x onerror=\"alert(1)\"> here\n":        "Look: &lt;img src=x onerror=&#34;alert(1)&#34;&gt; here",
		"<div onclick=\"x()\">\n\n*still markdown*\n":          "&lt;div onclick=&#34;x()&#34;&gt;",
		"<iframe src=\"https://evil.example\"></iframe>\n":     "&lt;iframe src=&#34;https://evil.example&#34;&gt;&lt;/iframe&gt;",
		"<!-- comment --> <style>body{display:none}</style>\n": "&lt;!-- comment --&gt; &lt;style&gt;body{display:none}&lt;/style&gt;",
		"a <a href=\"javascript:alert(1)\">link</a>\n":         "a &lt;a href=&#34;javascript:alert(1)&#34;&gt;link&lt;/a&gt;",
	}
	for src, want := range cases {
		out := render(t, src)
		if !strings.Contains(out, want) {
			t.Errorf("%q rendered as\n%s\nwant it to contain %s", src, out, want)
		}
		if err := checkMarkup(out); err != nil {
			t.Errorf("%q: %v\n%s", src, err, out)
		}
	}
}

// Only http, https and mailto links survive; they open in a new tab and
// tell the target nothing.
func TestLinkPolicy(t *testing.T) {
	t.Parallel()
	const attrs = ` rel="noopener noreferrer nofollow" target="_blank"`
	kept := map[string]string{
		"[site](https://example.org/a?b=1&c=2)": `<a href="https://example.org/a?b=1&amp;c=2"` + attrs + `>site</a>`,
		"[plain](http://example.org)":           `<a href="http://example.org"` + attrs + `>plain</a>`,
		"[mail](mailto:a@example.org)":          `<a href="mailto:a@example.org"` + attrs + `>mail</a>`,
		"<https://example.org/auto>":            `<a href="https://example.org/auto"` + attrs + `>https://example.org/auto</a>`,
		"see www.example.org today":             `<a href="http://www.example.org"` + attrs + `>www.example.org</a>`,
		"write to a@example.org":                `<a href="mailto:a@example.org"` + attrs + `>a@example.org</a>`,
	}
	for src, want := range kept {
		if out := render(t, src); !strings.Contains(out, want) {
			t.Errorf("%q rendered as %s, want %s", src, out, want)
		}
	}
	dropped := map[string]string{
		"[click *me*](javascript:alert(1))":               "<p>click <em>me</em></p>",
		"[x](JavaScript:alert(1))":                        "<p>x</p>",
		"[x](data:text/html,<script>)":                    "<p>x</p>",
		"[x](/relative/path)":                             "<p>x</p>",
		"[x](#fragment)":                                  "<p>x</p>",
		"[x](vbscript:msgbox)":                            "<p>x</p>",
		"[x](file:///etc/passwd)":                         "<p>x</p>",
		"[x](https:///no-host)":                           "<p>x</p>",
		"[x][r]\n\n[r]: javascript:alert(1)\n":            "<p>x</p>",
		"<javascript:alert(1)>":                           "<p>javascript:alert(1)</p>",
		"[x](  javascript:alert(1)  'title' )":            "<p>x</p>",
		"[x](java\tscript:alert(1))":                      "x",
		"[x](&#106;avascript:alert(1))":                   "<p>x</p>",
		"[x](https://ok.example \"t\") and [y](ftp://no)": `and y</p>`,
	}
	for src, want := range dropped {
		out := render(t, src)
		if !strings.Contains(out, want) || strings.Contains(strings.ToLower(out), "script:") && strings.Contains(out, "href") {
			t.Errorf("%q rendered as %s, want %s", src, out, want)
		}
	}
}

// Images never load: they become links to the image, or text.
func TestImagesBecomeLinks(t *testing.T) {
	t.Parallel()
	out := render(t, "![a chart](https://example.org/chart.png \"Chart\")")
	want := `<a href="https://example.org/chart.png" title="Chart" rel="noopener noreferrer nofollow" target="_blank">image: a chart</a>`
	if !strings.Contains(out, want) {
		t.Errorf("image rendered as %s, want %s", out, want)
	}
	for src, want := range map[string]string{
		"![pixel](javascript:alert(1))":                   "<p>image: pixel</p>",
		"![x](data:image/png;base64,AAAA)":                "<p>image: x</p>",
		"[![badge](https://e.org/b.svg)](https://e.org/)": `target="_blank">image: badge</a>`,
		"![*styled* alt](http://127.0.0.1:9/canary.png)":  `<a href="http://127.0.0.1:9/canary.png"`,
	} {
		out := render(t, src)
		if !strings.Contains(out, want) || strings.Contains(out, "<img") {
			t.Errorf("%q rendered as %s, want %s and no <img>", src, out, want)
		}
	}
}

func TestSafeURL(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]bool{
		"https://example.org": true, "HTTP://EXAMPLE.ORG/x": true, "mailto:a@b.c": true,
		"javascript:alert(1)": false, "//example.org": false, "/x": false, "": false, "mailto:": false,
		"https://": false, "data:,x": false, "%zz": false,
	} {
		if got := SafeURL(raw); got != want {
			t.Errorf("SafeURL(%q) = %v, want %v", raw, got, want)
		}
	}
}

// Whatever the source, the output has only the tags and attributes the
// page's allow-list expects, and every href is http(s) or mailto.
func FuzzRenderNeverEmitsMarkup(f *testing.F) {
	for _, s := range []string{"<script>x</script>", "[a](javascript:x)", "![i](http://x/y.png)", "<img src=x onerror=y>",
		"```\n<script>\n```", "> <b>quote</b>", "| <i>t</i> |\n|---|\n| <u>c</u> |", "1. a\n2. b", "5. five",
		"[a](<https://x.org/a b>)", "*[a](http://x.org)*", "- [ ] task"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		out, err := Render(src)
		if err != nil {
			t.Skip()
		}
		if err := checkMarkup(out); err != nil {
			t.Fatalf("%q: %v\n%s", src, err, out)
		}
	})
}

var allowedTags = map[string]bool{}

func init() {
	for _, tag := range strings.Fields("p h1 h2 h3 h4 h5 h6 ul ol li blockquote pre code em strong del a hr br table thead tbody tr th td input") {
		allowedTags[tag] = true
	}
}

var allowedAttrs = map[string]bool{"href": true, "rel": true, "target": true, "title": true, "class": true,
	"checked": true, "disabled": true, "type": true, "start": true}

func checkMarkup(out string) error {
	z := html.NewTokenizer(strings.NewReader(out))
	for {
		switch z.Next() {
		case html.ErrorToken:
			if errors.Is(z.Err(), io.EOF) {
				return nil
			}
			return z.Err()
		case html.CommentToken, html.DoctypeToken:
			return fmt.Errorf("markup %q", z.Token())
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			if !allowedTags[tok.Data] {
				return fmt.Errorf("tag <%s>", tok.Data)
			}
			for _, a := range tok.Attr {
				if !allowedAttrs[a.Key] {
					return fmt.Errorf("attribute %s on <%s>", a.Key, tok.Data)
				}
				if a.Key == "href" && !safeScheme(a.Val) {
					return fmt.Errorf("href %q", a.Val)
				}
				if a.Key == "type" && a.Val != "checkbox" {
					return fmt.Errorf("type %q", a.Val)
				}
			}
		}
	}
}

// safeScheme is the property that matters in the output: the browser will
// navigate to an http(s) or mailto address, nothing else.
func safeScheme(href string) bool {
	h := strings.ToLower(href)
	return strings.HasPrefix(h, "http://") || strings.HasPrefix(h, "https://") || strings.HasPrefix(h, "mailto:")
}
