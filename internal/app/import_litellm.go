package app

import (
	"errors"
	"fmt"
	"os"

	"switchyard/internal/config"
)

// runImport converts another gateway's configuration into a
// switchyard.yaml: `import litellm -f config.yaml [-o out.yaml]`.
func runImport(env *Env, args []string) error {
	if len(args) == 0 || args[0] != "litellm" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprintln(env.Stdout, "usage: switchyard import litellm -f config.yaml [-o switchyard.yaml]")
			return nil
		}
		return errors.New("usage: switchyard import litellm -f config.yaml [-o switchyard.yaml]")
	}
	fs := newFlags("import litellm", env)
	in := fs.String("f", "", "the LiteLLM proxy config.yaml to read")
	out := fs.String("o", "", "where to write the switchyard.yaml (default: standard output)")
	if help, err := parseFlags(fs, args[1:]); help || err != nil {
		return err
	}
	if *in == "" {
		return errors.New("import litellm: -f config.yaml is required")
	}
	data, err := os.ReadFile(*in)
	if err != nil {
		return fmt.Errorf("reading LiteLLM config: %w", err)
	}
	yaml, err := config.FromLiteLLM(data)
	if err != nil {
		return err
	}
	// The result must load as serve would load it, or it is not written.
	cfg, err := config.Parse(yaml)
	if err != nil {
		return fmt.Errorf("the converted config does not validate (a bug worth reporting): %w", err)
	}
	if *out == "" {
		_, err = env.Stdout.Write(yaml)
		return err
	}
	if err := os.WriteFile(*out, yaml, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", *out, err)
	}
	fmt.Fprintf(env.Stderr, "%s: %d providers, %d models; read the comments for what was not carried over, then run: switchyard validate -config %s\n",
		*out, len(cfg.Providers), len(cfg.Models), *out)
	return nil
}
