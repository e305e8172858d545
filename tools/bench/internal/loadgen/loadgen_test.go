package loadgen

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// The request limit ends the run; every request carries the header and
// one of the bodies, and every answer is counted by status.
func TestRunStopsAtRequestLimit(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen[string(b)]++
		mu.Unlock()
		if r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusUnsupportedMediaType)
			return
		}
		if string(b) == "bad" {
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Config{
		URL:         srv.URL,
		Header:      http.Header{"Content-Type": {"application/json"}},
		Bodies:      [][]byte{[]byte("good"), []byte("bad")},
		Clients:     4,
		Duration:    time.Minute,
		MaxRequests: 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 100 || res.Failures != 0 {
		t.Fatalf("requests = %d, failures = %d; want 100 and 0", res.Requests, res.Failures)
	}
	if res.Status[200] != 50 || res.Status[400] != 50 {
		t.Errorf("status = %v, want 50 × 200 and 50 × 400", res.Status)
	}
	if seen["good"] != 50 || seen["bad"] != 50 {
		t.Errorf("server saw %v", seen)
	}
	if res.Elapsed <= 0 || res.Quantile(0.5) <= 0 || res.Quantile(0.99) < res.Quantile(0.5) {
		t.Errorf("elapsed %s, p50 %s, p99 %s", res.Elapsed, res.Quantile(0.5), res.Quantile(0.99))
	}
}

// The duration ends a run that the request limit would not.
func TestRunStopsAtDuration(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Millisecond)
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Config{URL: srv.URL, Bodies: [][]byte{nil}, Clients: 2, Duration: 200 * time.Millisecond, MaxRequests: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Requests >= 1<<30 {
		t.Errorf("requests = %d", res.Requests)
	}
}

func TestQuantileNearestRank(t *testing.T) {
	r := Result{}
	for i := 1; i <= 100; i++ {
		r.Latencies = append(r.Latencies, time.Duration(i)*time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 50 * time.Millisecond, 0.99: 99 * time.Millisecond, 1: 100 * time.Millisecond, 0: time.Millisecond} {
		if got := r.Quantile(q); got != want {
			t.Errorf("Quantile(%v) = %s, want %s", q, got, want)
		}
	}
	if (Result{}).Quantile(0.5) != 0 {
		t.Error("Quantile of no latencies should be 0")
	}
}

func TestRunRefusesEmptyConfig(t *testing.T) {
	if _, err := Run(context.Background(), Config{}); err == nil {
		t.Error("Run accepted a config with no clients, body or bounds")
	}
}
