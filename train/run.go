package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Options are a run's settings besides the model and the task.
type Options struct {
	Hyper           Hyper
	Seed            uint64
	Out             string // the model directory written at the end; it holds the checkpoint
	Resume          bool   // continue from Out's checkpoint
	EvalEvery       int    // held-out evaluation interval in steps (0: at the end only)
	CheckpointEvery int    // checkpoint interval in steps (0: at the end and on interruption only)
	// StopAfter stops the run once this many steps are done, with a
	// checkpoint and no export (0: run all Hyper.Steps). An interrupted
	// run, seen through ctx, stops the same way.
	StopAfter int
	Tokenizer string         // a tokenizer.json copied into Out ("" for none)
	EvalSets  []EvalSet      // evaluated with the task's held-out set, reported by name
	Run       map[string]any // the task and batch settings, recorded and checked on resume
	Log       func(Event)    // called for every step and every other event; may be nil
}

// Event is one log record; Kind says which fields are set.
type Event struct {
	Kind         string  `json:"event"` // step, eval, checkpoint, done
	Step         int     `json:"step"`  // steps done
	Steps        int     `json:"steps"`
	Loss         float64 `json:"loss,omitempty"`
	GradNorm     float64 `json:"grad_norm,omitempty"`
	LR           float64 `json:"lr,omitempty"`
	EvalLoss     float64 `json:"eval_loss,omitempty"`
	EvalAccuracy float64 `json:"eval_accuracy,omitempty"`
	Tokens       int64   `json:"tokens"` // input tokens processed by this invocation
	TokensPerSec float64 `json:"tokens_per_s,omitempty"`
	Seconds      float64 `json:"seconds"`
	Path         string  `json:"path,omitempty"`
	// Sets are the Options.EvalSets' results, by name, on eval events.
	Sets map[string]EvalResult `json:"sets,omitempty"`
}

// Result summarises a run.
type Result struct {
	Steps        int                   // steps done (all invocations)
	Loss         float64               // the last step's training loss
	Eval         EvalResult            // the last held-out evaluation
	Sets         map[string]EvalResult // the last evaluation of each Options.EvalSets
	Dir          string                // the model directory, "" when the run stopped early
	StepsPerSec  float64               // this invocation
	TokensPerSec float64
	Trainer      *Trainer
}

// Run trains a freshly initialised model (seeded by Options.Seed) of the
// family config describes on task, and writes the Hugging Face directory
// Options.Out. A non-finite loss stops it with a NonFiniteError and leaves
// the last checkpoint as it was.
func Run(ctx context.Context, config map[string]any, task Task, opt Options) (*Result, error) {
	if opt.Out == "" {
		return nil, errors.New("train: no output directory")
	}
	if c, ok := task.(interface{ check() error }); ok {
		if err := c.check(); err != nil {
			return nil, err
		}
	}
	m, err := NewModel(opt.Out, config, opt.Seed)
	if err != nil {
		return nil, err
	}
	if v := m.Dims().Vocab; task.Vocab() > v {
		return nil, fmt.Errorf("train: the task uses %d token ids, the model's vocabulary has %d", task.Vocab(), v)
	}
	t, err := NewTrainer(m, opt.Hyper)
	if err != nil {
		return nil, err
	}
	hyper := map[string]any{}
	b, _ := json.Marshal(opt.Hyper)
	json.Unmarshal(b, &hyper)
	run := map[string]any{"hyper": hyper}
	for k, v := range opt.Run {
		run[k] = v
	}
	state := RunState{Seed: opt.Seed, Config: config, Run: run}
	ckpt := filepath.Join(opt.Out, CheckpointFile)
	_, statErr := os.Stat(ckpt)
	switch {
	case opt.Resume && statErr != nil:
		return nil, fmt.Errorf("train: nothing to resume: %w", statErr)
	case opt.Resume:
		if err := t.LoadCheckpoint(ckpt, state); err != nil {
			return nil, err
		}
	case statErr == nil:
		return nil, fmt.Errorf("train: %s already holds a checkpoint: resume it, or write to another directory", opt.Out)
	}
	if err := os.MkdirAll(opt.Out, 0o755); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	log := opt.Log
	if log == nil {
		log = func(Event) {}
	}
	stop := opt.Hyper.Steps
	if opt.StopAfter > 0 {
		stop = min(stop, opt.StopAfter)
	}
	start, first := time.Now(), t.Step
	var tokens int64
	ev := func(kind string) Event {
		s := time.Since(start).Seconds()
		return Event{Kind: kind, Step: t.Step, Steps: opt.Hyper.Steps, Tokens: tokens, Seconds: s, TokensPerSec: float64(tokens) / max(s, 1e-9)}
	}
	save := func() error {
		if err := t.SaveCheckpoint(ckpt, state); err != nil {
			return fmt.Errorf("%w; %s", err, lastGood(ckpt))
		}
		e := ev("checkpoint")
		e.Path = ckpt
		log(e)
		return nil
	}
	res := &Result{Trainer: t}
	evaluate := func() error {
		r, err := t.Evaluate(task.Eval())
		if err != nil {
			return err
		}
		res.Eval = r
		e := ev("eval")
		e.EvalLoss, e.EvalAccuracy = r.Loss, r.Accuracy
		if len(opt.EvalSets) > 0 {
			e.Sets = map[string]EvalResult{}
			for _, s := range opt.EvalSets {
				if e.Sets[s.Name], err = t.Evaluate(s.Batches); err != nil {
					return fmt.Errorf("train: evaluation set %q: %w", s.Name, err)
				}
			}
			res.Sets = e.Sets
		}
		log(e)
		return nil
	}
	for t.Step < stop {
		if err := ctx.Err(); err != nil {
			if serr := save(); serr != nil {
				return res, errors.Join(err, serr)
			}
			return res, fmt.Errorf("train: interrupted at step %d; the checkpoint %s resumes it: %w", t.Step, ckpt, err)
		}
		b := task.Train(t.Step)
		r, err := t.TrainStep(b)
		if err != nil {
			var nf *NonFiniteError
			if errors.As(err, &nf) {
				return res, fmt.Errorf("%w; %s", err, lastGood(ckpt))
			}
			return res, err
		}
		tokens += int64(b.B * b.T)
		res.Loss = r.Loss
		e := ev("step")
		e.Loss, e.GradNorm, e.LR = r.Loss, r.GradNorm, r.LR
		log(e)
		if opt.EvalEvery > 0 && t.Step%opt.EvalEvery == 0 && t.Step < opt.Hyper.Steps {
			if err := evaluate(); err != nil {
				return res, err
			}
		}
		if opt.CheckpointEvery > 0 && t.Step%opt.CheckpointEvery == 0 && t.Step < stop {
			if err := save(); err != nil {
				return res, err
			}
		}
	}
	res.Steps = t.Step
	if s := time.Since(start).Seconds(); t.Step > first {
		res.StepsPerSec, res.TokensPerSec = float64(t.Step-first)/s, float64(tokens)/s
	}
	if t.Step < opt.Hyper.Steps {
		return res, save()
	}
	if err := evaluate(); err != nil {
		return res, err
	}
	if err := save(); err != nil {
		return res, err
	}
	var tok []byte
	if opt.Tokenizer != "" {
		if tok, err = os.ReadFile(opt.Tokenizer); err != nil {
			return res, fmt.Errorf("train: tokenizer: %w", err)
		}
	} else if v, ok := task.(Vocabulary); ok {
		tok = v.TokenizerJSON()
	}
	if err := WriteModelDir(opt.Out, config, t.Weights(), tok); err != nil {
		return res, err
	}
	res.Dir = opt.Out
	e := ev("done")
	e.Loss, e.EvalLoss, e.EvalAccuracy, e.Path = res.Loss, res.Eval.Loss, res.Eval.Accuracy, opt.Out
	log(e)
	return res, nil
}

// lastGood says which checkpoint survives a failed step.
func lastGood(ckpt string) string {
	if st, err := ReadRunState(ckpt); err == nil {
		return fmt.Sprintf("the last good checkpoint, step %d, is %s", st.Step, ckpt)
	}
	return "no checkpoint was written yet (lower the checkpoint interval to keep one)"
}
