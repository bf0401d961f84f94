package config

//go:generate go run ./internal/gendocs -env ../../.env.example -md ../../docs/operations.md

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// EmptyDefault is how --help shows a setting without a default.
const EmptyDefault = "(empty)"

// HelpHeader starts the settings part of a binary's --help.
const HelpHeader = "Environment variables"

// WriteHelp lists the settings bin reads, for its --help: one line each
// with the name, the default and the meaning.
func WriteHelp(w io.Writer, bin Binary) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s read by %s (empty = default; durations are seconds like 300 or Go syntax like 90s; see .env.example):\n", HelpHeader, bin)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, s := range settings {
		if s.Binaries&bin == 0 {
			continue
		}
		def := s.Default
		if def == "" {
			def = EmptyDefault
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Name, def, s.Help)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

// Help is WriteHelp into a string.
func Help(bin Binary) string {
	var b strings.Builder
	_ = WriteHelp(&b, bin)
	return b.String()
}

// Sections of .env.example: settings are grouped by the binaries that read
// them, each group under a "# ---- title ----" line.
var sections = []struct {
	bin   Binary
	title string
}{
	{API, "api only"},
	{Both, "api and gateway"},
	{Gateway, "gateway only"},
}

// WriteEnvExample writes .env.example: every setting with its default and
// meaning, grouped by the binaries that read it.
func WriteEnvExample(w io.Writer) error {
	var b bytes.Buffer
	b.WriteString(`# Chargeplane configuration: every variable with its default.
# Generated from pkg/config/settings.go by make generate; do not edit.
# Copy to .env (compose reads it) or export the ones you change; an empty
# value means the default. Durations are seconds ("300") or Go syntax
# ("90s", "12h"). With DATABASE_URL and AMQP_URL both empty, ` + "`api`" + ` runs
# everything in one process (SQLite, in-process bus, embedded gateway):
# make run.
`)
	for _, sec := range sections {
		fmt.Fprintf(&b, "\n# ---- %s ----\n", sec.title)
		for _, s := range settings {
			if s.Binaries != sec.bin {
				continue
			}
			for _, line := range wrap(s.Help, 76) {
				fmt.Fprintf(&b, "# %s\n", line)
			}
			fmt.Fprintf(&b, "%s=%s\n", s.Name, s.Default)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// wrap breaks text into lines of at most width bytes at spaces (a longer
// word gets a line of its own).
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		switch {
		case line == "":
			line = word
		case len(line)+1+len(word) <= width:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	return append(lines, line)
}

// Markers around the settings table in a Markdown document.
const (
	MarkdownBegin = "<!-- settings:begin (generated from pkg/config/settings.go by make generate) -->"
	MarkdownEnd   = "<!-- settings:end -->"
)

// MarkdownTable is the settings table in Markdown: name, default, the
// binaries that read it, meaning.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| variable | default | read by | meaning |\n|---|---|---|---|\n")
	for _, s := range settings {
		def := "(empty)"
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", s.Name, def, s.Binaries, strings.ReplaceAll(s.Help, "|", "\\|"))
	}
	return b.String()
}

// ReplaceMarkdownTable puts MarkdownTable between the markers of doc.
func ReplaceMarkdownTable(doc string) (string, error) {
	before, rest, ok := strings.Cut(doc, MarkdownBegin)
	if !ok {
		return "", fmt.Errorf("no %q marker", MarkdownBegin)
	}
	_, after, ok := strings.Cut(rest, MarkdownEnd)
	if !ok {
		return "", fmt.Errorf("no %q marker", MarkdownEnd)
	}
	return before + MarkdownBegin + "\n" + MarkdownTable() + MarkdownEnd + after, nil
}
