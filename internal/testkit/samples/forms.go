package samples

// The applications below are written the way applicants write them:
// full-width colons and digits, labels with brackets, a reading in
// katakana or hiragana.

// NewIDJapanese is a complete, valid Japanese application.
func NewIDJapanese(id, family, given string) string {
	return `新規ID申請をお願いします。

申請種別：新規ID申請
氏名（姓）：` + family + `
氏名（名）：` + given + `
ふりがな（姓）：やまだ
ふりがな（名）：たろう
性別：男性
生年月日：昭和６０年４月１日
所属機関：東都大学病院
所属部署：総合診療科
所属メールアドレス：taro.yamada@hosp.example
希望ID：` + id + `
パスワード：Gk7vQz2x#Lp
パスワード（確認）：Gk7vQz2x#Lp
利用資格：１

よろしくお願いいたします。
山田
`
}

// NewIDEnglish is a complete, valid English application.
func NewIDEnglish(id string) string {
	return `Hello,

Request: new personal ID
Family name: Smith
Given name: Alice
Family name reading: スミス
Given name reading: アリス
Sex: female
Date of birth: 1990-07-15
Institution: Northern Medical University
Department: Clinical Research Center
Institution e-mail: alice.smith@univ.example
Desired ID: smith-al
Password: Rw9mTq4z!Hv
Password (again): Rw9mTq4z!Hv
Eligibility: 2

Best regards,
Alice
`
}

// NewIDWithErrors breaks several rules at once: ID syntax, password
// policy, an impossible date, a reading in Latin letters, no eligibility.
func NewIDWithErrors() string {
	return `申請種別: 新規ID申請
氏名(姓): 佐藤
氏名(名): 花子
ふりがな(姓): sato
ふりがな(名): はなこ
性別: 女性
生年月日: 2001/02/30
所属機関: 西海医療センター
所属部署: 看護部
所属メールアドレス: hanako@west
希望ID: Sato_Hanako
パスワード: abcd1234
パスワード(確認): abcd1235
`
}

// ResetForm is a password reset request as a holder writes it: readings
// in hiragana, the birth date in the Japanese era. An empty id is a
// holder who forgot the ID.
func ResetForm(id string) string {
	return "パスワードを忘れました。\n\n申請種別: パスワード再設定\nID: " + id + `
氏名(姓): 山田
氏名(名): 太郎
ふりがな(姓): やまだ
ふりがな(名): たろう
性別: 男性
生年月日: 昭和60年4月1日
`
}

// CodeReply is the holder's reply with the access code and the new
// password twice.
func CodeReply(code, password, confirm string) string {
	return "アクセスコード: " + code + "\n新しいパスワード: " + password + "\n新しいパスワード(確認): " + confirm + "\n"
}
