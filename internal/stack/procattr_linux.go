package stack

import "syscall"

func sysProcAttr() *syscall.SysProcAttr {
	// Pdeathsig: a launcher that is killed outright (or a test binary
	// that hits its deadline) must not leave services holding ports.
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
