// Package markdown renders untrusted Markdown (reports written by LLMs) to
// HTML that a page can show without running anything the report contains.
//
// The rules, each enforced here rather than left to the page:
//   - Raw HTML in the source, inline or as a block, is shown as text: a
//     report that contains <script> or <img onerror=...> displays those
//     characters and nothing more.
//   - Links keep only absolute http, https and mailto destinations; any other
//     link (javascript:, data:, relative paths) becomes its plain text. Kept
//     links open in a new tab with rel="noopener noreferrer nofollow".
//   - Images become links to the image: rendering a report never makes the
//     reader's browser fetch anything on its own.
//   - No attribute comes from the source (goldmark's attribute syntax is off),
//     and every text and URL is escaped by goldmark's HTML renderer.
package markdown

import (
	"bytes"
	"html"
	"net/url"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// engine is safe for concurrent use: goldmark's parser and renderer keep no
// per-document state between calls.
var engine = goldmark.New(
	goldmark.WithExtensions(
		extension.Strikethrough, extension.Linkify, extension.TaskList,
		extension.NewTable(extension.WithTableCellAlignMethod(extension.TableCellAlignNone)),
	),
	goldmark.WithParserOptions(parser.WithASTTransformers(util.Prioritized(linkPolicy{}, 100))),
	// Priority 100 beats the default HTML renderer's 1000 for the kinds
	// rawAsText registers. Raw HTML stays disabled in the default renderer
	// (no html.WithUnsafe), so nothing else can write source HTML through.
	goldmark.WithRendererOptions(renderer.WithNodeRenderers(util.Prioritized(rawAsText{}, 100))),
)

// Render returns the HTML of a Markdown document under the rules above.
func Render(src string) (string, error) {
	var out bytes.Buffer
	if err := engine.Convert([]byte(src), &out); err != nil {
		return "", err
	}
	return out.String(), nil
}

// SafeURL reports whether a link destination may be rendered as a link:
// an absolute http or https URL with a host, or a mailto address.
func SafeURL(raw string) bool {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		return u.Host != ""
	case "mailto":
		return u.Opaque != ""
	}
	return false
}

// linkPolicy rewrites links and images after parsing (see the package rules).
type linkPolicy struct{}

func (linkPolicy) Transform(doc *ast.Document, reader text.Reader, _ parser.Context) {
	source := reader.Source()
	var unsafe []ast.Node
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Link:
			if !SafeURL(string(n.Destination)) {
				unsafe = append(unsafe, n)
				return ast.WalkContinue, nil
			}
			external(n)
		case *ast.AutoLink:
			dest := string(n.URL(source))
			if n.AutoLinkType == ast.AutoLinkEmail && !strings.HasPrefix(strings.ToLower(dest), "mailto:") {
				dest = "mailto:" + dest
			}
			if !SafeURL(dest) {
				unsafe = append(unsafe, n)
				return ast.WalkSkipChildren, nil
			}
			external(n)
		case *ast.Image:
			unsafe = append(unsafe, n) // replaced below, after the walk
			return ast.WalkSkipChildren, nil
		}
		return ast.WalkContinue, nil
	})
	for _, n := range unsafe {
		replace(n, source)
	}
}

// external marks a link to open in a new tab, telling the target nothing.
func external(n ast.Node) {
	n.SetAttributeString("rel", []byte("noopener noreferrer nofollow"))
	n.SetAttributeString("target", []byte("_blank"))
}

// replace swaps an unsafe link for its text, and an image for a link to it
// (or its text, when the image URL is not one a link may have).
func replace(n ast.Node, source []byte) {
	parent := n.Parent()
	if parent == nil {
		return
	}
	switch n := n.(type) {
	case *ast.Image:
		label := "image: " + plainText(n, source)
		_, inLink := parent.(*ast.Link)
		if inLink || !SafeURL(string(n.Destination)) { // links do not nest
			parent.ReplaceChild(parent, n, ast.NewString([]byte(label)))
			return
		}
		link := ast.NewLink()
		link.Destination = n.Destination
		link.Title = n.Title
		link.AppendChild(link, ast.NewString([]byte(label)))
		external(link)
		parent.ReplaceChild(parent, n, link)
	case *ast.AutoLink:
		parent.ReplaceChild(parent, n, ast.NewString(n.Label(source)))
	default: // a link: keep its children (emphasis and all), drop the link
		for c := n.FirstChild(); c != nil; {
			next := c.NextSibling()
			parent.InsertBefore(parent, n, c)
			c = next
		}
		parent.RemoveChild(parent, n)
	}
}

// plainText is the text inside a node, as its alt text would read.
func plainText(n ast.Node, source []byte) string {
	var b strings.Builder
	_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch c := c.(type) {
		case *ast.Text:
			b.Write(c.Segment.Value(source))
		case *ast.String:
			b.Write(c.Value)
		}
		return ast.WalkContinue, nil
	})
	return b.String()
}

// rawAsText renders raw HTML as the text it is.
type rawAsText struct{}

func (rawAsText) RegisterFuncs(r renderer.NodeRendererFuncRegisterer) {
	r.Register(ast.KindRawHTML, renderRawInline)
	r.Register(ast.KindHTMLBlock, renderRawBlock)
}

func renderRawInline(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*ast.RawHTML)
	for i := 0; i < n.Segments.Len(); i++ {
		seg := n.Segments.At(i)
		_, _ = w.WriteString(html.EscapeString(string(seg.Value(source))))
	}
	return ast.WalkSkipChildren, nil
}

// renderRawBlock shows an HTML block as preformatted text, lines intact.
func renderRawBlock(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*ast.HTMLBlock)
	_, _ = w.WriteString(`<pre class="raw-html"><code>`)
	lines := n.Lines()
	for i := 0; i < lines.Len(); i++ {
		line := lines.At(i)
		_, _ = w.WriteString(html.EscapeString(string(line.Value(source))))
	}
	if n.HasClosure() {
		_, _ = w.WriteString(html.EscapeString(string(n.ClosureLine.Value(source))))
	}
	_, _ = w.WriteString("</code></pre>\n")
	return ast.WalkSkipChildren, nil
}
