package main

import (
	"fmt"
	"golang.org/x/text/encoding/japanese"
)

func main() {
	for _, s := range []string{"①", "髙", "㈱", "髙橋", "﨑"} {
		sj, err := japanese.ShiftJIS.NewEncoder().String(s)
		fmt.Printf("%s sjis % x %v\n", s, sj, err)
		j, err := japanese.ISO2022JP.NewEncoder().String(s)
		fmt.Printf("%s jis %q %v\n", s, j, err)
		if err == nil {
			d, _ := japanese.ISO2022JP.NewDecoder().String(j)
			fmt.Println(" back", d)
		}
	}
}
