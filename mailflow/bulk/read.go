// Package bulk registers many personal IDs at once from a CSV, as a program
// administrator sends it: every row passes the same rules as a single new
// ID application (application.CheckNewID), and a row either becomes a
// complete, approved request with its account or is reported with its
// problems. Reading and hashing need no database (ReadCSV, Prepare); the
// database part runs inside the caller's transaction (Commit), so that a
// failure leaves nothing half-done.
package bulk

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/japanese"

	"github.com/madoguchi/madoguchi/mailflow/forms"
)

// Row is one data row of the CSV.
type Row struct {
	Line   int               // 1-based line in the file where the row starts (the header is line 1)
	Fields map[string]string // keyed by forms.KindNewID keys, cleaned as Parse cleans form values
	// Extra counts the cells with a value outside the named columns: the
	// row is refused, since its values may have shifted into wrong fields.
	Extra int
}

// FileError says the file as a whole cannot be used; no row was read.
type FileError struct {
	Reason   string // English
	ReasonJA string
}

func (e *FileError) Error() string { return "bulk CSV: " + e.Reason }

func fileErr(ja, en string, args ...any) *FileError {
	return &FileError{ReasonJA: fmt.Sprintf(ja, args...), Reason: fmt.Sprintf(en, args...)}
}

// ReadCSV reads a bulk registration CSV: UTF-8 with or without BOM, or
// Shift_JIS (CP932) as Excel writes it. Every heading must name a field of
// the new ID form and every required field must have its column; rows with
// every cell empty are skipped. More than maxRows data rows is a FileError
// (maxRows <= 0: no limit).
func ReadCSV(r io.Reader, maxRows int) ([]Row, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	text, ferr := decode(data)
	if ferr != nil {
		return nil, ferr
	}
	cr := csv.NewReader(strings.NewReader(text))
	cr.LazyQuotes = true    // Excel users type stray quotes in names
	cr.FieldsPerRecord = -1 // short and long rows are reported per row
	var columns []string
	var rows []Row
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fileErr("%d行目がCSVとして読めません(%v)。", "line %d is not valid CSV (%v)", pe.StartLine, pe.Err)
			}
			return nil, err
		}
		if allEmpty(rec) {
			continue
		}
		line, _ := cr.FieldPos(0)
		if columns == nil {
			if columns, ferr = headerKeys(rec, line); ferr != nil {
				return nil, ferr
			}
			continue
		}
		if maxRows > 0 && len(rows) == maxRows {
			return nil, fileErr("行が多すぎます。1回に登録できるのは%d行までです。ファイルを分けてお送りください。",
				"too many rows: at most %d rows per file; please split the file", maxRows)
		}
		row := Row{Line: line, Fields: make(map[string]string, len(columns))}
		for i, cell := range rec {
			switch {
			case i < len(columns) && columns[i] != "":
				row.Fields[columns[i]] = forms.CleanValue(columns[i], cell)
			case !isBlank(cell):
				row.Extra++
			}
		}
		rows = append(rows, row)
	}
	if columns == nil {
		return nil, fileErr("ファイルが空です。", "the file is empty")
	}
	return rows, nil
}

// headerKeys maps every heading to its field key ("" for a column without
// heading); every problem of the header is reported at once.
func headerKeys(header []string, line int) ([]string, *FileError) {
	keys := make([]string, len(header))
	at := map[string]int{} // key -> column number
	var ja, en []string
	for i, h := range header {
		if isBlank(h) {
			continue // Excel leaves empty columns at the end
		}
		h = strings.TrimSpace(h)
		key, ok := forms.KeyForLabel(forms.KindNewID, h)
		switch {
		case !ok:
			ja = append(ja, fmt.Sprintf("不明な列「%s」(%d列目)", h, i+1))
			en = append(en, fmt.Sprintf("unknown column %q (column %d)", h, i+1))
		case at[key] != 0:
			ja = append(ja, fmt.Sprintf("列「%s」(%d列目)は%d列目と同じ項目です", h, i+1, at[key]))
			en = append(en, fmt.Sprintf("duplicate column %q (column %d is the same field as column %d)", h, i+1, at[key]))
		default:
			at[key] = i + 1
			keys[i] = key
		}
	}
	spec, _ := forms.SpecFor(forms.KindNewID)
	var missJA, missEN []string
	for _, f := range spec.Fields {
		if f.Required && at[f.Key] == 0 {
			missJA = append(missJA, f.JA)
			missEN = append(missEN, f.EN)
		}
	}
	if len(missJA) > 0 {
		ja = append(ja, "必要な列がありません: "+strings.Join(missJA, "、"))
		en = append(en, "missing columns: "+strings.Join(missEN, ", "))
	}
	if len(ja) > 0 {
		return nil, &FileError{ReasonJA: fmt.Sprintf("見出し(%d行目): ", line) + strings.Join(ja, "。") + "。",
			Reason: fmt.Sprintf("header (line %d): ", line) + strings.Join(en, "; ")}
	}
	return keys, nil
}

// decode returns the text of the file: UTF-8 (a BOM is dropped) when it is
// valid UTF-8, else Shift_JIS, which is what Excel's plain "CSV" writes on
// Japanese Windows.
func decode(data []byte) (string, *FileError) {
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		return "", fileErr("UTF-16のファイルは読めません。Excelで「CSV UTF-8(コンマ区切り)」または「CSV(コンマ区切り)」として保存してください。",
			"the file is UTF-16; save it from Excel as \"CSV UTF-8 (Comma delimited)\" or \"CSV (Comma delimited)\"")
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if utf8.Valid(data) {
		return string(data), nil
	}
	// x/text's ShiftJIS is the WHATWG Shift_JIS, i.e. CP932 with the NEC
	// and IBM extensions (①, ㈱, 髙) that Excel writes.
	out, err := japanese.ShiftJIS.NewDecoder().Bytes(data)
	if err == nil {
		// Bytes that are not Shift_JIS either come out as U+FFFD.
		if i := bytes.IndexRune(out, utf8.RuneError); i >= 0 {
			line := bytes.Count(out[:i], []byte("\n")) + 1
			return "", fileErr("%d行目の文字コードが読めません。UTF-8またはShift_JISで保存してください。",
				"line %d is neither UTF-8 nor Shift_JIS; save the file as UTF-8 or Shift_JIS", line)
		}
		return string(out), nil
	}
	return "", fileErr("文字コードが読めません。UTF-8またはShift_JISで保存してください。",
		"the file is neither UTF-8 nor Shift_JIS; save it as UTF-8 or Shift_JIS")
}

func isBlank(s string) bool { return strings.TrimFunc(s, unicode.IsSpace) == "" }

func allEmpty(rec []string) bool {
	for _, c := range rec {
		if !isBlank(c) {
			return false
		}
	}
	return true
}
