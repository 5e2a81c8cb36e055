"""How precise an address is: room, building, street, area or none (shared.events.intake.ADDRESS_PRECISIONS).

Repeat disputes and civil-to-criminal cases are linked on the address key; only a key that names
one door (a room or a building) may link two calls. A street-level key such as 示例市东城区人民路
joins every call on the street, so it must say so.

A level counts only on top of the ones it needs: a room number needs a building (湖光路501室 is a
street, 阳光小区501室 an area, 3栋501室 with no place name is none), and a building needs a named
place (湖光路12号, 张家村15号; 12号 alone is none). Each rule is a little conservative on purpose:
a precision that is too coarse loses a link, one that is too fine links strangers.

Chinese (any Han character; read on the normalised address of keys.normalise_address, so 十二号,
12號 and 12# are 12号, and 3号楼 and 3幢 are 3栋):
- room: a room, household or floor number (501室, 5户, 501房, 3层), a bare number after a
  building part (12号501, 3栋501, 2单元1203, 3楼301), or building-unit-room (5-1-501);
- building: a house or building number (12号 but not 3号线, 3栋, 2单元, A座, 5-1-501, 3楼);
- street: 路, 街 (not 街道), 巷, 弄, 胡同, 大道, 高速, 国道, 省道, with no number;
- area: any other place name of two or more Han characters: a 区, 县, 镇, 乡, 街道, 村, 社区 or 小区
  with no street, a landmark (火车站附近, 望湖公园东侧);
- none: no address, fewer than two Han characters of name, or 不详 / 不明 / 未知.

English (read on the street line: the text before the first comma, since the rest names the city
("5237 N 35TH ST,MKE", "8809 FOLEY RD, CALEDONIA"), in upper case):
- street first when the line is an intersection or a stretch ("N 35TH ST / W CENTER ST", "84TH AND
  CONGRESS", "W VILLARD AV N SHERMAN TO N 68TH ST"), a block ("700-BLK N MILWAUKEE ST", "52XX N
  35TH ST") or a range of numbers ("6100-6400 N 107TH ST"), whatever numbers it holds;
- building: a leading house number followed by a street name ("5237 N 35TH ST", "9825 W RUBY",
  Wisconsin grid numbers "N69W12703 UPTON AVE", "W180 N8085 TOWN HALL RD");
- room: a building with a unit (APT, APARTMENT, UNIT, STE, SUITE, ROOM, RM, FL, FLR, FLOOR, #), or a
  house number with a unit letter ("3017-A N 28TH ST", "3037A N HOLTON": one flat of a duplex);
- street: a street word (ST, AV, DR, RD, BL, PL, CT, LN, WAY, ...), an ordinal (35TH) or a direction
  before a name (N HOLTON) without a house number;
- area: any other name ("SHERMAN PARK", "CALEDONIA, WI", a business name);
- none: nothing, no letter at all, a single short code ("SPD", "D6", "MCCC") or UNKNOWN.

Two spellings with the same address key normally get the same precision; only English separators
the key drops can differ ("8848-E N 95TH ST" is a flat, "8848 E N 95TH ST" is not read as one).
"""
import re
import unicodedata

from services.intake.domain.keys import normalise_address

ROOM, BUILDING, STREET, AREA, NONE = "room", "building", "street", "area", "none"

_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

# Chinese, on the normalised address (digits, 栋 for 号楼/幢, no spaces, lower-case latin).
_CN_UNKNOWN = re.compile(r"(?:地址)?(?:不详|不明|未知|暂无|无)")
# What numbers a place, so that the name left once it is removed can be measured.
_CN_NUMBERED = re.compile(r"[0-9a-z][0-9a-z-]*(?:单元|号|栋|室|户|房|层|楼|座|弄|组)?")
_CN_ROOM = re.compile(r"\d+(?:室|户|房|层)"
                      r"|(?:号|栋|单元|座)\d+(?![\d号栋单元座弄楼层室户房组])"  # 12号501, not 12号3栋
                      r"|\d+楼\d+"
                      r"|\d+-\d+-\d+|(?:号|栋|单元|座)\d+-\d+")
_CN_BUILDING = re.compile(r"\d+号(?!线)|\d+栋|\d+单元|[0-9a-z]座|\d+-\d+-\d+|\d+楼")
_CN_STREET = re.compile(r"路|街(?!道)|巷|弄|胡同|大道|高速|国道|省道")

# English, on the street line in upper case.
_EN_UNKNOWN = frozenset({"UNKNOWN", "UNK", "N/A", "NONE"})
_EN_STRETCH = re.compile(r"/|&|\bAND\b|\bTO\b")
_EN_BLOCK = re.compile(r"\b\d+\s*-?\s*(?:BLK|BLOCK)\b|\b\d+XX\b|^\d+\s*-\s*\d+\b")
_EN_HOUSE = re.compile(r"^(?:[NSEW]\d+\s*[NSEW]\d+|\d+)(?P<flat>-?[A-Z])?\s+(?P<rest>.*)$")
_EN_UNIT = re.compile(r"(?:^|\s)(?:APT|APARTMENT|UNIT|STE|SUITE|ROOM|RM|FL|FLR|FLOOR)\b|#\s*[A-Z0-9]")
_EN_STREET_WORDS = frozenset({
    "ST", "STREET", "AV", "AVE", "AVENUE", "BL", "BD", "BLVD", "BOULEVARD", "DR", "DRIVE", "RD", "ROAD",
    "PL", "PLACE", "CT", "COURT", "LA", "LN", "LANE", "WA", "WAY", "WY", "TR", "TER", "TERRACE", "CR", "CIR",
    "CIRCLE", "PK", "PKWY", "PY", "PARKWAY", "HWY", "HY", "HIGHWAY", "SQ", "ALLEY", "EXPY", "FWY", "MALL"})
_EN_ORDINAL = re.compile(r"^\d+(?:ST|ND|RD|TH)$")
_EN_DIRECTIONS = frozenset({"N", "S", "E", "W"})


def address_precision(text: str | None, normalised: str | None = None) -> str:
    """The precision of an address, one of ADDRESS_PRECISIONS; "none" when there is none (see module docstring).
    `normalised` is normalise_address(text) when the caller has it already."""
    if text is None:
        return NONE
    if _HAN.search(text):
        normalised = normalised or normalise_address(text)
        return _chinese(normalised) if normalised else NONE
    # The English rules read the raw text: the key's normalisation drops the separators they need.
    return _english(text)


def _chinese(address: str) -> str:
    if _CN_UNKNOWN.fullmatch(address):
        return NONE
    name = _CN_NUMBERED.sub("", address)
    if len(_HAN.findall(name)) < 2:
        return NONE
    if _CN_BUILDING.search(address):
        return ROOM if _CN_ROOM.search(address) else BUILDING
    return STREET if _CN_STREET.search(name) else AREA


def _english(text: str) -> str:
    # NFKC: full-width letters and digits are the ASCII ones; the street line is before the city.
    line = " ".join(unicodedata.normalize("NFKC", text).upper().split(",")[0].split())
    tokens = line.split()
    if not re.search(r"[A-Z]", line) or line in _EN_UNKNOWN or (len(tokens) == 1 and len(line) <= 4):
        return NONE
    if _EN_STRETCH.search(line) or _EN_BLOCK.search(line):
        return STREET
    house = _EN_HOUSE.match(line)
    if house and any(t not in _EN_DIRECTIONS and t.isalnum() for t in house["rest"].split()):
        return ROOM if house["flat"] or _EN_UNIT.search(house["rest"]) else BUILDING
    if _is_street(tokens):
        return STREET
    return AREA


def _is_street(tokens: list[str]) -> bool:
    """A street word, an ordinal street, or a direction before a name (N HOLTON)."""
    if any(t in _EN_STREET_WORDS or _EN_ORDINAL.match(t) for t in tokens):
        return True
    return any(a in _EN_DIRECTIONS and b.isalnum() for a, b in zip(tokens, tokens[1:], strict=False))
