package desk

import "testing"

// What mail clients put below an answer is cut off: quote, attribution,
// separators, signatures, phone footers, and the next command.
func TestReplyText(t *testing.T) {
	cases := []struct {
		name, body, want string
	}{
		{"one line", "reply: The form is attached.\n", "The form is attached."},
		{"japanese verb and full-width colon", "回答：\n承知しました。\n\n再設定をお願いします。\n", "承知しました。\n\n再設定をお願いします。"},
		{"gmail ja attribution", "回答:\n確認しました。\n\n2026年11月24日(火) 10:00 ID登録窓口 <desk@madoguchi.test>:\n> 質問です\n", "確認しました。"},
		{"gmail en attribution over two lines", "reply:\nDone.\n\nOn Tue, Nov 24, 2026 at 10:00 AM Desk <desk@madoguchi.test>\nwrote:\n> q\n", "Done."},
		{"outlook block", "reply:\nDone.\n\nFrom: Desk <desk@madoguchi.test>\nSent: Tuesday, November 24, 2026 10:00\nTo: ops\nSubject: q\n\nquestion text\n", "Done."},
		{"original message separator", "reply:\nDone.\n-----Original Message-----\nquestion\n", "Done."},
		{"japanese separator", "回答:\n済みです。\n-----元のメッセージ-----\n質問\n", "済みです。"},
		{"signature", "reply:\nDone.\n-- \nSuzuki\n", "Done."},
		{"phone footer", "reply:\nDone.\n\nSent from my iPhone\n", "Done."},
		{"note after the answer", "reply:\nDone.\nnote: internal\n", "Done."},
		{"command above", "note: checked the logs\nreply:\nDone.\n", "Done."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmds, _ := parseCommands(c.body)
			var answer string
			for _, cmd := range cmds {
				if cmd.verb == "reply" {
					answer = cmd.text
				}
			}
			if answer != c.want {
				t.Errorf("answer %q, want %q (commands %+v)", answer, c.want, cmds)
			}
		})
	}
}
