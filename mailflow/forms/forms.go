// Package forms holds the `label: value` request forms that applicants
// write in mail bodies: their fields, labels in Japanese and English, the
// blank forms the desk sends, and the parser that reads them back.
//
// Labels are compared after NFKC, case folding, katakana-to-hiragana and
// removal of spaces and brackets, so that "氏名（姓）：", "氏名(姓):" and
// "【氏名 姓】" all name the same field. A label names the same key in
// every kind of request; the kind itself comes from a marker line
// ("申請種別: 新規ID申請") or, failing that, from the fields present.
package forms

// Kind is a kind of request.
type Kind string

// The request kinds the desk knows.
const (
	KindNewID         Kind = "new_id"         // 新規ID申請 / new personal ID
	KindPasswordReset Kind = "password_reset" // パスワード再設定 (access code)
	KindAccessCode    Kind = "access_code"    // reply with code + new password twice
	KindOperatorReset Kind = "operator_reset" // 担当者によるパスワード再設定
	KindIndiceReset   Kind = "indice_reset"   // INDICEパスワード再設定
	KindRename        Kind = "rename"         // ID変更
	KindAffiliation   Kind = "affiliation"    // 所属変更
	KindDeletion      Kind = "deletion"       // ID削除
	KindMerge         Kind = "merge"          // ID統合
	KindHandover      Kind = "handover"       // ID引継ぎ
	KindStatus        Kind = "status"         // 状況確認 / 書類再発行
	KindInquiry       Kind = "inquiry"        // お問い合わせ: a question operators answer

	// The facility connection service desk (seed 004).
	KindFacilityApplication Kind = "facility_application" // 利用本申請
	KindFacilityService     Kind = "facility_service"     // サービス利用申請
	KindFacilityPassword    Kind = "facility_password"    // 初期パスワード変更
)

// Field is one line of a form.
type Field struct {
	Key     string   // e.g. "family_name"
	JA, EN  string   // label as printed on the blank form
	Aliases []string // other labels accepted (compared after normalisation)
	// Required is per kind: the ID is optional in a password reset (it may
	// be forgotten) but required in a rename.
	Required bool
	Secret   bool // passwords, access codes: never normalised, always masked
	// AsWritten values are not NFKC-folded: the rule is about the form
	// of the characters (a reading in full-width katakana).
	AsWritten bool
	// HelpJA and HelpEN may span several lines; they never contain a colon,
	// so that a help line can't be read back as a field.
	HelpJA, HelpEN string
}

// Spec is the form of one kind of request.
type Spec struct {
	Kind             Kind
	TitleJA, TitleEN string // 新規ID申請 / new personal ID
	Fields           []Field
}

// Form is what Parse read from a mail body.
type Form struct {
	Kind Kind   // "" when no marker/kind recognised
	Lang string // "ja" or "en"
	// Fields maps key to value: trimmed and NFKC-normalised, except Secret
	// fields, which keep their bytes and only lose surrounding spaces.
	// Fields of every kind are kept, not only those of Kind.
	Fields   map[string]string
	Unknown  []string // labels seen that match no field
	Repeated []string // keys given twice with different non-empty values
}

// Specs returns every form, in the order the desk lists them.
func Specs() []Spec {
	out := make([]Spec, 0, len(specTable))
	for _, s := range specTable {
		out = append(out, buildSpec(s))
	}
	return out
}

// SpecFor returns the form of one kind.
func SpecFor(k Kind) (Spec, bool) {
	for _, s := range specTable {
		if s.kind == k {
			return buildSpec(s), true
		}
	}
	return Spec{}, false
}

// SecretKeys lists the keys of the Secret fields of a kind, in form order.
func SecretKeys(k Kind) []string {
	spec, ok := SpecFor(k)
	if !ok {
		return nil
	}
	var out []string
	for _, f := range spec.Fields {
		if f.Secret {
			out = append(out, f.Key)
		}
	}
	return out
}

// buildSpec copies a table entry, so that callers can't change the tables.
func buildSpec(s specDef) Spec {
	spec := Spec{Kind: s.kind, TitleJA: s.titleJA, TitleEN: s.titleEN}
	for _, e := range s.fields {
		def := fieldByKey(e.key)
		f := def
		f.Aliases = append([]string(nil), def.Aliases...)
		f.Required = e.required
		if e.helpJA != "" {
			f.HelpJA = e.helpJA
		}
		if e.helpEN != "" {
			f.HelpEN = e.helpEN
		}
		spec.Fields = append(spec.Fields, f)
	}
	return spec
}

func fieldByKey(key string) Field {
	for _, f := range fieldTable {
		if f.Key == key {
			return f
		}
	}
	// The tables are checked by the tests; an unknown key is a typo there.
	panic("forms: no field " + key)
}

func isAsWrittenKey(key string) bool {
	for _, f := range fieldTable {
		if f.Key == key {
			return f.AsWritten
		}
	}
	return false
}

// IsSecret reports whether a field key holds a secret (a password), under
// whatever form it was typed.
func IsSecret(key string) bool { return isSecretKey(key) }

func isSecretKey(key string) bool {
	for _, f := range fieldTable {
		if f.Key == key {
			return f.Secret
		}
	}
	return false
}
