"""Address precision: room, building, street, area or none, for Chinese and US addresses."""
import csv
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.domain.address_precision import address_precision
from services.intake.domain.keys import normalise_address
from shared.events.intake import ADDRESS_PRECISIONS

MILWAUKEE = Path(__file__).resolve().parents[3] / "services" / "intake" / "samples" / "milwaukee_calls_2018-05-01_to_14.csv"

CHINESE = [
    # room
    ("示例市北城区湖光路12号3栋501室", "room"),
    ("示例市北城区望湖街道湖光路12号3单元1203", "room"),
    ("湖光路12号501", "room"),
    ("湖光路十二号三栋五〇一室", "room"),
    ("幸福小区5-1-501", "room"),
    ("幸福小区3号楼2单元602室", "room"),
    ("幸福小区3幢201户", "room"),
    ("东关街8号楼3楼301", "room"),
    ("金色家园A座1502房", "room"),
    ("滨河路9号4层", "room"),
    ("湖光路12號3棟501室", "room"),
    # building
    ("示例市北城区湖光路12号", "building"),
    ("湖光路12号门口", "building"),
    ("西山镇前进村3组15号", "building"),
    ("幸福小区3号楼", "building"),
    ("幸福小区3栋", "building"),
    ("幸福小区2单元", "building"),
    ("金色家园A座", "building"),
    ("人民路100弄5号", "building"),
    ("湖光路12号3栋", "building"),
    ("湖光路5#", "building"),
    ("中国示例市北城区湖光路十二号", "building"),
    ("火星基地1号", "building"),
    # street
    ("示例市东城区人民路", "street"),
    ("示例市北城区青年路", "street"),
    ("示例县城关镇解放街", "street"),
    ("示例市开发区创业大道", "street"),
    ("南锣鼓巷", "street"),
    ("帽儿胡同", "street"),
    ("人民路100弄", "street"),
    ("京港澳高速示例段K300+300处", "street"),
    ("湖光路与望湖路路口", "street"),
    ("湖光路501室", "street"),  # a room with no building: the street is all that is sure
    ("东关大街附近", "street"),
    # area
    ("示例市北城区望湖街道", "area"),
    ("南城区解放街道", "area"),
    ("示例市高新区科技园", "area"),
    ("示例市郊区城乡结合部", "area"),
    ("西山镇前进村", "area"),
    ("西山镇前进村3组", "area"),
    ("望湖街道花园社区", "area"),
    ("幸福小区", "area"),
    ("幸福小区501室", "area"),  # which building's 501?
    ("示例县", "area"),
    ("火车站附近", "area"),
    ("望湖公园东侧", "area"),
    ("地铁3号线示例站", "area"),  # a metro line number is not a house number
    # none
    ("不详", "none"),
    ("地址不详", "none"),
    ("12号", "none"),
    ("3栋501室", "none"),
    ("路", "none"),
    ("  ，。 ", "none"),
    ("", "none"),
]

ENGLISH = [
    # room
    ("4821 N 22ND ST APT 1414", "room"),
    ("5237 N 35TH ST APT 3,MKE", "room"),
    ("5237 N 35TH ST UNIT 2B", "room"),
    ("5237 N 35TH ST #204", "room"),
    ("100 E WISCONSIN AV SUITE 1200,MKE", "room"),
    ("100 E WISCONSIN AV STE 1200", "room"),
    ("200 N BROADWAY ROOM 12", "room"),
    ("200 N BROADWAY 3RD FL", "room"),
    ("3017-A N 28TH ST,MKE", "room"),
    ("3037A N HOLTON", "room"),
    ("8848-E N 95TH ST,MKE", "room"),
    # building
    ("5237 N 35TH ST,MKE", "building"),
    ("5237 N 35TH ST, MILWAUKEE, WI", "building"),
    ("617 E LOCUST ST,MKE", "building"),
    ("3626 W FOND DU LAC AV", "building"),
    ("9825 W RUBY", "building"),
    ("3930 N 60", "building"),
    ("3323 14TH AV", "building"),
    ("740 N WATER ST.", "building"),
    ("8809 FOLEY RD, CALEDONIA", "building"),
    ("N69W12703 UPTON AVE, MENOMONEE FALLS", "building"),
    ("W180 N8085 TOWN HALL RD, MENOMONEE FALLS", "building"),
    ("５２３７ Ｎ ３５ＴＨ ＳＴ", "building"),
    # street
    ("N 35TH ST / W CENTER ST,MKE", "street"),
    ("N 35TH ST/W CENTER ST", "street"),
    ("84TH AND CONGRESS", "street"),
    ("62ND/LAYTON", "street"),
    ("60/ROOSEVELT", "street"),
    ("1200 N WATER/100 E JUNEAU", "street"),
    ("W VILLARD AV N SHERMAN TO N 68TH ST", "street"),
    ("700-BLK N MILWAUKEE ST,MKE", "street"),
    ("1100 BLK N OLD WORLD 3RD ST", "street"),
    ("4100-BLOCK N 25TH ST,MKE", "street"),
    ("52XX N 35TH ST", "street"),
    ("6100-6400 N 107TH ST,MKE", "street"),
    ("5300 -5600 N 68TH ST", "street"),
    ("N 35TH ST", "street"),
    ("W FOND DU LAC AV,MKE", "street"),
    ("N HOLTON", "street"),
    ("107TH MICHALES CT, MUKWONAGO", "street"),
    ("N 35TH ST APT 3", "street"),  # a flat with no house number
    # area
    ("SHERMAN PARK", "area"),
    ("CALEDONIA, WI", "area"),
    ("CALEDONIA STABLES", "area"),
    ("OAK CREEK POLICE DEPT", "area"),
    # none
    ("SPD", "none"),
    ("D6", "none"),
    ("D3, MKE", "none"),
    ("MCCC,MKE", "none"),
    ("UNKNOWN", "none"),
    ("12345", "none"),
    (",MKE", "none"),
]


@pytest.mark.parametrize(("text", "precision"), CHINESE + ENGLISH, ids=[t or "<empty>" for t, _ in CHINESE + ENGLISH])
def test_precision_of_real_looking_addresses(text: str, precision: str) -> None:
    assert address_precision(text) == precision


def test_the_table_covers_every_precision_in_both_languages() -> None:
    assert {p for _, p in CHINESE} == set(ADDRESS_PRECISIONS) == {p for _, p in ENGLISH}


def test_no_address_is_none() -> None:
    assert address_precision(None) == "none"


def test_the_issue_examples() -> None:
    assert address_precision("示例市东城区人民路") == "street"
    assert address_precision("示例市北城区湖光路12号") == "building"
    assert address_precision("示例市北城区湖光路12号3栋501室") == "room"


@pytest.mark.parametrize("text", [t for t, _ in CHINESE if t.strip(" ，。")])
def test_a_chinese_address_and_its_normalised_form_agree(text: str) -> None:
    # The key is built from the normalised form, so its precision must not depend on the spelling.
    assert address_precision(normalise_address(text)) == address_precision(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60) | st.lists(st.sampled_from(
    ["路", "街道", "号", "栋", "室", "单元", "-", "12", "501", "湖光", "村", " ", "N", "ST", "/", "APT", "#", "A"]))
    .map("".join))
def test_any_text_gets_one_of_the_precisions(text: str) -> None:
    assert address_precision(text) in ADDRESS_PRECISIONS


def test_the_milwaukee_export_is_mostly_building_level_and_intersections_are_streets() -> None:
    with MILWAUKEE.open(newline="") as handle:
        locations = [row["location"] for row in csv.DictReader(handle)]
    got = Counter(address_precision(location) for location in locations)
    assert sum(got.values()) == len(locations) == 24_039
    assert set(got) == set(ADDRESS_PRECISIONS)
    # Intersections ("N 35TH ST / W CENTER ST") are about one call in six; house numbers most of the rest.
    intersections = sum("/" in location for location in locations)
    assert got["street"] >= intersections > len(locations) // 10
    assert got["building"] > len(locations) * 3 // 4
    assert got["room"] + got["area"] + got["none"] < len(locations) // 100
