package benchmark

import (
	"context"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The benchmark runs end to end at a tiny N and fills every figure of its
// report. Timings are printed, never asserted.
func TestRunSmall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out strings.Builder
	r, err := Run(ctx, Options{N: 200, PasswordShare: 0.2, Replies: 5, Out: &out})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	v := reflect.ValueOf(r)
	for i := 0; i < v.NumField(); i++ {
		if v.Field(i).IsZero() {
			t.Errorf("report field %s is zero", v.Type().Field(i).Name)
		}
	}
	if len(r.Stages) != 5 {
		t.Fatalf("%d stages, want 5", len(r.Stages))
	}
	for _, s := range r.Stages {
		sv := reflect.ValueOf(s)
		for i := 0; i < sv.NumField(); i++ {
			if sv.Field(i).IsZero() {
				t.Errorf("stage %s: field %s is zero", s.Name, sv.Type().Field(i).Name)
			}
		}
	}
	if !(r.Ratio > 0) || math.IsInf(r.Ratio, 0) {
		t.Errorf("ratio %v", r.Ratio)
	}
	// The mix is what it claims: every application accepted (one hash
	// each), every question an inquiry (acknowledged, copied to the
	// operators), every reply completed.
	if r.Applications != 40 || r.Attachments != 20 || r.Questions != 140 || r.ISO2022JP+r.UTF8 != 200 {
		t.Errorf("mix: %d applications, %d attachments, %d questions, %d+%d by charset", r.Applications, r.Attachments, r.Questions, r.ISO2022JP, r.UTF8)
	}
	questions := r.Attachments + r.Questions
	if r.Notices != r.Messages+questions || r.NoticeKinds["new_id_received"] != r.Applications ||
		r.NoticeKinds["inquiry_received"] != questions || r.NoticeKinds["inquiry_for_operators"] != questions {
		t.Errorf("%d notices for %d messages: %v", r.Notices, r.Messages, r.NoticeKinds)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "ratio ") {
			return
		}
	}
	t.Error("no line with the ratio in the output")
}
