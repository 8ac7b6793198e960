//go:build race

package kernels

func init() { raceBuild = true }
