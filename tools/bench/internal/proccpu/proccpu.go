// Package proccpu reads how much CPU a process has used, so a benchmark can
// report CPU per request of the service alone, not of the load generator or
// the emulator sharing its cores.
package proccpu

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// userHZ is the unit of /proc/<pid>/stat's times: USER_HZ, which Linux
// fixes at 100 for every architecture's user-space ABI.
const userHZ = 100

// Time returns the CPU time (user + system) pid has used, all its threads
// together, dead ones included, from /proc/<pid>/stat. The resolution is
// 10 ms, fine for runs of seconds. Linux only.
func Time(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cpu time of %d: %w", pid, err)
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// the fields after its closing parenthesis start at field 3 (state).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("cpu time of %d: unreadable stat", pid)
	}
	f := bytes.Fields(b[i+1:])
	// utime and stime are fields 14 and 15: indices 11 and 12 from state.
	if len(f) < 13 {
		return 0, fmt.Errorf("cpu time of %d: short stat", pid)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cpu time of %d: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}
