package app

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// startCPUProfile profiles the process into path until the returned
// function is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// memProfileRate samples one allocation in every 4 KiB allocated, finer
// than the runtime's default of 512 KiB, so that a profile of a few
// seconds of requests names the small allocations a request makes.
const memProfileRate = 4 << 10

// startMemProfile records allocations from now on and, when the returned
// function is called, writes them (alloc_space and alloc_objects, as
// well as what is still in use) to path.
func startMemProfile(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	runtime.MemProfileRate = memProfileRate
	return func() error {
		runtime.GC() // the profile is as of the last collection
		err := pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("memory profile: %w", err)
		}
		return nil
	}, nil
}
