package forms

// The tables below are read-only. Every field is defined once, with all
// the labels it answers to, so that a label means one key in every kind.

// eligibilityJA quotes the five categories of seed 001 FAQ 1.2.
const eligibilityJA = `次の1から5のうち、該当するものの番号をご記入ください。
1 医療関連の資格をお持ちの方
2 医歯学・医療・生物学系の高等教育機関等(大学病院、大学医学部、歯学部、薬学部、看護学部(看護専門学校)、研究所等)にご所属の方
3 医歯学・医療・生物学系の学会に所属し、学術研究活動を行っている方。(医師会、歯科医師会や薬剤師会、看護協会等の団体は学会ではありませんが、学会に準じた扱いとなっておりますので、ご利用いただけます)
4 医歯学・医療・生物学系の学会事務局・公益法人・病院・NPO等で学術情報(学術雑誌編集、臨床研究支援等)を取り扱っている方
5 臨床実習及び臨床研修を行うもの及びこれの指導または関連業務を行うもの`

const eligibilityEN = `Write the number of the one of the following that applies to you.
1 You hold a medical or health-care licence or qualification.
2 You belong to a higher-education or research institution in medicine, dentistry, health care or biology (university hospital, faculty of medicine, dentistry, pharmacy or nursing, nursing school, research institute and the like).
3 You belong to an academic society in medicine, dentistry, health care or biology and do research (medical, dental and pharmaceutical associations and nursing associations count as societies).
4 You handle academic information (journal editing, clinical research support and the like) at the office of such a society, a public-interest corporation, a hospital, an NPO or the like.
5 You do clinical clerkship or clinical training, or supervise it or work in related duties.`

const passwordRulesJA = `8文字以上。先頭8文字に英小文字・英大文字・数字をそれぞれ1文字以上含めてください。
IDの文字列、辞書にある5文字以上の単語、4文字以上の並び(1234、abcd、asdf等)は使えません。`

const passwordRulesEN = `At least 8 characters; the first 8 must include a lower-case letter, an upper-case letter and a digit.
It must not contain the ID, a dictionary word of 5 letters or more, or a run of 4 sequential or adjacent keys (1234, abcd, asdf...).`

const idRulesJA = `3から20文字。半角英小文字・数字とハイフン1つ(例 yamada-tk)。先頭は英字。数字はおすすめしません。`

const idRulesEN = `3 to 20 characters, lower-case letters, digits and exactly one hyphen (e.g. yamada-tk), starting with a letter. Digits are discouraged.`

// readingAliases builds the many ways applicants write "reading (part)".
func readingAliases(part ...string) []string {
	var out []string
	for _, p := range []string{"ふりがな", "フリガナ", "よみがな", "よみ", "読み", "読み仮名", "カナ", "かな", "氏名ふりがな", "氏名フリガナ", "氏名(ふりがな)", "氏名(フリガナ)"} {
		for _, q := range part {
			out = append(out, p+"("+q+")", p+q)
		}
	}
	return out
}

var fieldTable = append(idDeskFields, facilityFields...)

// idDeskFields are the fields of the ID desk's forms.
var idDeskFields = []Field{
	{Key: "family_name", JA: "氏名(姓)", EN: "Family name",
		Aliases: []string{"姓", "氏", "苗字", "名字", "氏名 姓", "氏名(氏)", "Surname", "Last name", "Family name (kanji)", "Name (family)"},
		HelpJA:  "戸籍上の氏名をご記入ください。", HelpEN: "As in your official documents."},
	{Key: "given_name", JA: "氏名(名)", EN: "Given name",
		Aliases: []string{"名", "氏名 名", "First name", "Forename", "Given names", "Name (given)"}},
	{Key: "family_reading", JA: "ふりがな(姓)", EN: "Family name reading",
		Aliases: append(readingAliases("姓", "氏", "せい"), "セイ", "Reading (family name)", "Family name (reading)", "Family name kana", "Family name (kana)"),
		HelpJA:  "ひらがなまたはカタカナで。", HelpEN: "In hiragana or katakana."},
	{Key: "given_reading", JA: "ふりがな(名)", EN: "Given name reading",
		Aliases: append(readingAliases("名", "めい"), "メイ", "Reading (given name)", "Given name (reading)", "Given name kana", "Given name (kana)", "First name reading"),
		HelpJA:  "ひらがなまたはカタカナで。", HelpEN: "In hiragana or katakana."},
	{Key: "sex", JA: "性別", EN: "Sex",
		Aliases: []string{"性", "Gender"},
		HelpJA:  "男性 または 女性", HelpEN: "male or female"},
	{Key: "birth_date", JA: "生年月日", EN: "Date of birth",
		Aliases: []string{"誕生日", "生年月日(西暦)", "Birth date", "Birthdate", "Birthday", "Date of birth (yyyy/mm/dd)", "DOB"},
		HelpJA:  "西暦 yyyy/mm/dd (例 1985/04/01)。和暦も可。", HelpEN: "yyyy/mm/dd, e.g. 1985/04/01."},
	{Key: "institution", JA: "所属機関", EN: "Institution",
		Aliases: []string{"所属施設", "所属", "所属先", "施設名", "機関名", "所属機関名", "勤務先", "新しい所属機関", "新所属機関", "Affiliation", "Organization", "Organisation", "Institution name", "New institution"}},
	{Key: "department", JA: "所属部署", EN: "Department",
		Aliases: []string{"部署", "部署名", "所属部局", "所属科", "診療科", "所属診療科", "新しい所属部署", "Dept", "Division", "New department"}},
	{Key: "email", JA: "所属メールアドレス", EN: "Institution e-mail",
		Aliases: []string{"メールアドレス", "メール", "Eメール", "Eメールアドレス", "電子メール", "連絡先メールアドレス", "所属先メールアドレス", "新しい所属メールアドレス", "新しいメールアドレス",
			"E-mail", "Email", "Mail", "Mail address", "E-mail address", "Email address", "Institution email", "Institutional e-mail", "New e-mail"},
		HelpJA: "所属機関のメールアドレス。携帯電話のアドレスはご遠慮ください。", HelpEN: "Your address at your institution."},
	{Key: "desired_id", JA: "希望ID", EN: "Desired ID",
		Aliases: []string{"希望するID", "希望のID", "ID(希望)", "申請ID", "Requested ID", "Preferred ID", "Desired user ID", "ID (desired)"},
		HelpJA:  idRulesJA, HelpEN: idRulesEN},
	{Key: "password", JA: "パスワード", EN: "Password", Secret: true,
		Aliases: []string{"PW", "パスワード(一般用)", "一般用パスワード", "Pass word"},
		HelpJA:  passwordRulesJA, HelpEN: passwordRulesEN},
	{Key: "password_confirm", JA: "パスワード(確認)", EN: "Password (again)", Secret: true,
		Aliases: []string{"パスワード確認", "パスワード(確認用)", "確認用パスワード", "パスワード(再入力)", "パスワード再入力", "パスワード(もう一度)", "パスワード(再)", "パスワード確認用", "PW(確認)",
			"Password (confirm)", "Password (confirmation)", "Password confirmation", "Confirm password", "Password again", "Password (repeat)", "Password (re-enter)", "Repeat password"},
		HelpJA: "確認のため、もう一度同じパスワードを。", HelpEN: "The same password once more."},
	{Key: "eligibility", JA: "利用資格", EN: "Eligibility",
		Aliases: []string{"取得資格", "利用資格番号", "資格区分", "利用資格(番号)", "Eligibility category", "Eligibility (number)"},
		HelpJA:  eligibilityJA, HelpEN: eligibilityEN},
	{Key: "id", JA: "ID", EN: "ID",
		Aliases: []string{"ユーザーID", "ユーザID", "利用者ID", "登録ID", "現在のID", "お持ちのID", "旧ID", "UMIN ID", "User ID", "Login ID", "Current ID", "Your ID", "Old ID"}},
	{Key: "access_code", JA: "アクセスコード", EN: "Access code", Secret: true,
		Aliases: []string{"アクセス コード", "認証コード", "Code", "Access-code"},
		HelpJA:  "メールでお送りした数字。有効期限はそのメールに記載しています。", HelpEN: "The digits we mailed you; the mail says until when they are valid."},
	{Key: "new_password", JA: "新しいパスワード", EN: "New password", Secret: true,
		Aliases: []string{"新パスワード", "新規パスワード", "変更後のパスワード"},
		HelpJA:  passwordRulesJA, HelpEN: passwordRulesEN},
	{Key: "new_password_confirm", JA: "新しいパスワード(確認)", EN: "New password (again)", Secret: true,
		Aliases: []string{"新しいパスワード確認", "新しいパスワード(確認用)", "新しいパスワード(再入力)", "新しいパスワード(もう一度)", "新パスワード(確認)", "新パスワード確認", "確認用新しいパスワード",
			"New password (confirm)", "New password (confirmation)", "Confirm new password", "New password again", "Repeat new password"},
		HelpJA: "確認のため、もう一度同じパスワードを。", HelpEN: "The same password once more."},
	{Key: "past_institutions", JA: "過去の所属機関", EN: "Past institutions",
		Aliases: []string{"過去の所属", "過去の所属先", "以前の所属", "以前の所属機関", "旧所属", "Previous institutions", "Former institutions", "Former affiliations"},
		HelpJA:  "いつ頃所属されていたかも併せてご記入ください。", HelpEN: "With the years you were there."},
	{Key: "schools", JA: "出身校", EN: "Schools",
		Aliases: []string{"出身大学", "出身学校", "Schools attended", "University", "Alma mater"},
		HelpJA:  "卒業年も併せてご記入ください。", HelpEN: "With the year of graduation."},
	{Key: "societies", JA: "所属学会", EN: "Academic societies",
		Aliases: []string{"学会", "Societies", "Society memberships"}},
	{Key: "licences", JA: "資格・免許", EN: "Licences",
		Aliases: []string{"資格", "免許", "医療資格", "保有資格", "資格免許", "Licenses", "Licence", "License", "Qualifications"},
		HelpJA:  "お持ちの医療資格とその番号。", HelpEN: "Medical licences you hold, with their numbers."},
	{Key: "scope", JA: "再設定の範囲", EN: "Scope",
		Aliases: []string{"更新範囲", "再設定範囲", "更新の範囲", "対象パスワード", "Reset scope", "Passwords to reset"},
		HelpJA:  "INDICEのみ または INDICEと一般。INDICEのみの場合はIDが必要です。", HelpEN: "INDICE only, or INDICE and general. INDICE only needs the ID."},
	{Key: "new_id", JA: "新しいID", EN: "New ID",
		Aliases: []string{"新ID", "変更後のID", "変更後ID", "希望する新しいID"},
		HelpJA:  idRulesJA, HelpEN: idRulesEN},
	{Key: "forwarding", JA: "メール転送", EN: "Mail forwarding",
		Aliases: []string{"転送", "旧アドレスの転送", "転送希望", "Forwarding"},
		HelpJA:  "希望する または 不要。旧アドレス宛のメールを1年間新しいアドレスへ転送します。", HelpEN: "yes or no. Mail to the old address is forwarded to the new one for one year."},
	{Key: "reason", JA: "理由", EN: "Reason",
		Aliases: []string{"削除理由", "削除の理由", "申請理由", "Reason for deletion"}},
	{Key: "requester", JA: "申請者", EN: "Requester",
		Aliases: []string{"申請者区分", "申請者の区分", "Applicant"},
		HelpJA:  "本人 または 本人以外。本人以外の場合は担当者が確認します。", HelpEN: "holder or someone else. Requests by someone else are reviewed by our staff."},
	{Key: "other_ids", JA: "統合するID", EN: "IDs to merge",
		Aliases: []string{"統合されるID", "重複ID", "重複しているID", "他のID", "Other IDs", "Duplicate IDs", "Duplicate ID", "ID to merge"},
		HelpJA:  "IDの欄には残すIDを、この欄には統合して削除するIDをご記入ください。", HelpEN: "The ID to keep goes in ID, the IDs to merge into it here."},
	{Key: "new_holder", JA: "新しい担当者", EN: "New holder",
		Aliases: []string{"新担当者", "後任者", "後任", "引継ぎ先", "引き継ぎ先", "New person in charge", "Successor"}},
	{Key: "new_holder_email", JA: "新しい担当者のメールアドレス", EN: "New holder's e-mail",
		Aliases: []string{"新担当者メールアドレス", "後任者のメールアドレス", "後任者メールアドレス", "Successor e-mail", "New holder e-mail"}},
	{Key: "reference", JA: "受付番号", EN: "Reference",
		Aliases: []string{"申請番号", "参照番号", "Reference number", "Ref", "Ref no"},
		HelpJA:  "MDG-2026-000123 の形式。わからなければ空欄で結構です。", HelpEN: "Like MDG-2026-000123. Leave it empty if you don't know it."},
	// The inquiry form of seed 001 FAQ 2.5: what cannot be reached, and how it fails.
	{Key: "url", JA: "URL", EN: "URL",
		Aliases: []string{"画面のURL", "アクセスできない画面のURL", "ページのURL", "Page URL", "Web address"},
		HelpJA:  "アクセスできない画面のURL。", HelpEN: "The address of the page you cannot reach."},
	{Key: "error_message", JA: "エラーメッセージ", EN: "Error message",
		Aliases: []string{"エラー内容", "表示されたエラー", "表示されたメッセージ", "Error shown", "Message shown"},
		HelpJA:  "画面に表示されたとおりに。スクリーンショットがあれば添付してください。", HelpEN: "As shown on the screen. Attach a screenshot if you have one."},
	{Key: "question", JA: "お問い合わせ内容", EN: "Question",
		Aliases: []string{"問い合わせ内容", "お問合せ内容", "ご質問", "質問内容", "ご用件", "Your question", "Inquiry"},
		HelpJA:  "この下に自由にお書きください。", HelpEN: "Write freely below this line."},
}

// markerLabels name the line that says which kind a form is.
// Facility connection service (seed 004).
var facilityFields = []Field{
	{Key: "token", JA: "仮申請番号", EN: "Provisional number", Aliases: []string{"申請URL番号"},
		HelpJA: "利用申請URLのご案内に記載の番号。", HelpEN: "The number in the application URL notice."},
	{Key: "prefecture", JA: "都道府県", EN: "Prefecture", Aliases: []string{"所在都道府県"}},
	{Key: "facility", JA: "医療機関名", EN: "Medical institution", Aliases: []string{"施設名称", "医療機関", "病院名", "Facility", "Hospital"},
		HelpJA: "部分一致で検索します。全角半角は区別しません。", HelpEN: "Searched by partial match, width-insensitive."},
	{Key: "manager_name", JA: "施設管理者氏名", EN: "Facility manager", Aliases: []string{"管理者氏名", "施設管理者"},
		HelpJA: "病院等の管理者氏名。", HelpEN: "The name of the hospital's manager."},
	{Key: "manager_kana", JA: "施設管理者氏名(全角フリカナ)", EN: "Facility manager (katakana)", AsWritten: true,
		Aliases: []string{"施設管理者氏名フリガナ", "施設管理者フリガナ", "管理者氏名フリガナ"}},
	{Key: "applicant_name", JA: "申請者氏名", EN: "Applicant name", Aliases: []string{"申請者名"}},
	{Key: "applicant_kana", JA: "申請者氏名(全角フリカナ)", EN: "Applicant (katakana)", AsWritten: true,
		Aliases: []string{"申請者氏名フリガナ", "申請者フリガナ"}},
	{Key: "facility_department", JA: "施設内部署", EN: "Department in the facility", Aliases: []string{"部署(施設内)"},
		HelpJA: "所属部署がない場合は「なし」。", HelpEN: "Write なし (none) if there is none."},
	{Key: "facility_title", JA: "施設内役職", EN: "Title in the facility", Aliases: []string{"役職"},
		HelpJA: "役職がない場合は「なし」。", HelpEN: "Write なし (none) if there is none."},
	{Key: "phone", JA: "施設代表電話番号", EN: "Facility phone", Aliases: []string{"代表電話番号", "電話番号", "Phone"}},
	{Key: "extension", JA: "内線番号", EN: "Extension", Aliases: []string{"内線"},
		HelpJA: "確実に連絡のとれる内線番号。", HelpEN: "An extension where you can surely be reached."},
	{Key: "agreement", JA: "利用規約への同意", EN: "Agreement to the terms", Aliases: []string{"利用規約", "規約への同意", "同意"},
		HelpJA: "利用規約を確認のうえ「同意する」とご記入ください。", HelpEN: "Write \"agree\" after reading the terms."},
	{Key: "facility_user_id", JA: "利用者ID(数字8桁)", EN: "User ID (8 digits)", Aliases: []string{"利用者ID8桁", "施設利用者ID"}},
	{Key: "service", JA: "利用するサービス", EN: "Service", Aliases: []string{"サービス名", "申請するサービス"},
		HelpJA: "全国がん登録届出サービス", HelpEN: "national cancer registry filing service"},
	{Key: "current_password", JA: "現在のパスワード", EN: "Current password", Secret: true, Aliases: []string{"初期パスワード"}},
}

var markerLabels = []string{"申請種別", "種別", "申請の種類", "申請区分", "申請内容", "Request", "Request type", "Type of request", "Application type"}

// markerLabel is the one printed on blank forms.
var markerLabel = map[string]string{"ja": "申請種別", "en": "Request"}

type fieldUse struct {
	key            string
	required       bool
	helpJA, helpEN string // overrides the field's help in this kind
}

type specDef struct {
	kind             Kind
	titleJA, titleEN string
	aliases          []string // other values accepted on the marker line
	fields           []fieldUse
	// fallback moves a value to the key this kind uses when only the
	// general label was written ("パスワード" in an access-code reply).
	fallback map[string]string
}

func identity(required bool) []fieldUse {
	return []fieldUse{{"family_name", required, "", ""}, {"given_name", required, "", ""},
		{"family_reading", required, "", ""}, {"given_reading", required, "", ""},
		{"sex", required, "", ""}, {"birth_date", required, "", ""}}
}

func uses(required bool, keys ...string) []fieldUse {
	out := make([]fieldUse, len(keys))
	for i, k := range keys {
		out[i] = fieldUse{key: k, required: required}
	}
	return out
}

func concat(parts ...[]fieldUse) []fieldUse {
	var out []fieldUse
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var newPasswordFallback = map[string]string{"password": "new_password", "password_confirm": "new_password_confirm"}

var specTable = []specDef{
	{kind: KindNewID, titleJA: "新規ID申請", titleEN: "new personal ID",
		aliases: []string{"新規", "新規申請", "新規登録", "新規登録申請", "新規ID", "新規利用申請", "ID新規申請", "ID申請", "個人用ID新規申請", "個人ID新規申請",
			"new id", "new", "new personal id", "new account", "new registration", "new id application"},
		fields: concat(identity(true), uses(true, "institution", "department", "email", "desired_id", "password", "password_confirm", "eligibility")),
		// "ID: yamada-tk" in a new application can only be the desired ID.
		fallback: map[string]string{"id": "desired_id"}},
	{kind: KindPasswordReset, titleJA: "パスワード再設定", titleEN: "password reset",
		aliases: []string{"パスワード更新", "パスワード更新申請", "パスワード再設定申請", "パスワード再発行", "パスワードリセット", "パスワード変更",
			"reset password", "forgotten password", "password change", "password renewal"},
		fields: concat([]fieldUse{{"id", false, "わからない場合は空欄で結構です。", "Leave it empty if you have forgotten it."}}, identity(true))},
	{kind: KindAccessCode, titleJA: "アクセスコード入力", titleEN: "access code",
		aliases:  []string{"アクセスコード", "アクセスコードの入力", "enter access code", "access code reply"},
		fields:   uses(true, "access_code", "new_password", "new_password_confirm"),
		fallback: newPasswordFallback},
	{kind: KindOperatorReset, titleJA: "担当者によるパスワード再設定", titleEN: "password reset by operator",
		aliases: []string{"担当者によるパスワード更新", "オペレータへパスワード更新申請", "オペレータへのパスワード更新申請", "オペレーターへパスワード更新申請",
			"オペレータによるパスワード再設定", "オペレーターによるパスワード再設定", "operator reset", "operator password reset", "password reset by staff"},
		fields: concat([]fieldUse{{"id", false, "わからない場合は空欄で結構です。", "Leave it empty if you have forgotten it."}}, identity(true),
			uses(false, "past_institutions", "schools", "societies", "licences"), uses(true, "new_password", "new_password_confirm")),
		fallback: newPasswordFallback},
	{kind: KindIndiceReset, titleJA: "INDICEパスワード再設定", titleEN: "INDICE password reset",
		aliases: []string{"INDICEパスワード更新", "INDICE用パスワード更新", "INDICE用パスワード更新申請", "INDICE用パスワード再設定", "症例登録用パスワード更新", "症例登録(INDICE)用パスワード更新申請",
			"indice reset", "indice"},
		fields: concat([]fieldUse{{"id", false, "INDICEのみの場合は必須です。", "Required for INDICE only."}}, identity(true), uses(true, "scope"),
			[]fieldUse{{"new_password", true, "新しいINDICE用パスワード。「INDICEと一般」の場合は一般用パスワードにも設定します。", "The new INDICE password; for INDICE and general it is set for both."},
				{"new_password_confirm", true, "", ""}}),
		fallback: newPasswordFallback},
	{kind: KindRename, titleJA: "ID変更", titleEN: "ID rename",
		aliases: []string{"ID名変更", "ID文字列変更", "IDの変更", "ID変更申請", "rename", "change id", "id change", "change of id"},
		fields: []fieldUse{{"id", true, "現在のID。", "Your current ID."}, {"new_id", true, "", ""},
			{"forwarding", false, "", ""}},
		fallback: map[string]string{"desired_id": "new_id"}},
	{kind: KindAffiliation, titleJA: "所属変更", titleEN: "affiliation change",
		aliases: []string{"所属先変更", "所属変更申請", "異動", "affiliation", "change of affiliation", "new affiliation"},
		fields:  uses(true, "id", "institution", "department", "email")},
	{kind: KindDeletion, titleJA: "ID削除", titleEN: "ID deletion",
		aliases: []string{"削除", "IDの削除", "ID削除申請", "退会", "delete", "deletion", "delete id", "delete my id"},
		fields:  []fieldUse{{"id", true, "", ""}, {"requester", true, "", ""}, {"reason", false, "", ""}}},
	{kind: KindMerge, titleJA: "ID統合", titleEN: "ID merge",
		aliases: []string{"統合", "IDの統合", "ID統合申請", "重複ID統合", "merge", "merge ids", "merge id"},
		fields:  []fieldUse{{"id", true, "残すID。", "The ID to keep."}, {"other_ids", true, "", ""}}},
	{kind: KindHandover, titleJA: "ID引継ぎ", titleEN: "ID hand-over",
		aliases: []string{"引継ぎ", "引き継ぎ", "引継", "ID引き継ぎ", "ID引継", "IDの引継ぎ", "担当者変更", "handover", "hand over", "id handover"},
		fields:  []fieldUse{{"id", true, "", ""}, {"new_holder", true, "", ""}, {"new_holder_email", false, "", ""}}},
	{kind: KindFacilityApplication, titleJA: "利用本申請", titleEN: "facility application",
		aliases: []string{"本申請", "利用申請", "医療機関オンライン接続サービス利用申請", "facility connection application"},
		fields: append([]fieldUse{{"token", true, "", ""}}, uses(true, "prefecture", "facility", "manager_name", "manager_kana", "applicant_name",
			"applicant_kana", "facility_department", "facility_title", "phone", "extension", "agreement")...)},
	{kind: KindFacilityService, titleJA: "サービス利用申請", titleEN: "service application",
		aliases: []string{"全国がん登録届出サービス利用申請", "サービス申請", "service application"},
		fields:  uses(true, "facility_user_id", "service")},
	{kind: KindFacilityPassword, titleJA: "初期パスワード変更", titleEN: "initial password change",
		aliases: []string{"パスワード変更(施設)", "initial password"},
		fields:  uses(true, "facility_user_id", "current_password", "new_password", "new_password_confirm"), fallback: newPasswordFallback},
	{kind: KindStatus, titleJA: "状況確認", titleEN: "status inquiry",
		aliases: []string{"書類再発行", "申請書再発行", "申請書の再発行", "申請書再印刷", "処理状況", "状況", "状況確認・書類再発行", "進捗確認",
			"status", "reprint", "form reprint", "status inquiry", "status check"},
		fields: []fieldUse{{"reference", false, "", ""}}},
	{kind: KindInquiry, titleJA: "お問い合わせ", titleEN: "inquiry",
		aliases: []string{"問い合わせ", "お問合せ", "お問い合せ", "ご質問", "質問", "その他", "inquiry", "enquiry", "question", "other"},
		fields: []fieldUse{{"id", false, "お持ちの場合。", "If you have one."},
			{"service", false, "アクセスできないサービスの名前。", "The service you cannot reach."},
			{"url", false, "", ""}, {"error_message", false, "", ""}, {"question", false, "", ""}}},
}
