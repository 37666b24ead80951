package main

import (
	"fmt"
	"io"

	"github.com/madoguchi/madoguchi/mailflow/policy"
)

// printPolicy writes the policy table with the parties it names: the
// whole of who may change what, in one place.
func printPolicy(w io.Writer) error {
	fmt.Fprintln(w, "Parties and the proof each must give:")
	for _, p := range policy.Parties() {
		fmt.Fprintln(w, "  "+p)
	}
	fmt.Fprintln(w)
	return policy.New().Print(w)
}
