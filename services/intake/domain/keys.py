"""Normalised keys for addresses and phones, so other services can match records without raw personal data.

Address normalisation (one spelling per place, so repeat disputes at one address share a key):
- NFKC (full-width digits, letters and punctuation become half-width), latin lower-cased;
- traditional or variant characters common in addresses become simplified ("號" -> "号");
- a trailing Milwaukee city suffix (",MKE", ", Milwaukee, WI") is dropped: the US CAD export
  appends it to every location, so it carries no information and would split keys;
- a leading "中国" / "中华人民共和国" is dropped for the same reason;
- "5#楼" becomes "5号楼"; Chinese numerals before a house-number unit ("十二号", "五〇一室")
  become Arabic digits; "5号楼" / "5幢" become "5栋" (three spellings of "building 5");
- whitespace, punctuation, symbols and control characters are removed, except that a run of them
  between two latin letters or digits becomes one "-", so "12-3号" and "1-23号" stay different
  and "1234 N 27th St" does not collapse into "1234n27thst".
The result is idempotent: normalising a normalised address changes nothing.
"""
import hashlib
import re
import unicodedata

from shared.phones import normalise_phone, phone_hmac  # noqa: F401  (one normalisation: mediation matches by it)

ADDRESS_KEY_LENGTH = 32

# Traditional and variant forms a caller or CAD operator may type; mapped to simplified Chinese.
_VARIANTS = str.maketrans({
    "號": "号", "區": "区", "門": "门", "樓": "楼", "單": "单", "棟": "栋", "層": "层", "廣": "广",
    "場": "场", "東": "东", "橋": "桥", "鎮": "镇", "鄉": "乡", "縣": "县", "園": "园", "莊": "庄",
    "灣": "湾", "興": "兴", "國": "国", "華": "华", "陽": "阳", "龍": "龙", "雲": "云", "開": "开",
    "寧": "宁", "條": "条", "裡": "里", "裏": "里", "衚": "胡", "衕": "同", "圍": "围", "邨": "村",
    "巿": "市",
})
_CITY_SUFFIX = re.compile(r",\s*(?:mke|milwaukee)(?:\s*,?\s*(?:wi|wisconsin))?[\s.,]*$")
_HASH_AFTER_NUMBER = re.compile(r"(\d)\s*#")
_SEPARATORS = re.compile(r"[\W_]+")
_LATIN = frozenset("0123456789abcdefghijklmnopqrstuvwxyz")
_COUNTRY_PREFIX = re.compile(r"^(?:中华人民共和国|中国)+")
_CN_NUMBER = re.compile(r"[〇零一二两三四五六七八九十百千]+(?=号|栋|幢|单元|室|层|楼|弄|组|户)")
_BUILDING = re.compile(r"(\d)(?:号楼|幢)")
_CN_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4,
              "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}


def _chinese_number(match: re.Match[str]) -> str:
    """'十二' -> '12', '一百零五' -> '105', '五〇一' -> '501' (digit-by-digit when no unit appears)."""
    text = match.group(0)
    if not any(ch in _CN_UNITS for ch in text):
        return "".join(str(_CN_DIGITS[ch]) for ch in text)
    total, digit = 0, 0
    for ch in text:
        if ch in _CN_UNITS:
            total += (digit or 1) * _CN_UNITS[ch]  # "十二": a unit without a digit means one ten
            digit = 0
        else:
            digit = _CN_DIGITS[ch]
    return str(total + digit)


def _separator(match: re.Match[str]) -> str:
    """'-' for a separator between two latin letters or digits, nothing elsewhere."""
    text, start, end = match.string, match.start(), match.end()
    if 0 < start and end < len(text) and text[start - 1] in _LATIN and text[end] in _LATIN:
        return "-"
    return ""


def normalise_address(text: str | None) -> str | None:
    """The comparable form of an address (see module docstring); None when nothing is left."""
    if text is None:
        return None
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).lower())
    text = text.translate(_VARIANTS)
    text = _CITY_SUFFIX.sub("", text)
    text = _HASH_AFTER_NUMBER.sub(r"\1号", text)
    text = _SEPARATORS.sub(_separator, text)
    text = _COUNTRY_PREFIX.sub("", text)
    text = _CN_NUMBER.sub(_chinese_number, text)
    text = _BUILDING.sub(r"\1栋", text)
    # Removing separators can bring together characters NFKC composes (e.g. Hangul jamo): settle them.
    text = unicodedata.normalize("NFKC", text)
    return text or None


def address_key(text: str | None) -> str | None:
    """A short stable key of the normalised address (sha256 hex prefix); None when there is no address."""
    return key_of_normalised(normalise_address(text))


def key_of_normalised(normalised: str | None) -> str | None:
    """address_key() of an address already normalised (normalise_address), so it is normalised once."""
    if normalised is None:
        return None
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:ADDRESS_KEY_LENGTH]

