// Command glia is a neuron-level interpretability engine for transformer models.
package main

import (
	"os"

	"github.com/glia-dev/glia/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
