package config_test

import (
	"fmt"
	"time"

	"github.com/devops-exam/msgpipe/libs/config"
)

func ExampleLoader() {
	l := config.NewLoader(config.FromMap(map[string]string{
		"POLL_INTERVAL":      "10", // a bare integer is seconds
		"WORKER_CONCURRENCY": "0",
	}))
	queue := l.Required("SQS_QUEUE_URL")
	poll := l.Duration("POLL_INTERVAL", 10*time.Second, 0, time.Hour)
	workers := l.Int("WORKER_CONCURRENCY", 10, 1, 1000)
	fmt.Println(queue == "", poll, workers)
	fmt.Println(l.Err())
	// Output:
	// true 10s 10
	// invalid configuration (2 problems):
	//   - SQS_QUEUE_URL is required
	//   - WORKER_CONCURRENCY=0 is out of range [1, 1000]
}
