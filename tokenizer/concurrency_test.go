package tokenizer

import (
	"sync"
	"testing"
)

// TestConcurrentEncode encodes from several goroutines at once (run with
// -race) and checks every result against the serial one.
func TestConcurrentEncode(t *testing.T) {
	for _, name := range []string{"gpt2", "llama2"} {
		tk := loadTok(t, name)
		cases := loadGolden(t, name)
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; i < len(cases); i += 2 {
					c := cases[i]
					if got := tk.Encode(c.input(), true); !equalIDs(got, c.IDsSpecial) {
						t.Errorf("%s %s: %s", name, quote(c.Text), firstDiff(got, c.IDsSpecial))
						return
					}
					if got := tk.Decode(c.IDsSpecial, false); got != c.Decode {
						t.Errorf("%s %s: decode %s", name, quote(c.Text), quote(got))
						return
					}
				}
			}()
		}
		wg.Wait()
	}
}
