//go:build linux

package proccpu

import (
	"os"
	"testing"
)

func TestTimeGrowsWithWork(t *testing.T) {
	before, err := Time(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Busy on two threads for well over the 10 ms resolution, so the
	// count must include every thread, not just the main one.
	x := make(chan int, 2)
	for range 2 {
		go func() {
			v := 0
			for i := range 300_000_000 {
				v ^= i * i
			}
			x <- v
		}()
	}
	<-x
	<-x
	after, err := Time(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Errorf("cpu time went from %s to %s over busy loops", before, after)
	}
	if _, err := Time(-1); err == nil {
		t.Error("Time(-1) did not fail")
	}
}
