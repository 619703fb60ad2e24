"""Tests for app.domain.normalize: cleaning, phones, emails, USCC, name keys, masks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.errors import InvalidInput
from app.domain.normalize import (
    KEY_FIELDS,
    USCC_CHARSET,
    clean_text,
    completeness,
    dedup_name_key,
    is_valid_uscc,
    mask_email,
    mask_phone,
    mask_text,
    normalize_email,
    normalize_phone,
    phone_search_key,
    uscc_check_char,
    validate_uscc,
)


def to_full_width(s: str) -> str:
    return "".join("\u3000" if ch == " " else chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in s)


# --------------------------------------------------------------------------------------
# clean_text
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", None),
        ("   \t\n ", None),
        ("\u3000", None),
        ("  Acme   Co.,\tLtd. ", "Acme Co., Ltd."),
        ("ＡＣＭＥ　ｃｏ．，ｌｔｄ", "ACME co.,ltd"),
        ("０１０－１２３４５６７８", "010-12345678"),
        ("星辰科技（北京）有限公司", "星辰科技(北京)有限公司"),
        ("㈱ 星辰", "㈱ 星辰"),  # CJK compatibility characters are left alone
        ("①２", "①2"),
        ("ｶﾀｶﾅ", "ｶﾀｶﾅ"),  # half-width katakana are not ASCII
        ("a\u200bb\ufeff", "ab"),
        ("a\x00b", "ab"),
        ("line1\r\nline2", "line1 line2"),
        ("a\u00a0\u2003b", "a b"),
    ],
)
def test_clean_text(raw: str | None, expected: str | None) -> None:
    assert clean_text(raw) == expected


@given(st.text())
def test_clean_text_is_idempotent(s: str) -> None:
    once = clean_text(s)
    assert clean_text(once) == once


@given(st.text())
def test_clean_text_has_no_edge_or_double_whitespace(s: str) -> None:
    out = clean_text(s)
    if out is not None:
        assert out == out.strip()
        assert "  " not in out
        assert not any(0xFF01 <= ord(ch) <= 0xFF5E or ch == "\u3000" for ch in out)


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E)))
def test_clean_text_folds_full_width(s: str) -> None:
    assert clean_text(to_full_width(s)) == clean_text(s)


# --------------------------------------------------------------------------------------
# Phones
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "+8613800138000"),
        ("138 0013 8000", "+8613800138000"),
        ("+86 138-0013-8000", "+8613800138000"),
        ("+86 13800138000", "+8613800138000"),
        ("(+86) 138-0013-8000", "+8613800138000"),
        ("（+86）13800138000", "+8613800138000"),
        ("(86) 138 0013 8000", "+8613800138000"),
        ("8613800138000", "+8613800138000"),
        ("008613800138000", "+8613800138000"),
        ("１３８００１３８０００", "+8613800138000"),
        ("０１０－１２３４５６７８", "+861012345678"),
        ("010-12345678", "+861012345678"),
        ("(010) 12345678", "+861012345678"),
        ("+86 (0)10 1234 5678", "+861012345678"),
        ("400-810-8888", "+864008108888"),
        ("+1 650-253-0000", "+16502530000"),
        ("+852 2345 6789", "+85223456789"),
        ("  138.0013.8000  ", "+8613800138000"),
    ],
)
def test_normalize_phone(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected
    assert phone_search_key(raw) == expected


def test_normalize_phone_default_region() -> None:
    assert normalize_phone("(650) 253-0000", default_region="US") == "+16502530000"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "12345",
        "95588",  # short service number, not a subscriber number
        "1380013800",  # one digit short
        "138001380000",  # one digit too many
        "1-800-FLOWERS",  # phonenumbers would read the letters as digits
        "010-12345678 ext 12",  # an extension would be lost in E.164
        "010-12345678转801",
        "tel:+8613800138000",
        "13800138000#",
        "+",
        "(+)",
        "abc",
    ],
)
def test_normalize_phone_rejects(raw: str) -> None:
    with pytest.raises(InvalidInput) as exc_info:
        normalize_phone(raw)
    err = exc_info.value
    assert err.code == "validation_error"
    assert [e["type"] for e in err.errors] == ["value_error.phone"]
    assert err.errors[0]["loc"] == ["phone"]
    assert phone_search_key(raw) is None


def test_normalize_phone_uses_given_loc() -> None:
    with pytest.raises(InvalidInput) as exc_info:
        normalize_phone("123", loc=("contacts", 0, "phones", 1))
    assert exc_info.value.errors[0]["loc"] == ["contacts", 0, "phones", 1]


@pytest.mark.parametrize("q", [None, "", "acme", "星辰科技", "2024", "1380013", "a@b.com"])
def test_phone_search_key_none_for_non_phones(q: str | None) -> None:
    assert phone_search_key(q) is None


@given(st.text(max_size=40))
def test_phone_search_key_never_raises_and_agrees_with_normalize(q: str) -> None:
    key = phone_search_key(q)
    if key is None:
        with pytest.raises(InvalidInput):
            normalize_phone(q)
    else:
        assert normalize_phone(q) == key
        assert normalize_phone(key) == key


# --------------------------------------------------------------------------------------
# Emails
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Zhang.San@Example.COM", "zhang.san@example.com"),
        ("  a@b.cn ", "a@b.cn"),
        ("ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ", "zhang@example.com"),
        ("first+tag@sub.example.co.uk", "first+tag@sub.example.co.uk"),
        ("o'brien@my-domain.org", "o'brien@my-domain.org"),
        ("用户@例子.中国", "用户@例子.中国"),
    ],
)
def test_normalize_email(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "empty"),
        ("plainaddress", "exactly one @"),
        ("a@b@c.com", "exactly one @"),
        ("@example.com", "local part"),
        ("zhang san@example.com", "forbidden"),
        ("zhang@exa mple.com", "host name"),
        ("zhang@localhost", "dot"),
        ("zhang@example.", "host name"),
        ("zhang@.example.com", "host name"),
        ("zhang@example..com", "host name"),
        ("zhang@-example.com", "host name"),
        ("zhang@exam_ple.com", "host name"),
        ("zhang@example.c", "top-level"),
        ("zhang@1.2.3.4", "top-level"),
        (".zhang@example.com", "dot"),
        ("zh..ang@example.com", "dot"),
        ("<zhang>@example.com", "forbidden"),
        ("a" * 65 + "@example.com", "local part is longer"),
        ("a@" + "b" * 250 + ".com", "longer than 254"),
    ],
)
def test_normalize_email_rejects(raw: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as exc_info:
        normalize_email(raw)
    (entry,) = exc_info.value.errors
    assert entry["type"] == "value_error.email"
    assert entry["loc"] == ["email"]
    assert fragment in entry["msg"]


@given(st.emails())
def test_normalize_email_accepts_generated_and_is_idempotent(email: str) -> None:
    try:
        out = normalize_email(email)
    except InvalidInput:
        return  # hypothesis may generate RFC-legal forms this check deliberately refuses
    assert out == out.lower()
    assert normalize_email(out) == out


# --------------------------------------------------------------------------------------
# USCC
# --------------------------------------------------------------------------------------

VALID_USCC = ["91350100M000100Y43", "91110000802100433B", "91440300MA5EEJUR92"]

uscc_bodies = st.text(alphabet=USCC_CHARSET, min_size=17, max_size=17)


@pytest.mark.parametrize("code", VALID_USCC)
def test_known_valid_uscc(code: str) -> None:
    assert uscc_check_char(code[:17]) == code[17]
    assert validate_uscc(code) == code
    assert is_valid_uscc(code)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  91350100m000100y43 ", "91350100M000100Y43"),
        ("９１１１００００８０２１００４３３ｂ", "91110000802100433B"),
    ],
)
def test_validate_uscc_normalises(raw: str, expected: str) -> None:
    assert validate_uscc(raw) == expected


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("", "length"),
        ("9135010", "length"),
        ("91350100M000100Y431", "length"),
        ("9135 0100 M000 100Y 43", "length"),
        ("91350100O000100Y43", "character"),  # letter O instead of zero
        ("91350100I000100Y43", "character"),
        ("9135010-M000100Y43", "character"),
        ("91350100M000100Y4Z", "character"),
        ("91350100M000100Y44", "check character"),
        ("91350100M000100Y34", "check character"),  # swapped digits
    ],
)
def test_validate_uscc_rejects(raw: str, rule: str) -> None:
    with pytest.raises(InvalidInput) as exc_info:
        validate_uscc(raw)
    err = exc_info.value
    (entry,) = err.errors
    assert entry["type"] == "value_error.uscc"
    assert entry["loc"] == ["uscc"]
    assert entry["msg"].startswith(f"{rule}:")
    assert rule in err.detail
    assert not is_valid_uscc(raw)


def test_is_valid_uscc_none() -> None:
    assert not is_valid_uscc(None)


@pytest.mark.parametrize("bad", ["", "9135010", "91350100O000100Y4", "91350100M000100Y43"])
def test_uscc_check_char_rejects_bad_input(bad: str) -> None:
    with pytest.raises(ValueError):
        uscc_check_char(bad)


@given(uscc_bodies)
def test_generated_uscc_validates(body: str) -> None:
    code = body + uscc_check_char(body)
    assert validate_uscc(code) == code
    assert is_valid_uscc(code.lower())


@given(uscc_bodies, st.sampled_from(USCC_CHARSET))
def test_any_other_check_char_fails(body: str, other: str) -> None:
    right = uscc_check_char(body)
    if other != right:
        assert not is_valid_uscc(body + other)


@given(uscc_bodies, st.integers(0, 16), st.sampled_from(USCC_CHARSET))
def test_any_single_body_change_fails(body: str, position: int, replacement: str) -> None:
    # Weights are distinct and nonzero mod 31 and 31 is prime: every single substitution
    # moves the sum, so the check character catches it.
    code = body + uscc_check_char(body)
    changed = code[:position] + replacement + code[position + 1 :]
    assert is_valid_uscc(changed) == (changed == code)


# --------------------------------------------------------------------------------------
# dedup_name_key
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "names",
    [
        [
            "Acme  Co., Ltd.",
            "ＡＣＭＥ co ltd",
            "acme",
            "ACME CO.,LTD",
            "Acme Limited",
            "Acme Inc.",
            "acme corp",
            "Acme Corporation",
            "Acme LLC",
            "Acme GmbH",
            "Acme Co. Ltd",
            "Acme Company Limited",
            " acme ",
        ],
        [
            "北京星辰科技有限公司",
            "北京星辰科技 股份有限公司",
            "北京星辰科技有限责任公司",
            "北京星辰科技公司",
            "北京星辰科技",
            "北 京 星 辰 科 技",
        ],
        ["星辰科技（北京）有限公司", "星辰科技(北京)有限公司", "星辰科技【北京】"],
        ["星辰科技 Co., Ltd.", "星辰科技Co.,Ltd.", "星辰科技有限公司"],
        ["Acme 有限公司", "acme"],
    ],
)
def test_dedup_name_key_matches(names: list[str]) -> None:
    keys = {dedup_name_key(n) for n in names}
    assert len(keys) == 1, keys


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("星辰集团有限公司", "星辰有限公司"),  # a group is not its operating company
        ("星辰科技有限公司北京分公司", "星辰科技有限公司北京"),  # a branch keeps 分公司
        ("Zinc", "Z"),  # suffixes only as whole words
        ("Acmeltd", "Acme"),
        ("Acme One", "Acme Two"),
    ],
)
def test_dedup_name_key_distinguishes(a: str, b: str) -> None:
    assert dedup_name_key(a) != dedup_name_key(b)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Acme  Co., Ltd.", "acme"),
        ("北京星辰科技 股份有限公司", "北京星辰科技"),
        ("有限公司", "有限公司"),  # nothing but a legal form: keep it
        ("Ltd.", "ltd"),
        ("Co., Ltd.", "co"),
        ("AT&T Inc.", "att"),
        ("", ""),
        ("  ", ""),
    ],
)
def test_dedup_name_key_values(name: str, expected: str) -> None:
    assert dedup_name_key(name) == expected


names = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "Acme",
                "co",
                "ltd",
                "Inc.",
                "有限公司",
                "公司",
                "股份",
                "（北京）",
                "(上海)",
                "星辰",
                "科技",
                "集团",
                "分公司",
                "Zinc",
                ".",
                ",",
                "&",
            ]
        ),
        st.text(max_size=6),
    ),
    max_size=6,
).map(" ".join)


@given(names)
def test_dedup_name_key_is_idempotent(name: str) -> None:
    key = dedup_name_key(name)
    assert dedup_name_key(key) == key


@given(names, st.sampled_from([" ", "  ", "\t", "\u3000", " \n "]))
def test_dedup_name_key_ignores_amount_of_whitespace(name: str, extra: str) -> None:
    respaced = extra + name.replace(" ", extra) + extra
    assert dedup_name_key(respaced) == dedup_name_key(name)


@given(names)
def test_dedup_name_key_ignores_full_width(name: str) -> None:
    assert dedup_name_key(to_full_width(name)) == dedup_name_key(name)


@given(st.text(alphabet="北京星辰科技有限公司股份集团", max_size=12), st.data())
def test_dedup_name_key_ignores_spaces_inside_chinese(name: str, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(name)))
    assert dedup_name_key(name[:cut] + " " + name[cut:]) == dedup_name_key(name)


# --------------------------------------------------------------------------------------
# Masks
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        ("+8613800138000", "+86138****8000"),
        ("+861012345678", "+86101***5678"),
        ("+16502530000", "+1650***0000"),
        ("+85223456789", "+852234*6789"),
    ],
)
def test_mask_phone(e164: str, expected: str) -> None:
    assert mask_phone(e164) == expected


def test_mask_phone_tolerates_non_e164() -> None:
    assert mask_phone("garbage") == "g*****e"


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("zhang.san@example.com", "z***@example.com"),
        ("a@example.com", "a***@example.com"),
        ("no-at-sign", "n********n"),
    ],
)
def test_mask_email(email: str, expected: str) -> None:
    assert mask_email(email) == expected


@pytest.mark.parametrize(
    ("s", "expected"),
    [("", ""), ("a", "*"), ("ab", "a*"), ("abc", "a*c"), ("wxid_abc9", "w*******9"), ("张三丰", "张*丰")],
)
def test_mask_text(s: str, expected: str) -> None:
    assert mask_text(s) == expected


@given(st.text(alphabet=st.characters(blacklist_characters="*"), min_size=1))
def test_mask_text_never_reveals_whole_value(s: str) -> None:
    out = mask_text(s)
    assert len(out) == len(s)
    assert out != s


# --------------------------------------------------------------------------------------
# Completeness
# --------------------------------------------------------------------------------------

FULL = {
    "name": "星辰科技",
    "uscc": "91350100M000100Y43",
    "industry": "software",
    "region": "北京",
    "size": "50-99",
    "address": "海淀区",
    "website": "https://example.com",
    "source": "web",
    "has_contact": True,
    "has_contact_phone_or_email": True,
}


@pytest.mark.parametrize(
    ("kind", "fields", "expected"),
    [
        ("company", FULL, 100),
        ("individual", FULL, 100),
        ("individual", {k: v for k, v in FULL.items() if k != "uscc"}, 100),
        ("company", {k: v for k, v in FULL.items() if k != "uscc"}, 91),  # 10/11
        ("company", {}, 9),  # only kind: 1/11
        ("individual", {}, 10),  # 1/10
        ("individual", {"name": "张三", "has_contact": False}, 20),
        ("company", {**FULL, "website": "", "address": "  ", "has_contact": False}, 73),
        ("company", {**FULL, "industry": None, "size": []}, 82),  # 9/11
        ("individual", {"name": "张三", "unrelated": "x", "tags": ["a"]}, 20),
    ],
)
def test_completeness(kind: str, fields: dict[str, object], expected: int) -> None:
    assert completeness(kind=kind, fields=fields) == expected


def test_completeness_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError):
        completeness(kind="robot", fields=FULL)


def test_key_fields() -> None:
    assert "uscc" in KEY_FIELDS
    assert len(KEY_FIELDS) == 11


@given(
    st.sampled_from(["company", "individual"]),
    st.dictionaries(
        st.sampled_from(KEY_FIELDS),
        st.one_of(st.none(), st.booleans(), st.text(max_size=3), st.lists(st.integers())),
    ),
)
def test_completeness_in_range(kind: str, fields: dict[str, object]) -> None:
    assert 0 < completeness(kind=kind, fields=fields) <= 100
