"""Address and phone keys: variants of one address or phone agree, different ones differ, no raw digits leak."""
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.intake.domain.keys import ADDRESS_KEY_LENGTH, address_key, normalise_address, normalise_phone, phone_hmac

SECRET = b"test-secret-not-for-production"

SAME_FLAT = [
    "北城区望湖街道望湖北里3号楼2单元501室",
    "北城区 望湖街道 望湖北里 3号楼 2单元 501室",
    "北城区望湖街道望湖北里３號樓２單元５０１室",           # full-width digits, traditional characters
    "北城区望湖街道望湖北里三号楼二单元五〇一室",           # Chinese numerals
    "北城区望湖街道望湖北里3#楼2单元501室",                # "#" for 号
    "北城区望湖街道望湖北里3栋2单元501室",
    "中国北城区望湖街道，望湖北里3幢2单元501室。",
    "\u200b北城区望湖街道望湖北里3号楼2单元501室\n",        # a zero-width space from a copy-paste
]


@pytest.mark.parametrize("text", SAME_FLAT)
def test_variants_of_one_address_share_a_key(text):
    assert normalise_address(text) == "北城区望湖街道望湖北里3栋2单元501室"
    assert address_key(text) == address_key(SAME_FLAT[0])


def test_milwaukee_locations_drop_the_city_suffix_and_keep_word_boundaries():
    variants = ["2400 N 35TH ST,MKE", "2400 n 35th st", "2400 N. 35th St., Milwaukee, WI", " 2400  N 35TH ST , MKE "]
    assert {normalise_address(v) for v in variants} == {"2400-n-35th-st"}
    assert len({address_key(v) for v in variants}) == 1
    assert normalise_address("MKE AIRPORT") == "mke-airport"  # only a trailing ",MKE" suffix is dropped


@pytest.mark.parametrize("one, other", [
    ("北城区望湖街道望湖北里3号楼2单元501室", "北城区望湖街道望湖北里3号楼2单元502室"),
    ("北城区望湖街道望湖北里3号楼", "北城区望湖街道望湖北里13号楼"),
    ("望湖北里12-3号", "望湖北里1-23号"),  # a separator between digits is kept, not dropped
    ("2400 N 35TH ST,MKE", "2400 S 35TH ST,MKE"),
    ("北城区东关街道1号", "南城区东关街道1号"),
])
def test_different_addresses_get_different_keys(one, other):
    assert address_key(one) != address_key(other)


@pytest.mark.parametrize("text, expected", [
    ("十号", "10号"), ("十二号", "12号"), ("二十号", "20号"), ("二十二号", "22号"),
    ("一百零五号", "105号"), ("一〇五室", "105室"), ("两单元", "2单元"), ("三里屯五号", "三里屯5号"),
    ("十里河", "十里河"),  # numerals in a place name, not a house number, are left alone
])
def test_chinese_numerals_in_house_numbers(text, expected):
    assert normalise_address(text) == expected


@pytest.mark.parametrize("text", [None, "", "   ", "，。！", "\u200b", "中国"])
def test_no_address_gives_none(text):
    assert normalise_address(text) is None
    assert address_key(text) is None


def test_address_key_is_a_short_sha256_of_the_normalised_address():
    normalised = normalise_address("北城区望湖街道1号")
    key = address_key("北城区 望湖街道 １号")
    assert key == hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:ADDRESS_KEY_LENGTH]
    assert len(key) == 32 and int(key, 16) >= 0


@given(st.text())
def test_normalise_address_is_idempotent(text):
    once = normalise_address(text)
    assert once is None or normalise_address(once) == once
    assert address_key(text) == address_key(once)


ADDRESSY = st.text(alphabet=st.sampled_from(list(
    "北城区望湖街道号號楼樓栋幢单單元室层弄组户#-－ ,，.。·\u3000\u200b"
    "〇零一二两三四五六七八九十百千0123456789０１２３ABCabcＡｂ中国,MKEmilwaukeeWI\u1100\u1161")), max_size=40)


@given(ADDRESSY)
def test_normalise_address_is_idempotent_on_address_like_text(text):
    once = normalise_address(text)
    assert once is None or normalise_address(once) == once


@pytest.mark.parametrize("phone", [
    "13800138000", "138 0013 8000", "138-0013-8000", "+86 138 0013 8000", "+86-138-0013-8000",
    "0086 13800138000", "8613800138000", "(+86)13800138000", "１３８００１３８０００",
])
def test_phone_variants_normalise_and_hmac_alike(phone):
    assert normalise_phone(phone) == "13800138000"
    assert phone_hmac(phone, SECRET) == phone_hmac("13800138000", SECRET)


def test_landlines_dialled_from_home_or_abroad_agree():
    assert normalise_phone("010-6512 3456") == normalise_phone("+86 10 6512 3456") == "01065123456"
    assert normalise_phone("+86 (0)10 6512 3456") == "01065123456"


@pytest.mark.parametrize("phone", [None, "", "110", "12 34", "n/a", "+86"])
def test_too_short_phone_gives_none(phone):
    assert normalise_phone(phone) is None
    assert phone_hmac(phone, SECRET) is None


def test_different_phones_and_different_secrets_give_different_hmacs():
    assert phone_hmac("13800138000", SECRET) != phone_hmac("13800138001", SECRET)
    assert phone_hmac("13800138000", SECRET) != phone_hmac("13800138000", b"another-secret")


def test_hmac_is_hex_sha256_and_refuses_an_empty_secret():
    digest = phone_hmac("13800138000", SECRET)
    assert len(digest) == 64 and set(digest) <= set("0123456789abcdef")
    with pytest.raises(ValueError):
        phone_hmac("13800138000", b"")


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.binary(min_size=1, max_size=32))
def test_hmac_never_contains_the_phone_digits(phone, secret):
    digest = phone_hmac(phone, secret)
    assert phone not in digest and phone[-8:] not in digest
