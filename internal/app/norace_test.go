//go:build !race

package app

// raceEnabled: the tests run under the race detector.
const raceEnabled = false
