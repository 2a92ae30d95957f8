package cli

import "io"

// ParseRun parses the arguments of "run" (without "run" itself) as Main
// would, with the same job file, environment and flag layers, and returns
// the resulting Config without running anything. It is for checks that a
// command line written elsewhere is one the tool accepts: the interop
// module's test of the Kubernetes manifests parses their container args
// with it. Usage text and flag errors go to stderr.
func ParseRun(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	return parseRun(args, getenv, stderr)
}
