package compose

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"
)

// environment is the project environment docker compose interpolates the
// file with: the process environment, then the env files (--env-file, else
// the .env file in dir unless COMPOSE_DISABLE_ENV_FILE is true), where the
// process environment wins. Env files are read as compose reads them
// (compose-go's dotenv parser), each at most MaxFileSize, and what their
// variables expand to counts against b.
func environment(dir string, opts Options, b *budget) (types.Mapping, error) {
	env := types.Mapping{}
	for _, kv := range opts.Environ {
		k, v, _ := strings.Cut(kv, "=")
		if k != "" {
			env[k] = v
		}
	}
	paths := opts.EnvFiles
	if len(paths) == 0 {
		disabled, _ := strconv.ParseBool(env["COMPOSE_DISABLE_ENV_FILE"])
		def := filepath.Join(dir, ".env")
		if st, err := os.Stat(def); !disabled && err == nil && !st.IsDir() {
			paths = []string{def}
		}
	}
	fromFiles := map[string]string{}
	for _, p := range paths {
		data, err := readFile(p, "env file")
		if err != nil {
			return nil, err
		}
		vars := map[string]string{}
		lookup := b.lookup(func(k string) (string, bool) {
			if v, ok := env[k]; ok {
				return v, true
			}
			if v, ok := vars[k]; ok {
				return v, true
			}
			v, ok := fromFiles[k]
			return v, ok
		})
		if err := dotenv.ParseWithFormat(bytes.NewReader(data), p, vars, lookup, ""); err != nil {
			return nil, fmt.Errorf("env file %s: %w", p, err)
		}
		if err := b.err(); err != nil {
			return nil, fmt.Errorf("env file %s: %w", p, err)
		}
		for k, v := range vars {
			fromFiles[k] = v
		}
	}
	return env.Merge(fromFiles), nil
}

// readFile reads the regular file at path (symbolic links followed), at
// most MaxFileSize bytes: a device, a FIFO or a huge file is refused
// before it is read.
func readFile(path, what string) ([]byte, error) {
	// Stat first: opening a FIFO would wait for a writer.
	if st, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s %s is not a regular file", what, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s %s is not a regular file", what, path)
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("%s %s: %d bytes, more than %d", what, path, st.Size(), MaxFileSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s %s: more than %d bytes", what, path, MaxFileSize)
	}
	return data, nil
}

// errInterpolation is the error of an interpolation over its budget.
var errInterpolation = fmt.Errorf("variables expand to more than %d bytes", MaxInterpolation)

// budget counts the bytes variables expand to. Every value interpolation
// looks up passes through lookup, which stops answering once the total
// passes MaxInterpolation (so nothing more grows) and err reports it.
type budget struct {
	left int
	over bool
}

func (b *budget) lookup(next func(string) (string, bool)) func(string) (string, bool) {
	return func(k string) (string, bool) {
		if b.over {
			return "", true
		}
		v, ok := next(k)
		if b.left -= len(v); b.left < 0 {
			b.over = true
			return "", true
		}
		return v, ok
	}
}

func (b *budget) err() error {
	if b.over {
		return errInterpolation
	}
	return nil
}
