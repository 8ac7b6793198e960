package explain

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// StoreSchemaVersion is the version of the explain_* tables; see
// docs/explain.md.
const StoreSchemaVersion = 1

const storeSQL = `
CREATE TABLE IF NOT EXISTS explain_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS explain_lens (
	hook TEXT NOT NULL, unit INTEGER NOT NULL, layer INTEGER NOT NULL,
	out_norm REAL NOT NULL, logit_std REAL NOT NULL,
	PRIMARY KEY (hook, unit)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS explain_lens_tokens (
	hook TEXT NOT NULL, unit INTEGER NOT NULL, sign INTEGER NOT NULL, rank INTEGER NOT NULL,
	token INTEGER NOT NULL, text TEXT NOT NULL, logit REAL NOT NULL,
	PRIMARY KEY (hook, unit, sign, rank)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS explain_lens_tokens_text ON explain_lens_tokens (text, sign, rank);
CREATE TABLE IF NOT EXISTS explain_units (
	hook TEXT NOT NULL, unit INTEGER NOT NULL,
	label TEXT NOT NULL, score REAL, held_out INTEGER NOT NULL,
	llm_model TEXT, llm_label TEXT, llm_score REAL, llm_error TEXT,
	json TEXT NOT NULL, updated_at TEXT NOT NULL,
	PRIMARY KEY (hook, unit)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS explain_inputs (
	hook TEXT NOT NULL, unit INTEGER NOT NULL, kind TEXT NOT NULL, rank INTEGER NOT NULL,
	prev INTEGER NOT NULL, token INTEGER NOT NULL, text TEXT NOT NULL, prev_text TEXT NOT NULL,
	count INTEGER NOT NULL, mean REAL NOT NULL, pmi REAL NOT NULL,
	PRIMARY KEY (hook, unit, kind, rank)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS explain_inputs_text ON explain_inputs (text);
`

// Store keeps explanations in an atlas database, in tables of its own.
type Store struct{ db *sql.DB }

// OpenStore creates the explain tables if absent and checks their version.
func OpenStore(db *sql.DB) (*Store, error) {
	if _, err := db.Exec(storeSQL); err != nil {
		return nil, fmt.Errorf("explain: creating tables: %w", err)
	}
	var v string
	err := db.QueryRow("SELECT value FROM explain_meta WHERE key = 'schema_version'").Scan(&v)
	switch {
	case err == sql.ErrNoRows:
		if _, err := db.Exec("INSERT INTO explain_meta VALUES ('schema_version', ?)", strconv.Itoa(StoreSchemaVersion)); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case v != strconv.Itoa(StoreSchemaVersion):
		return nil, fmt.Errorf("explain: the database's explain tables are version %s; this glia reads version %d (drop the explain_* tables to rebuild them)", v, StoreSchemaVersion)
	}
	return &Store{db: db}, nil
}

// SetMeta records a key of explain_meta.
func (s *Store) SetMeta(key, value string) error {
	_, err := s.db.Exec("INSERT OR REPLACE INTO explain_meta VALUES (?, ?)", key, value)
	return err
}

// Meta reads a key of explain_meta ("" if absent).
func (s *Store) Meta(key string) string {
	var v string
	s.db.QueryRow("SELECT value FROM explain_meta WHERE key = ?", key).Scan(&v)
	return v
}

// PutLens stores lens rows in one transaction.
func (s *Store) PutLens(ls []*NeuronLens) error {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	a, err := tx.Prepare("INSERT OR REPLACE INTO explain_lens VALUES (?, ?, ?, ?, ?)")
	if err != nil {
		return err
	}
	defer a.Close()
	del, err := tx.Prepare("DELETE FROM explain_lens_tokens WHERE hook = ? AND unit = ?")
	if err != nil {
		return err
	}
	defer del.Close()
	b, err := tx.Prepare("INSERT INTO explain_lens_tokens VALUES (?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		return err
	}
	defer b.Close()
	for _, l := range ls {
		if _, err := a.Exec(l.Hook, l.Unit, l.Layer, l.OutNorm, l.LogitStd); err != nil {
			return err
		}
		if _, err := del.Exec(l.Hook, l.Unit); err != nil {
			return err
		}
		for sign, ts := range map[int][]TokenLogit{1: l.Promoted, -1: l.Suppressed} {
			for r, t := range ts {
				if _, err := b.Exec(l.Hook, l.Unit, sign, r, t.Token, t.Text, float64(t.Logit)); err != nil {
					return err
				}
			}
		}
	}
	return tx.Commit()
}

// Lens reads a stored lens; nil if none.
func (s *Store) Lens(hook string, unit int) (*NeuronLens, error) {
	l := &NeuronLens{Hook: hook, Unit: unit}
	err := s.db.QueryRow("SELECT layer, out_norm, logit_std FROM explain_lens WHERE hook = ? AND unit = ?", hook, unit).Scan(&l.Layer, &l.OutNorm, &l.LogitStd)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query("SELECT sign, token, text, logit FROM explain_lens_tokens WHERE hook = ? AND unit = ? ORDER BY sign DESC, rank", hook, unit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var sign int
		var t TokenLogit
		var logit float64
		if err := rows.Scan(&sign, &t.Token, &t.Text, &logit); err != nil {
			return nil, err
		}
		t.Logit = float32(logit)
		if sign > 0 {
			l.Promoted = append(l.Promoted, t)
		} else {
			l.Suppressed = append(l.Suppressed, t)
		}
	}
	return l, rows.Err()
}

func nullable(p *float64) any {
	if p == nil || math.IsNaN(*p) {
		return nil
	}
	return *p
}

// PutExplanations stores explanations (with their input statistics) in one
// transaction, replacing earlier ones of the same units.
func (s *Store) PutExplanations(es []*Explanation) error {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := time.Now().UTC().Format(time.RFC3339)
	for _, e := range es {
		js, err := json.Marshal(e)
		if err != nil {
			return err
		}
		var model, label, lerr any
		var lscore any
		if e.LLM != nil {
			model, label, lscore = e.LLM.Model, e.LLM.Label, nullable(e.LLM.Score)
			if e.LLM.Error != "" {
				lerr = e.LLM.Error
			}
		}
		if _, err := tx.Exec("INSERT OR REPLACE INTO explain_units VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			e.Hook, e.Unit, e.Label, nullable(e.Score), e.HeldOut, model, label, lscore, lerr, string(js), now); err != nil {
			return err
		}
		if _, err := tx.Exec("DELETE FROM explain_inputs WHERE hook = ? AND unit = ?", e.Hook, e.Unit); err != nil {
			return err
		}
		if e.Input == nil {
			continue
		}
		for kind, list := range map[string][]TokenStat{"mean": e.Input.ByMean, "pmi": e.Input.ByPMI, "bigram_mean": e.Input.BigramMean, "bigram_pmi": e.Input.BigramPMI} {
			for r, t := range list {
				tok, prev := t.Text, t.PrevText
				if _, err := tx.Exec("INSERT INTO explain_inputs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
					e.Hook, e.Unit, kind, r, t.Prev, t.Token, tok, prev, t.Count, t.Mean, t.PMI); err != nil {
					return err
				}
			}
		}
	}
	return tx.Commit()
}

// Explanation reads a stored explanation; nil if none.
func (s *Store) Explanation(hook string, unit int) (*Explanation, error) {
	var js string
	err := s.db.QueryRow("SELECT json FROM explain_units WHERE hook = ? AND unit = ?", hook, unit).Scan(&js)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	e := &Explanation{}
	return e, json.Unmarshal([]byte(js), e)
}

// Scores lists the stored no-LLM scores (NaN for undefined ones).
func (s *Store) Scores() ([]float64, error) {
	rows, err := s.db.Query("SELECT score FROM explain_units")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []float64
	for rows.Next() {
		var v sql.NullFloat64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		if v.Valid {
			out = append(out, v.Float64)
		} else {
			out = append(out, math.NaN())
		}
	}
	return out, rows.Err()
}

// Hit is one unit a search found.
type Hit struct {
	Hook  string   `json:"hook"`
	Unit  int      `json:"unit"`
	Why   string   `json:"why"`
	Rank  float64  `json:"relevance"` // larger is better, comparable within one search
	Label string   `json:"label"`
	Score *float64 `json:"score"`
}

// SearchToken finds units whose direct effect promotes a token (by rank
// among the top 20) or which fire on it (by PMI among their top input
// tokens). text is the token's display form, exactly.
func (s *Store) SearchToken(text string, limit int) ([]Hit, error) {
	var hits []Hit
	rows, err := s.db.Query("SELECT hook, unit, rank, logit FROM explain_lens_tokens WHERE text = ? AND sign = 1", text)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var h Hit
		var rank int
		var logit float64
		if err := rows.Scan(&h.Hook, &h.Unit, &rank, &logit); err != nil {
			rows.Close()
			return nil, err
		}
		h.Why = fmt.Sprintf("promotes %q (rank %d, logit %+.3g)", text, rank+1, logit)
		h.Rank = 2 - float64(rank)/20
		hits = append(hits, h)
	}
	rows.Close()
	rows, err = s.db.Query("SELECT hook, unit, kind, pmi, mean, count, prev_text FROM explain_inputs WHERE text = ? AND kind IN ('pmi', 'bigram_pmi') AND pmi > 0", text)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var h Hit
		var kind, prev string
		var pmi, mean float64
		var count int
		if err := rows.Scan(&h.Hook, &h.Unit, &kind, &pmi, &mean, &count, &prev); err != nil {
			rows.Close()
			return nil, err
		}
		if kind == "bigram_pmi" {
			h.Why = fmt.Sprintf("fires on %q after %q (PMI %.2f, mean %.3g, %d seen)", text, prev, pmi, mean, count)
			h.Rank = 0.5 * pmi / (1 + pmi)
		} else {
			h.Why = fmt.Sprintf("fires on %q (PMI %.2f, mean %.3g, %d seen)", text, pmi, mean, count)
			h.Rank = pmi / (1 + pmi)
		}
		hits = append(hits, h)
	}
	rows.Close()
	return s.finish(hits, limit)
}

// SearchText finds units whose labels (no-LLM or LLM) contain the words of
// a query, ranked by the fraction of words found, then by score.
func (s *Store) SearchText(query string, limit int) ([]Hit, error) {
	words := strings.Fields(strings.ToLower(query))
	if len(words) == 0 {
		return nil, fmt.Errorf("explain: empty search text")
	}
	rows, err := s.db.Query("SELECT hook, unit, label, COALESCE(llm_label, '') FROM explain_units")
	if err != nil {
		return nil, err
	}
	var hits []Hit
	for rows.Next() {
		var h Hit
		var label, llm string
		if err := rows.Scan(&h.Hook, &h.Unit, &label, &llm); err != nil {
			rows.Close()
			return nil, err
		}
		hay := strings.ToLower(label + " " + llm)
		n := 0
		for _, w := range words {
			if strings.Contains(hay, w) {
				n++
			}
		}
		if n > 0 {
			h.Rank = float64(n) / float64(len(words))
			h.Why = fmt.Sprintf("label matches %d of %d words", n, len(words))
			hits = append(hits, h)
		}
	}
	rows.Close()
	return s.finish(hits, limit)
}

// finish merges hits per unit (keeping the best reason and adding the
// others), adds labels and scores, sorts and truncates.
func (s *Store) finish(hits []Hit, limit int) ([]Hit, error) {
	type key struct {
		h string
		u int
	}
	merged := map[key]*Hit{}
	var order []key
	for _, h := range hits {
		k := key{h.Hook, h.Unit}
		if m, ok := merged[k]; ok {
			if h.Rank > m.Rank {
				m.Why = h.Why + "; " + m.Why
				m.Rank = h.Rank + 0.1*m.Rank
			} else {
				m.Why += "; " + h.Why
				m.Rank += 0.1 * h.Rank
			}
			continue
		}
		h := h
		merged[k] = &h
		order = append(order, k)
	}
	out := make([]Hit, 0, len(order))
	for _, k := range order {
		h := merged[k]
		var score sql.NullFloat64
		var label string
		if err := s.db.QueryRow("SELECT label, score FROM explain_units WHERE hook = ? AND unit = ?", h.Hook, h.Unit).Scan(&label, &score); err == nil {
			h.Label = label
			if score.Valid {
				v := score.Float64
				h.Score = &v
			}
		}
		out = append(out, *h)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Rank != out[j].Rank {
			return out[i].Rank > out[j].Rank
		}
		si, sj := -2.0, -2.0
		if out[i].Score != nil {
			si = *out[i].Score
		}
		if out[j].Score != nil {
			sj = *out[j].Score
		}
		if si != sj {
			return si > sj
		}
		if out[i].Hook != out[j].Hook {
			return out[i].Hook < out[j].Hook
		}
		return out[i].Unit < out[j].Unit
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
