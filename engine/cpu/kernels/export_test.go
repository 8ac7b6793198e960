package kernels

// RaceBuild reports whether this is a race build.
func RaceBuild() bool { return raceBuild }

// NotLinked says why the go:linkname half is missing ("" when it is not).
func NotLinked() string { return notLinked }
