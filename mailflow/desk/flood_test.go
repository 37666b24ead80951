package desk_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/madoguchi/madoguchi/internal/store"
	"github.com/madoguchi/madoguchi/internal/testkit/samples"
)

// 500 password-bearing forms from one sender cost at most the hourly
// hashing cap; the rest get "too many requests" unhashed, and another
// holder's access-code reply that arrives behind the flood is handled
// before it.
func TestPasswordFloodIsCappedAndDoesNotDelayCodes(t *testing.T) {
	h := newHarness(t)
	h.seedAccount("yamada-tk", "taro@hosp.example", store.AccountPersonal)
	codeNotice := h.requestReset("taro@hosp.example")

	const flood = 500
	for i := 0; i < flood; i++ {
		body := strings.Replace(samples.NewIDJapanese(fmt.Sprintf("fl-%c%c%c", 'a'+i/676, 'a'+i/26%26, 'a'+i%26), "洪水", fmt.Sprintf("太郎%d", i)),
			"taro.yamada@", fmt.Sprintf("f%d@", i), 1)
		h.deliver(samples.Mail{From: "flood@spam.example", Subject: "申請", Body: body})
	}
	h.deliver(samples.Mail{From: "taro@hosp.example", Subject: "Re: " + codeNotice.Subject, InReplyTo: codeNotice.MessageID,
		Body: samples.CodeReply(codeIn(t, codeNotice), newPassword, newPassword)})
	h.once()
	h.inboxEmpty()

	var created int
	err := h.app.Store.Tx(context.Background(), func(tx *store.Tx) error {
		times, err := tx.HashWorkSince("flood@spam.example", h.now.Add(-1))
		created = len(times)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if created != h.cfg.Limits.HashesPerSenderPerHour {
		t.Errorf("%d hashes for the flooding sender, want the cap %d", created, h.cfg.Limits.HashesPerSenderPerHour)
	}
	rows, err := h.app.Store.Outbox(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	position, tooMany := -1, 0
	for i, r := range rows {
		if r.Kind == "reset_done" {
			position = i
		}
		if r.Kind == "too_many_requests" {
			tooMany++
		}
	}
	// Row 0 is the code notice; the completion must come before the flood.
	if position != 1 {
		t.Errorf("the completion notice is outbox row %d of %d: it waited behind the flood", position, len(rows))
	}
	if tooMany != flood-created {
		t.Errorf("%d too-many-requests notices (sent or held by the reply cap), want %d", tooMany, flood-created)
	}
}
