package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"
)

// TestSoak sends 200 concurrent mixed requests (neuron pages, searches,
// prompt-explorer runs and interventions on the embedded model) to a real
// loopback listener. Model requests queue for the run slot, so none may
// fail; the whole soak is bounded in time, and the heap after it (after GC)
// must be about what it was before.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: skipped with -short")
	}
	s, _ := newTestServer(t, Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: s}
	go hs.Serve(ln)
	defer hs.Close()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 200}}

	mk := soakMix
	do := func(j soakJob) (int, error) { return soakDo(client, base, j) }
	// Warm up: compile the graphs the soak uses, so the heap baseline
	// includes them.
	for i := range 10 {
		if code, err := do(mk(i)); err != nil || code != 200 {
			t.Fatalf("warm-up %d: %d %v", i, code, err)
		}
	}
	heap := func() uint64 {
		// The engine's bounded cache of compiled graphs (64) cycles within
		// a round (40 distinct interventions × several lengths): measure
		// without it, or the heap follows where the last clear fell.
		s.cfg.Model.ForgetGraphs()
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	// Two rounds of the same 200-request mix: the second must leave the
	// heap where the first did.
	before := heap()
	var heaps []uint64
	for round := 1; round <= 2; round++ {
		elapsed, nfail, lat := soakRound(t, 200, mk, do)
		after := heap()
		heaps = append(heaps, after)
		t.Logf("soak round %d: 200 concurrent requests, %d failed, %.2fs; heap %.1f MiB at start, %.1f MiB after (GC'd)",
			round, nfail, elapsed.Seconds(), float64(before)/(1<<20), float64(after)/(1<<20))
		kinds := make([]string, 0, len(lat))
		for k := range lat {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		for _, k := range kinds {
			ds := lat[k]
			sort.Slice(ds, func(a, b int) bool { return ds[a] < ds[b] })
			t.Logf("  %-9s n=%3d  p50 %7.1f ms  max %7.1f ms", k, len(ds), ms(ds[len(ds)/2]), ms(ds[len(ds)-1]))
		}
		if elapsed > 60*time.Second {
			t.Errorf("soak round %d took %s, over 60s", round, elapsed)
		}
	}
	client.CloseIdleConnections()
	// Flat: the second round ends within 4 MiB (or 20%) of the first.
	if slack := max(uint64(4<<20), heaps[0]/5); heaps[1] > heaps[0]+slack {
		t.Errorf("heap grew from %d to %d bytes between identical rounds", heaps[0], heaps[1])
	}
}

type soakJob struct {
	kind, method, path string
	body               any
}

var soakPrompts = []string{"Once upon a time", "The cat sat on the mat and", "Lily and Tim went to the park.", "One day, a little bird"}

// soakMix is the i-th request of the soak's mix: 2/5 neuron pages, 1/5
// searches, explorer runs and interventions.
func soakMix(i int) soakJob {
	p := soakPrompts[i%len(soakPrompts)]
	switch i % 5 {
	case 0, 1:
		return soakJob{"neuron", "GET", fmt.Sprintf("/api/neurons/blocks.%d.mlp.hook_post/%d", i%5, i%172), nil}
	case 2:
		return soakJob{"search", "GET", []string{"/api/search?token=the", "/api/search?layer=3&sort=max", "/api/search?hook=blocks.1.mlp.hook_post&sort=density&limit=20"}[i%3], nil}
	case 3:
		return soakJob{"run", "POST", "/api/run", map[string]any{"prompt": p, "units": []string{fmt.Sprintf("blocks.2.mlp.hook_post:%d", i%172)}}}
	default:
		return soakJob{"intervene", "POST", "/api/intervene", map[string]any{"prompt": p, "specs": []string{fmt.Sprintf("blocks.3.mlp.hook_post[:,%d]=0", i%172)}, "max_new": 3}}
	}
}

// soakDo sends j as the pages do and reads the whole answer.
func soakDo(client *http.Client, base string, j soakJob) (int, error) {
	var rd io.Reader
	if j.body != nil {
		b, _ := json.Marshal(j.body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(j.method, base+j.path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, err = io.Copy(io.Discard, res.Body)
	return res.StatusCode, err
}

func soakRound(t *testing.T, n int, mk func(int) soakJob, do func(soakJob) (int, error)) (time.Duration, int, map[string][]time.Duration) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	fails := map[string]int{}
	lat := map[string][]time.Duration{}
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j := mk(i)
			<-start
			t1 := time.Now()
			code, err := do(j)
			d := time.Since(t1)
			mu.Lock()
			defer mu.Unlock()
			lat[j.kind] = append(lat[j.kind], d)
			if err != nil || code != 200 {
				fails[fmt.Sprintf("%s %d %v", j.kind, code, err)]++
			}
		}()
	}
	t0 := time.Now()
	close(start)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		t.Fatalf("soak: not done after 90s")
	}
	nfail := 0
	for k, c := range fails {
		nfail += c
		t.Errorf("soak failure ×%d: %s", c, k)
	}
	return time.Since(t0), nfail, lat
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
