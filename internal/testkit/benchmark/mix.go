package benchmark

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/madoguchi/madoguchi/internal/testkit/samples"
)

// Kinds of message in the mix.
const (
	kindApplication = iota // a new-ID application with a password (one argon2id hash)
	kindAttachment         // a question with a scanned PDF attached
	kindQuestion           // a plain question: an inquiry, no argon2id
)

// attachmentShare is the share of messages that carry a PDF attachment.
const attachmentShare = 0.10

// mixed is one generated message of the backlog.
type mixed struct {
	kind    int
	charset string // "iso-2022-jp" or "utf-8"
	raw     []byte
}

// mix is the whole generated backlog.
type mix struct {
	msgs                                []mixed
	bytes                               int64
	applications, attachments, question int
	jis, utf8                           int // messages by charset
}

// buildMix writes n messages to deskAddr: passwordShare of them new-ID
// applications (alternately ISO-2022-JP in Japanese and UTF-8 in English,
// each with its own sender, desired ID and identity), attachmentShare
// questions with a PDF attached, the rest plain questions, both charsets
// alternating. The kinds are shuffled with a fixed seed, so every run
// holds the same mix in the same order (only Message-IDs and dates differ).
func buildMix(n int, passwordShare float64) *mix {
	apps := int(float64(n)*passwordShare + 0.5)
	apps = min(max(apps, 0), n)
	atts := min(int(float64(n)*attachmentShare+0.5), n-apps)
	kinds := make([]int, n)
	for i := range kinds {
		switch {
		case i < apps:
			kinds[i] = kindApplication
		case i < apps+atts:
			kinds[i] = kindAttachment
		default:
			kinds[i] = kindQuestion
		}
	}
	rng := rand.New(rand.NewPCG(2026, 11))
	rng.Shuffle(n, func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })

	m := &mix{msgs: make([]mixed, n)}
	count := map[int]int{}
	for i, k := range kinds {
		seq := count[k] // the sequence number within the kind
		count[k]++
		charset := "utf-8"
		if seq%2 == 0 {
			charset = "iso-2022-jp"
		}
		var mail samples.Mail
		switch k {
		case kindApplication:
			mail = application(seq, charset)
			m.applications++
		case kindAttachment:
			mail = attachmentQuestion(seq, charset)
			m.attachments++
		default:
			mail = question(seq, charset)
			m.question++
		}
		mail.To = deskAddr
		raw := mail.Build()
		m.msgs[i] = mixed{kind: k, charset: charset, raw: raw}
		m.bytes += int64(len(raw))
		if charset == "utf-8" {
			m.utf8++
		} else {
			m.jis++
		}
	}
	return m
}

// letters spells i in base 26 with four lower-case letters: IDs may hold
// digits only with a warning, so a sequence number is written in letters.
func letters(i int) string {
	b := []byte("aaaa")
	for p := len(b) - 1; p >= 0 && i > 0; p-- {
		b[p] = byte('a' + i%26)
		i /= 26
	}
	return string(b)
}

// application is a valid new-ID application, distinct in sender, desired
// ID, name (hence identity) and institution address.
func application(seq int, charset string) samples.Mail {
	id := "bn-" + letters(seq)
	if charset == "iso-2022-jp" {
		body := samples.NewIDJapanese(id, "佐藤", fmt.Sprintf("花子%d", seq))
		body = strings.Replace(body, "taro.yamada@", fmt.Sprintf("hanako%d@", seq), 1)
		return samples.Mail{From: fmt.Sprintf("佐藤 花子 <applicant%d@clinic.example>", seq), Subject: "新規ID申請",
			Charset: charset, Body: body}
	}
	body := samples.NewIDEnglish(id)
	body = strings.NewReplacer("Desired ID: smith-al", "Desired ID: "+id,
		"Given name: Alice", fmt.Sprintf("Given name: Alice%d", seq),
		"alice.smith@univ.example", fmt.Sprintf("alice%d@univ.example", seq)).Replace(body)
	return samples.Mail{From: fmt.Sprintf("Alice Smith <applicant%d@univ.example>", seq), Subject: "New ID application",
		Charset: charset, Body: body}
}

// attachmentQuestion is a question with a scanned PDF attached, sent
// before any application: the desk opens an inquiry (the scan goes to the
// operators with it).
func attachmentQuestion(seq int, charset string) samples.Mail {
	pdf := []samples.Attachment{{Filename: "申請書.pdf", ContentType: "application/pdf", Data: samples.ScannedPDF()}}
	if charset == "iso-2022-jp" {
		return samples.Mail{From: fmt.Sprintf("鈴木 一郎 <scan%d@hosp.example>", seq), Subject: "申請書を送ります",
			Charset: charset, Body: "申請書をスキャンして添付します。\nこれで手続きできますか。\n鈴木", Attachments: pdf}
	}
	pdf[0].Filename = "form.pdf"
	return samples.Mail{From: fmt.Sprintf("Bob Jones <scan%d@univ.example>", seq), Subject: "My signed form",
		Charset: charset, Body: "Hello,\n\nplease find my signed form attached. Is anything else needed?\n\nBob", Attachments: pdf}
}

// question is a plain question: the desk opens an inquiry, acknowledges it
// and copies it to the operators; it costs no argon2id.
func question(seq int, charset string) samples.Mail {
	if charset == "iso-2022-jp" {
		return samples.Mail{From: fmt.Sprintf("高橋 次郎 <q%d@hosp.example>", seq), Subject: "IDの申請方法について",
			Charset: charset, Body: "IDを申請したいのですが、どうすればよいでしょうか。\nよろしくお願いします。\n高橋"}
	}
	return samples.Mail{From: fmt.Sprintf("Carol White <q%d@univ.example>", seq), Subject: "How do I get an ID?",
		Charset: charset, Body: "Hello,\n\nhow do I apply for a personal ID?\n\nThanks,\nCarol"}
}
