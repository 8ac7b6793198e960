package cli

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/glia-dev/glia/explain"
)

func init() {
	Register(&Command{Name: "atlas search", Summary: "find explained units by promoted or input token (--token) or label words (--text)", Run: atlasSearch})
}

func atlasSearch(args []string) error {
	fs := newFlags("atlas search")
	dbPath := fs.String("db", "atlas.db", "atlas database, explained with glia explain --all")
	token := fs.String("token", "", `a token's display form, exactly (e.g. " dog"): units that promote it or fire on it`)
	text := fs.String("text", "", "words: units whose labels contain them")
	limit := fs.Int("limit", 20, "units to list (0: all)")
	asJSON := fs.Bool("json", false, "print JSON lines")
	var tf tokFlags // to split a --token that is several tokens
	tf.register(fs)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if (*token == "") == (*text == "") {
		fmt.Fprintln(Stderr, `usage: glia atlas search --db atlas.db --token " dog" | --text "words"`)
		return errUsage
	}
	a, store, err := openExplained(*dbPath)
	if err != nil {
		return err
	}
	defer a.Close()
	if store.Meta("explained_at") == "" {
		fmt.Fprintf(Stderr, "glia atlas search: note: %s has no complete explain run; run glia explain --db %s --all first\n", *dbPath, *dbPath)
	}
	var hits []explain.Hit
	if *token != "" {
		hits, err = store.SearchToken(*token, *limit)
	} else {
		hits, err = store.SearchText(*text, *limit)
	}
	if err != nil {
		return err
	}
	if len(hits) == 0 && *token != "" {
		if hits, err = searchPieces(store, &tf, *token, *limit); err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(Stdout)
		for _, h := range hits {
			if err := enc.Encode(h); err != nil {
				return err
			}
		}
		return nil
	}
	if len(hits) == 0 {
		fmt.Fprintln(Stdout, "no unit found")
		return nil
	}
	for _, h := range hits {
		sc := "  n/a"
		if h.Score != nil {
			sc = fmt.Sprintf("%5.2f", *h.Score)
		}
		fmt.Fprintf(Stdout, "%-34s score %s  %s\n    %s\n", fmt.Sprintf("%s:%d", h.Hook, h.Unit), sc, h.Why, h.Label)
	}
	return nil
}

// searchPieces searches each token of a --token text that is not one
// vocabulary entry (" dog" can be " d", "o", "g"), saying so on stderr.
func searchPieces(store *explain.Store, tf *tokFlags, text string, limit int) ([]explain.Hit, error) {
	tk, err := tf.load()
	if err != nil {
		return nil, fmt.Errorf("splitting %q into tokens: %w", text, err)
	}
	ids := tk.Encode(text, false)
	if len(ids) < 2 {
		return nil, nil // one token, and no unit has it
	}
	pieces := make([]string, len(ids))
	for i, id := range ids {
		pieces[i] = tk.TokenString(id)
	}
	fmt.Fprintf(Stderr, "glia atlas search: note: %q is %d tokens in this vocabulary (%q); searching each\n", text, len(ids), pieces)
	var hits []explain.Hit
	seen := map[string]bool{}
	for _, p := range pieces {
		if seen[p] {
			continue
		}
		seen[p] = true
		hs, err := store.SearchToken(p, limit)
		if err != nil {
			return nil, err
		}
		hits = append(hits, hs...)
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].Rank > hits[j].Rank })
	if limit > 0 && len(hits) > limit {
		hits = hits[:limit]
	}
	return hits, nil
}
