package corpus

import (
	"errors"
	"fmt"
	"io"
)

// Packing rule: within a shard, each non-empty document becomes
// [BOS] + Encode(text) (no BOS when the model has none); these sequences are
// concatenated in document order and cut into consecutive windows of Ctx
// tokens. A window may span document boundaries; a document longer than a
// window continues in the next window without a new BOS. Windows never span
// shards: the last window of a shard holds the remaining tokens and may be
// shorter than Ctx. Documents whose text encodes to no tokens are skipped.
const PackingRule = "per shard: documents as [BOS]+tokens concatenated in order, cut into consecutive ctx-token windows; " +
	"windows may span documents but never shards; each shard's last window holds the remainder and may be shorter"

// Cursor is a position in the token stream, at a window boundary. It is what
// a build checkpoints so that it can resume without re-reading the corpus
// before it.
type Cursor struct {
	Shard  int   `json:"shard"`  // index into the shard list
	File   int   `json:"file"`   // index into the shard's files
	Doc    int   `json:"doc"`    // documents of File already passed
	Offset int   `json:"offset"` // tokens of document Doc ([BOS]+tokens) already passed
	DocID  int64 `json:"doc_id"` // document number within the shard of document Doc
	Window int64 `json:"window"` // windows of this shard already produced
	Bytes  int64 `json:"bytes"`  // text bytes of this shard passed (Window.Bytes; for progress only)
}

// Window is ctx (or fewer, at a shard's end) consecutive tokens.
type Window struct {
	Shard int     // shard index
	Index int64   // window number within the shard
	IDs   []int32 // token ids
	Docs  []int64 // document number within the shard of each token
	Next  Cursor  // the cursor just after this window
	// Bytes is how much of the shard's text lies before the end of this
	// window: whole files and documents, and the share of the current
	// document's bytes that its tokens so far make up. It is what progress
	// counts, and the same whether packing started at the shard's start or
	// resumed from a Cursor.
	Bytes int64
}

// TokenizeNoteBytes is the document size from which the Packer reports
// tokenization (OnTokenize): one large file can take seconds to encode.
const TokenizeNoteBytes = 256 << 10

// Packer produces windows from shards.
type Packer struct {
	shards []Shard
	opt    Options
	encode func(string) []int32
	bos    int32
	ctx    int

	cur     Cursor
	reader  *DocReader
	seq     []int32 // current document's [BOS]+tokens
	seqDoc  int64
	seqLeft []int32 // not yet packed part of seq

	fileBase         int64 // text bytes of the shard's files before cur.File
	docStart, docEnd int64 // the current document's bytes within its file
	pos              int64 // text bytes of the shard passed (Window.Bytes)

	// OnLongDoc, when set, is called once per document longer than ctx.
	OnLongDoc func(shard, file string, doc int64, tokens int)
	// OnTokenize, when set, is called before (done false) and after (done
	// true) encoding a document of at least TokenizeNoteBytes bytes.
	OnTokenize func(file string, bytes int, done bool)
}

// NewPacker starts packing at from (the zero Cursor is the start).
func NewPacker(shards []Shard, opt Options, encode func(string) []int32, bos int32, ctx int, from Cursor) (*Packer, error) {
	if ctx < 1 {
		return nil, fmt.Errorf("corpus: window length %d must be positive", ctx)
	}
	if from.Shard < 0 || from.Shard > len(shards) {
		return nil, fmt.Errorf("corpus: cursor shard %d out of range", from.Shard)
	}
	p := &Packer{shards: shards, opt: opt, encode: encode, bos: bos, ctx: ctx, cur: from}
	if from.Shard < len(shards) {
		for _, f := range shards[from.Shard].Files[:min(from.File, len(shards[from.Shard].Files))] {
			p.fileBase += f.TextSize
		}
		p.pos = p.fileBase
	}
	return p, nil
}

// loadDoc makes seqLeft the next non-empty document at or after the cursor,
// honouring the cursor's Offset for the first one. It returns io.EOF at the
// end of the current shard.
func (p *Packer) loadDoc() error {
	sh := p.shards[p.cur.Shard]
	for {
		if p.cur.File >= len(sh.Files) {
			p.pos = p.fileBase
			return io.EOF
		}
		if p.reader == nil {
			r, err := sh.Files[p.cur.File].Open(p.opt)
			if err != nil {
				return err
			}
			p.reader = r
			// Skip documents already passed.
			for i := 0; i < p.cur.Doc; i++ {
				if _, err := r.Next(); err != nil {
					if err == io.EOF {
						return fmt.Errorf("corpus: %s has fewer documents than the checkpoint says (%d); was it changed?", sh.Files[p.cur.File].Path, p.cur.Doc)
					}
					return err
				}
			}
		}
		p.docStart = p.reader.Consumed()
		text, err := p.reader.Next()
		if err == io.EOF {
			p.reader.Close()
			p.reader = nil
			p.fileBase += sh.Files[p.cur.File].TextSize
			p.cur.File++
			p.cur.Doc = 0
			p.cur.Offset = 0
			continue
		}
		if err != nil {
			return err
		}
		p.docEnd = p.reader.Consumed()
		big := len(text) >= TokenizeNoteBytes && p.OnTokenize != nil
		if big {
			p.OnTokenize(sh.Files[p.cur.File].name, len(text), false)
		}
		toks := p.encode(text)
		if big {
			p.OnTokenize(sh.Files[p.cur.File].name, len(text), true)
		}
		if len(toks) == 0 {
			p.cur.Doc++
			p.cur.DocID++
			p.cur.Offset = 0
			continue
		}
		seq := p.seq[:0]
		if p.bos >= 0 {
			seq = append(seq, p.bos)
		}
		seq = append(seq, toks...)
		p.seq = seq
		if len(seq) > p.ctx && p.OnLongDoc != nil && p.cur.Offset == 0 {
			p.OnLongDoc(sh.Name, sh.Files[p.cur.File].Path, p.cur.DocID, len(seq))
		}
		if p.cur.Offset > len(seq) {
			return fmt.Errorf("corpus: checkpoint offset %d beyond document %d of %s; was the corpus changed?", p.cur.Offset, p.cur.Doc, sh.Files[p.cur.File].Path)
		}
		p.seqDoc = p.cur.DocID
		p.seqLeft = seq[p.cur.Offset:]
		if len(p.seqLeft) == 0 {
			p.advanceDoc()
			continue
		}
		return nil
	}
}

func (p *Packer) advanceDoc() {
	p.cur.Doc++
	p.cur.DocID++
	p.cur.Offset = 0
	p.seqLeft = nil
}

// Next returns the next window (its slices are fresh), or io.EOF after the last.
func (p *Packer) Next() (*Window, error) {
	for p.cur.Shard < len(p.shards) {
		w := &Window{Shard: p.cur.Shard, Index: p.cur.Window, IDs: make([]int32, 0, p.ctx), Docs: make([]int64, 0, p.ctx)}
		for len(w.IDs) < p.ctx {
			if len(p.seqLeft) == 0 {
				err := p.loadDoc()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return nil, err
				}
			}
			n := min(p.ctx-len(w.IDs), len(p.seqLeft))
			w.IDs = append(w.IDs, p.seqLeft[:n]...)
			for range n {
				w.Docs = append(w.Docs, p.seqDoc)
			}
			p.seqLeft = p.seqLeft[n:]
			p.cur.Offset += n
			p.pos = p.fileBase + p.docStart + (p.docEnd-p.docStart)*int64(p.cur.Offset)/int64(len(p.seq))
			if len(p.seqLeft) == 0 {
				p.advanceDoc()
			}
		}
		if len(w.IDs) == 0 {
			// End of shard.
			p.cur = Cursor{Shard: p.cur.Shard + 1}
			p.fileBase, p.pos = 0, 0
			continue
		}
		p.cur.Window++
		p.cur.Bytes = p.pos
		w.Next = p.cur
		w.Bytes = p.pos
		if p.reader == nil && p.cur.File >= len(p.shards[p.cur.Shard].Files) {
			w.Next = Cursor{Shard: p.cur.Shard + 1}
		}
		return w, nil
	}
	return nil, io.EOF
}

// Close releases any open file.
func (p *Packer) Close() {
	if p.reader != nil {
		p.reader.Close()
		p.reader = nil
	}
}
