package app

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// maxSecretFileBytes bounds a secret file: a key, a token, a URL.
const maxSecretFileBytes = 64 << 10

// secret is the one place a secret setting is resolved: from the file its
// _file form names, else from the environment variable its _env form names
// (the configuration refuses both). path is the setting's YAML path
// without the suffix, e.g. "providers[0].api_key". An unset variable (or
// neither form) gives "" and no error: the caller knows whether the secret
// is optional. A file that cannot be read, is not a regular file, is
// larger than 64 KiB or is empty is an error naming the YAML path and the
// file, never the content. One trailing newline (\n or \r\n) is trimmed,
// as written by most editors and by kubectl create secret --from-file.
func secret(getenv func(string) string, path, envName, file string) (string, error) {
	if file == "" {
		if envName == "" {
			return "", nil
		}
		return getenv(envName), nil
	}
	v, err := readSecretFile(file)
	if err != nil {
		return "", fmt.Errorf("%s_file: %s: %w", path, file, err)
	}
	return v, nil
}

// readSecretFile reads a secret file; its errors name neither the file
// (the caller does) nor, ever, its content.
func readSecretFile(file string) (string, error) {
	// Stat before opening: opening a named pipe would wait for a writer.
	fi, err := os.Stat(file)
	if err != nil {
		return "", pathErr(err)
	}
	if !fi.Mode().IsRegular() {
		return "", errors.New("not a regular file")
	}
	f, err := os.Open(file)
	if err != nil {
		return "", pathErr(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFileBytes+1))
	if err != nil {
		return "", pathErr(err)
	}
	if len(b) > maxSecretFileBytes {
		return "", fmt.Errorf("larger than %d KiB", maxSecretFileBytes>>10)
	}
	s := string(b)
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		s = strings.TrimSuffix(t, "\r")
	}
	if s == "" {
		return "", errors.New("empty")
	}
	return s, nil
}

// pathErr drops the path from an os error, which the caller names once.
func pathErr(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}
