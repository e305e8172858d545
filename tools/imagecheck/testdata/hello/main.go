// Command hello is the smallest real Go program, built by the imagecheck
// tests with CGO_ENABLED=0 to check that a genuine static Go binary passes.
package main

func main() {}
