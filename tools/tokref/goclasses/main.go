// Command goclasses helps tools/tokref/unicode.mjs compare Go's Unicode
// tables with HF tokenizers'.
//
// Without flags it prints one byte per code point (surrogates skipped): L for
// unicode.IsLetter, N for unicode.IsNumber, s for unicode.IsSpace, o
// otherwise. With -lower it filters HF lowercase mappings to those Go's
// strings.ToLower does not share. With -opaque it reads decimal code points from stdin and prints
// those that Go's NFC/NFD/NFKC/NFKD change, or that canonical reordering
// moves next to U+0301 or U+0334.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

func main() {
	opaque := flag.Bool("opaque", false, "filter code points on stdin to those Go normalizes")
	lower := flag.Bool("lower", false, "read \"cp hf,lowercase,cps\" lines and print those where strings.ToLower differs")
	flag.Parse()
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	if *lower {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			cpStr, hf, _ := strings.Cut(sc.Text(), " ")
			cp, err := strconv.Atoi(cpStr)
			if err != nil {
				continue
			}
			var want []rune
			for _, x := range strings.Split(hf, ",") {
				if v, err := strconv.Atoi(x); err == nil {
					want = append(want, rune(v))
				}
			}
			if strings.ToLower(string(rune(cp))) != string(want) {
				fmt.Fprintf(w, "%d %s\n", cp, hf)
			}
		}
		return
	}
	if *opaque {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			cp, err := strconv.Atoi(sc.Text())
			if err != nil {
				continue
			}
			c := string(rune(cp))
			changed := false
			for _, f := range []norm.Form{norm.NFC, norm.NFD, norm.NFKC, norm.NFKD} {
				if f.String(c) != c {
					changed = true
				}
			}
			if norm.NFC.String("\u0301"+c) != "\u0301"+c || norm.NFC.String(c+"\u0334") != c+"\u0334" {
				changed = true
			}
			if changed {
				fmt.Fprintln(w, cp)
			}
		}
		return
	}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r >= 0xD800 && r < 0xE000 {
			continue
		}
		c := byte('o')
		switch {
		case unicode.IsLetter(r):
			c = 'L'
		case unicode.IsNumber(r):
			c = 'N'
		case unicode.IsSpace(r):
			c = 's'
		}
		w.WriteByte(c)
	}
}
