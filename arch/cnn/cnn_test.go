package cnn_test

import (
	"strings"
	"testing"

	"github.com/glia-dev/glia/arch"
	_ "github.com/glia-dev/glia/arch/cnn"
)

func TestConfigErrors(t *testing.T) {
	const head = `{"model_type": "cnn", "num_channels": 1, "image_size": 8, "num_labels": 3, "layers": `
	for _, c := range []struct{ layers, want string }{
		{`[]`, `"layers" must be a non-empty list`},
		{`[{"type": "conv2d", "out_channels": 4, "kernel_size": 3}, {"type": "flatten"}]`, "must end in [3]"},
		{`[{"type": "flatten"}, {"type": "relu"}, {"type": "conv2d", "out_channels": 2, "kernel_size": 1}]`, "layers[2]: conv2d after flatten"},
		{`[{"type": "conv2d", "out_channels": 4, "kernel_size": 9}]`, "kernel_size 9 is larger than its padded input"},
		{`[{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 2}]`, "padding at most half the kernel"},
		{`[{"type": "maxpool2d", "kernel_size": 2, "padding": 1}]`, "pooling without padding only"},
		{`[{"type": "linear", "out_features": 3}]`, "linear needs flat input"},
		{`[{"type": "softmax"}]`, `type "softmax" is not one of`},
		{`[{"type": "flatten"}, {"type": "linear", "out_features": 1e9}]`, "out_features 1000000000 is out of range"},
		{`[7]`, "layers[0] is not an object"},
		{`[{"type": "avgpool2d", "kernel_size": 8}, {"type": "relu"}, {"type": "flatten"}]`, "no conv2d, batchnorm2d or linear layer"},
	} {
		cfg, err := arch.ParseConfig("config.json", []byte(head+c.layers+"}"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = arch.New(cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.layers, err, c.want)
		}
	}
}
