package server

import (
	"flag"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"
)

var (
	soakClients  = flag.Int("soak.clients", 8, "TestSoakRuns: concurrent clients")
	soakDuration = flag.Duration("soak.duration", 3*time.Second, "TestSoakRuns: how long the clients send requests")
)

// TestSoakRuns: clients send the soak's mix, plus mean ablations (which
// share the atlas means across runs), back to back for a while, to a server
// with two model runs at once (--max-runs 2) behind HTTPServer and Listener,
// as glia serve runs it. Every request must succeed. The soak is
//
//	go test -race -gcflags=all=-d=checkptr=0 ./server -run TestSoakRuns -soak.clients 50 -soak.duration 30s
//
// (checkptr off: the compute kernels fail its pointer checks, not the race
// detector's).
func TestSoakRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: skipped with -short")
	}
	s, _ := newTestServer(t, Config{Limits: Limits{MaxRuns: 2}})
	base := "http://" + serveLoopback(t, s)
	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: *soakClients}}
	defer client.CloseIdleConnections()
	mk := func(i int) soakJob {
		if i%10 == 9 {
			return soakJob{"mean", "POST", "/api/intervene", map[string]any{"prompt": soakPrompts[i%len(soakPrompts)],
				"specs": []string{fmt.Sprintf("blocks.%d.mlp.hook_post[:,%d]=mean", i%5, i%172)}, "max_new": 2}}
		}
		return soakMix(i)
	}
	var mu sync.Mutex
	lat := map[string][]time.Duration{}
	var all []time.Duration
	fails := map[string]int{}
	var wg sync.WaitGroup
	stop := time.Now().Add(*soakDuration)
	t0 := time.Now()
	for c := range *soakClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; time.Now().Before(stop); i += *soakClients {
				j := mk(i)
				t1 := time.Now()
				code, err := soakDo(client, base, j)
				d := time.Since(t1)
				mu.Lock()
				lat[j.kind] = append(lat[j.kind], d)
				all = append(all, d)
				if err != nil || code != 200 {
					fails[fmt.Sprintf("%s %d %v", j.kind, code, err)]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	nfail := 0
	for k, n := range fails {
		nfail += n
		t.Errorf("soak failure ×%d: %s", n, k)
	}
	pct := func(ds []time.Duration, q float64) float64 {
		sort.Slice(ds, func(a, b int) bool { return ds[a] < ds[b] })
		return ms(ds[min(len(ds)-1, int(q*float64(len(ds))))])
	}
	if len(all) == 0 {
		t.Fatal("no request finished")
	}
	t.Logf("soak: %d clients, %.1f s, --max-runs 2: %d requests, %d ok (%.2f%%), p50 %.1f ms, p99 %.1f ms",
		*soakClients, elapsed.Seconds(), len(all), len(all)-nfail, 100*float64(len(all)-nfail)/float64(len(all)), pct(all, 0.5), pct(all, 0.99))
	kinds := make([]string, 0, len(lat))
	for k := range lat {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		t.Logf("  %-9s n=%4d  p50 %7.1f ms  p99 %7.1f ms", k, len(lat[k]), pct(lat[k], 0.5), pct(lat[k], 0.99))
	}
}
