// Package rules holds the validation rules of the seeds: IDs, passwords,
// identity fields, dates and addresses. Every check returns every problem
// it finds, each named by form field and worded in Japanese and English,
// so that one reply can tell the applicant everything at once.
package rules

import "strings"

// Problem is one broken rule in one form field.
type Problem struct {
	Field   string // form field key, e.g. "desired_id"
	Code    string // stable code, e.g. "id.length", "password.no_upper"
	JA, EN  string // full sentence for the applicant
	Warning bool   // advice, not a refusal (e.g. digits in an ID)
}

// Text returns the English sentence when lang is "en", else the Japanese one.
func (p Problem) Text(lang string) string {
	if lang == "en" {
		return p.EN
	}
	return p.JA
}

// message is the fixed wording of one problem code.
type message struct{ ja, en string }

func (m message) problem(field, code string) Problem {
	return Problem{Field: field, Code: code, JA: m.ja, EN: m.en}
}

// Required reports one "required" problem when v is empty after trimming.
func Required(field, v string) []Problem {
	if strings.TrimSpace(v) != "" {
		return nil
	}
	return []Problem{requiredProblem(field)}
}

func requiredProblem(field string) Problem {
	return message{"入力されていません。ご記入ください。", "This field is required."}.problem(field, "required")
}
