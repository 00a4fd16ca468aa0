package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// maxIovecs is the most buffers one writev takes (IOV_MAX).
const maxIovecs = 1024

// writevFile writes bufs to f with writev(2), as many buffers a call as it
// takes, and reports done; done is false when f cannot be written that way
// (the caller then writes the buffers one by one).
func writevFile(f *os.File, bufs [][]byte) (done bool, err error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return false, nil
	}
	for len(bufs) > 0 {
		iov := bufs[:min(len(bufs), maxIovecs)]
		var n int
		var werr error
		cerr := rc.Write(func(fd uintptr) bool {
			n, werr = unix.Writev(int(fd), iov)
			return werr != unix.EAGAIN
		})
		if cerr != nil {
			return true, cerr
		}
		if werr != nil && werr != unix.EINTR {
			return true, werr
		}
		// Skip what was written; a partial write leaves the rest of a
		// buffer for the next call.
		for n > 0 && len(bufs) > 0 {
			if n < len(bufs[0]) {
				bufs[0] = bufs[0][n:]
				n = 0
				break
			}
			n -= len(bufs[0])
			bufs = bufs[1:]
		}
	}
	return true, nil
}
