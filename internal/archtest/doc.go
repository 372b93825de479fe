// Package archtest holds the project's architecture checks: which package
// may import which (each third-party dependency stays inside one package,
// the pipeline never imports transports or drivers), and that every package
// says what it owns in a doc comment. It has no code of its own.
package archtest
