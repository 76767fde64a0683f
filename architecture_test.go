package main

import (
	"os/exec"
	"strings"
	"testing"
)

// Dependencies point inward: the domain imports only the standard library,
// adapters and handlers import the domain but never each other, and only
// main names the concrete adapters.
func TestDependenciesPointInward(t *testing.T) {
	t.Parallel()
	const module = "github.com/polaris/reportd/"
	adapters := []string{"supabase", "memory", "worker", "llm", "handlers", "auth", "webhook", "live"}
	rules := map[string][]string{
		"report":   append([]string{"config"}, adapters...),
		"config":   append([]string{"report"}, adapters...),
		"supabase": {"memory", "worker", "llm", "handlers", "auth", "config", "webhook", "live"},
		"memory":   {"supabase", "worker", "llm", "handlers", "auth", "config", "webhook", "live"},
		"worker":   {"supabase", "memory", "llm", "handlers", "auth", "config", "webhook", "live"},
		"llm":      {"supabase", "memory", "worker", "handlers", "auth", "config", "webhook", "live"},
		"handlers": {"supabase", "memory", "worker", "llm", "auth", "config", "webhook", "live"},
		"auth":     {"supabase", "memory", "worker", "llm", "handlers", "config", "webhook", "live"},
		"webhook":  {"supabase", "memory", "worker", "llm", "handlers", "auth", "config", "live"},
		"live":     {"supabase", "memory", "worker", "llm", "handlers", "auth", "config", "webhook"},
		// Cross-cutting packages know no adapter: metrics decorates the domain
		// interfaces, logging only slog.
		"metrics": append([]string{"config", "logging"}, adapters...),
		"logging": append([]string{"config", "report", "metrics"}, adapters...),
	}
	for _, a := range adapters {
		rules[a] = append(rules[a], "metrics") // only main wires metrics in
	}
	for pkg, forbidden := range rules {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", "./"+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			path, std, _ := strings.Cut(line, " ")
			if pkg == "report" && std == "false" && path != module+"report" {
				t.Errorf("report imports %s; the domain uses the standard library only", path)
			}
			for _, f := range forbidden {
				if path == module+f {
					t.Errorf("%s imports %s", pkg, f)
				}
			}
			if strings.HasPrefix(path, module+"internal/") {
				t.Errorf("%s imports test support %s", pkg, path)
			}
		}
	}
}
