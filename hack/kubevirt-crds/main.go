// Command kubevirt-crds turns controller-gen's CRDs for KubeVirt's and CDI's
// published API modules into the CRD schemas under schemas/kubevirt, shaped
// like the CRDs virt-operator and cdi-operator install. generate.sh drives it:
//
//	kubevirt-crds postprocess -in DIR -out DIR -kubevirt-header TEXT -cdi-header TEXT
//	kubevirt-crds validate CRD.yaml... [-- SAMPLE.yaml...]
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "postprocess":
		fs := flag.NewFlagSet("postprocess", flag.ExitOnError)
		in := fs.String("in", "", "directory with controller-gen output (kubevirt.io_*.yaml, cdi.kubevirt.io_*.yaml)")
		out := fs.String("out", "", "directory to write the fixtures to")
		kvHeader := fs.String("kubevirt-header", "", "comment lines for the kubevirt.io CRDs (without '# ')")
		cdiHeader := fs.String("cdi-header", "", "comment lines for the cdi.kubevirt.io CRDs (without '# ')")
		_ = fs.Parse(os.Args[2:])
		if *in == "" || *out == "" || *kvHeader == "" || *cdiHeader == "" {
			usage()
		}
		if err := postprocess(*in, *out, map[string]string{"kubevirt.io": *kvHeader, "cdi.kubevirt.io": *cdiHeader}); err != nil {
			fmt.Fprintln(os.Stderr, "postprocess:", err)
			os.Exit(1)
		}
	case "validate":
		args := os.Args[2:]
		var crds, samples []string
		if i := slices.Index(args, "--"); i >= 0 {
			crds, samples = args[:i], args[i+1:]
		} else {
			crds = args
		}
		if len(crds) == 0 {
			usage()
		}
		n, err := validate(crds, samples)
		if err != nil {
			fmt.Fprintln(os.Stderr, "validate:", err)
			os.Exit(1)
		}
		if n > 0 {
			fmt.Fprintf(os.Stderr, "validate: %d problem(s)\n", n)
			os.Exit(1)
		}
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kubevirt-crds postprocess -in DIR -out DIR -kubevirt-header TEXT -cdi-header TEXT")
	fmt.Fprintln(os.Stderr, "       kubevirt-crds validate CRD.yaml... [-- SAMPLE.yaml...]")
	os.Exit(2)
}
