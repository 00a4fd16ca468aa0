// Command ianagen generates ie_iana_gen.go, the IANA information-element
// table of package netflow, from IANA's IPFIX registry (ipfix.xml).
//
// It is run by "go generate" in the module root:
//
//	go run ./internal/cmd/ianagen [-in internal/iana/ipfix.xml] [-out ie_iana_gen.go]
//
// To update the table, replace internal/iana/ipfix.xml with a fresh copy of
// https://www.iana.org/assignments/ipfix/ipfix.xml and run go generate.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/flowkit/netflow/internal/ianagen"
)

func main() {
	in := flag.String("in", "internal/iana/ipfix.xml", "IANA IPFIX registry `file` to read")
	out := flag.String("out", "ie_iana_gen.go", "Go `file` to write (- for standard output)")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "ianagen: unexpected arguments:", flag.Args())
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	f, err := os.Open(in)
	if err != nil {
		return fmt.Errorf("ianagen: %w", err)
	}
	defer f.Close()
	src, err := ianagen.Generate(f)
	if err != nil {
		return err
	}
	if out == "-" {
		_, err = os.Stdout.Write(src)
		return err
	}
	if err := os.WriteFile(out, src, 0o644); err != nil {
		return fmt.Errorf("ianagen: %w", err)
	}
	return nil
}
