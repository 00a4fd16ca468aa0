//go:build !unix

package netflow

import "os"

// lockFile does nothing where there is no flock: on Windows an open file
// cannot be removed, which keeps a running save's temporary file.
func lockFile(*os.File) {}

// tryLockFile reports true: removal is attempted (and fails on Windows for
// a file a running save holds open).
func tryLockFile(*os.File) bool { return true }
