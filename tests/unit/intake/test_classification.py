"""Classification of 110 dispatch records: realistic descriptions, code precedence, crime types, rules as data."""
import pathlib
import unicodedata

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.domain.classification import (
    DEFAULT_RULES,
    DISPUTE_TYPES,
    KINDS,
    RISK_FLAGS,
    Classification,
    Classifier,
    _normalise,
)
from shared.events.intake import CRIME_TYPES

W, T, S, DV = "weapon", "threat", "self_harm", "domestic_violence"


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    """The shipped rules."""
    return Classifier.load()


# (description, kind, dispute type, risk flags); the category code is unknown (None) throughout,
# so every expectation here rests on the keyword rules alone.
CASES = [
    # neighbour
    ("楼上邻居装修噪音太大，双方发生争吵", "dispute", "neighbour", set()),
    ("楼上卫生间漏水到楼下，协商赔偿未果", "dispute", "neighbour", set()),
    ("隔壁住户深夜唱歌扰民，报警人多次敲门无果", "dispute", "neighbour", set()),
    ("邻居在楼道堆放杂物，双方发生口角", "dispute", "neighbour", set()),
    ("对门邻居家的狗叫了一整夜，报警人与其理论后发生推搡", "dispute", "neighbour", set()),
    ("男子持菜刀扬言要砍邻居", "dispute", "neighbour", {W, T}),
    ("广场舞音响声音太大，附近居民与跳舞人员发生争执", "dispute", "neighbour", set()),
    ("楼下饭店油烟影响楼上住户，双方争吵", "dispute", "neighbour", set()),
    ("邻里之间因噪声问题多次报警，今晚再次发生争执", "dispute", "neighbour", set()),
    # family
    ("丈夫酒后殴打妻子，妻子报警称遭家暴", "dispute", "family", {DV}),
    ("夫妻因琐事吵架，妻子要求离婚", "dispute", "family", set()),
    ("婆媳因带孩子问题发生矛盾，儿媳情绪激动", "dispute", "family", set()),
    ("兄弟三人因老人赡养问题发生纠纷", "dispute", "family", set()),
    ("女子称被丈夫打伤，身上多处淤青", "dispute", "family", {DV}),
    ("男子因彩礼问题与女方家人发生争吵", "dispute", "family", set()),
    ("妻子称不想活了要喝农药，与丈夫因离婚问题争吵", "dispute", "family", {S}),
    ("儿子酒后殴打母亲，邻居报警", "dispute", "family", {DV}),
    ("前夫到女方住处闹事，争夺孩子抚养权", "dispute", "family", set()),
    ("妻子与丈夫打电话时发生争吵", "dispute", "family", set()),
    # labour
    ("工地包工头拖欠工资三个月，工人聚集讨薪", "dispute", "labour", set()),
    ("饭店服务员称老板拒发工资，双方发生争执", "dispute", "labour", set()),
    ("男子被公司辞退后索要加班费未果", "dispute", "labour", set()),
    ("农民工讨要工钱，扬言不给钱就跳楼", "dispute", "labour", {T, S}),
    ("工人在工地受伤，与老板就工伤赔偿产生纠纷", "dispute", "labour", set()),
    ("快递员称公司未缴社保，与站点负责人争吵", "dispute", "labour", set()),
    ("十余名工人堵在公司门口讨薪，情绪激动", "dispute", "labour", set()),
    # property management
    ("业主拒交物业费，与物业工作人员发生冲突", "dispute", "property_management", set()),
    ("小区电梯多次故障，业主与物业公司争吵", "dispute", "property_management", set()),
    ("小区保安不让外来车辆进入，车主与保安发生口角", "dispute", "property_management", set()),
    ("业主车位被占，物业不作为，业主情绪激动", "dispute", "property_management", set()),
    ("冬季暖气不热，居民到物业办公室讨说法", "dispute", "property_management", set()),
    # consumer
    ("顾客在商场购买的衣服有质量问题，商家拒绝退货", "dispute", "consumer", set()),
    ("在健身房办卡后健身房跑路，会员要求退款", "dispute", "consumer", set()),
    ("饭店吃饭后称被宰客，与店主发生争执", "dispute", "consumer", set()),
    ("乘客与出租车司机因车费发生争执", "dispute", "consumer", set()),
    ("网购商品收到假货，商家拒不退款", "dispute", "consumer", set()),
    ("美容院办卡充值后无法消费，要求退费", "dispute", "consumer", set()),
    ("刀削面馆顾客与店家因价格发生争执", "dispute", "consumer", set()),
    # land
    ("两户村民因宅基地地界问题发生争吵", "dispute", "land", set()),
    ("村民因承包地边界与邻村村民发生纠纷", "dispute", "land", set()),
    ("邻居建房占用自家宅基地，双方推搡", "dispute", "land", set()),
    ("村民称他人放水淹了自家庄稼，要求赔偿", "dispute", "land", set()),
    ("村民因征地拆迁补偿款分配发生争执", "dispute", "land", set()),
    ("男子持锄头在田埂上与人争执，扬言要打死对方", "dispute", "land", {W, T}),
    # traffic damage
    ("两车在路口发生剐蹭，双方就赔偿问题争执不下", "dispute", "traffic_damage", set()),
    ("电动车与轿车追尾，无人受伤，车主要求修车费", "dispute", "traffic_damage", set()),
    ("倒车时碰到停放车辆，双方协商不成", "dispute", "traffic_damage", set()),
    ("小区内车辆刮蹭后对方拒绝赔偿", "dispute", "traffic_damage", set()),
    # debt
    ("朋友借钱两年不还，报警人上门讨债发生争吵", "dispute", "debt", set()),
    ("男子称对方欠款十万元拒不归还，持有欠条", "dispute", "debt", set()),
    ("供货商上门索要货款，与店主发生冲突", "dispute", "debt", set()),
    ("放高利贷人员上门催债，扬言要报复", "dispute", "debt", {T}),
    # dispute of no listed type
    ("两名男子在街头因琐事发生口角", "dispute", "other", set()),
    ("房东扣押金不退，租客报警", "dispute", "other", set()),
    # crime
    ("报警人称家中被盗，丢失现金五千元", "crime", None, set()),
    ("男子在公交车上扒窃乘客手机被抓获", "crime", None, set()),
    ("老人接到冒充公检法电话被骗十万元", "crime", None, set()),
    ("两名男子持刀抢劫路边商铺", "crime", None, {W}),
    ("有人在出租屋内聚众赌博", "crime", None, set()),
    ("男子持刀砍伤邻居后逃离现场", "crime", None, {W}),
    ("网友称遭遇杀猪盘诈骗，损失二十万元", "crime", None, set()),
    ("夜间有人撬门入室盗窃", "crime", None, set()),
    # help
    ("一名七旬老人走失，家属请求民警帮助寻找", "help", None, set()),
    ("报警人钥匙锁在屋内，请求开锁", "help", None, set()),
    ("小区电梯困人，一名儿童被困", "help", None, set()),
    ("男子醉酒倒地，路人求助", "help", None, set()),
    ("小孩在商场与家人走散", "help", None, set()),
    ("女子站在楼顶称要跳楼，家属求助", "help", None, {S}),
    ("报警人称钱包遗失在出租车上", "help", None, set()),
    # traffic
    ("早高峰路口交通堵塞，请求交警疏导", "traffic", None, set()),
    ("一辆货车侧翻，造成道路拥堵", "traffic", None, set()),
    ("小区门口车辆违停挡住出口，报警人请求挪车", "traffic", None, set()),
    ("路口发生交通事故，一人受伤", "traffic", None, set()),
    ("疑似酒驾司机在路上蛇形行驶", "traffic", None, set()),
    # other
    ("报警人称家门口有可疑人员徘徊", "other", None, set()),
    ("有人在小区内燃放烟花", "other", None, set()),
    ("报警人咨询户口办理事宜", "other", None, set()),
    ("报警人称手机里循环播放刀郎的歌", "other", None, set()),
    ("市民反映路灯不亮", "other", None, set()),
]


def test_the_table_is_broad() -> None:
    """At least 60 descriptions, covering every kind and every dispute type."""
    assert len(CASES) >= 60
    assert {kind for _, kind, _, _ in CASES} == set(KINDS)
    assert {dtype for _, _, dtype, _ in CASES if dtype} == set(DISPUTE_TYPES)


@pytest.mark.parametrize(("description", "kind", "dispute_type", "flags"), CASES,
                         ids=[case[0][:14] for case in CASES])
def test_realistic_descriptions(classifier: Classifier, description: str, kind: str,
                                dispute_type: str | None, flags: set[str]) -> None:
    result = classifier.classify(category=None, description=description)
    got = (result.kind, result.dispute_type, set(result.risk_flags))
    assert got == (kind, dispute_type, flags), result.matched
    assert 0.3 <= result.confidence <= 0.7  # keywords alone never reach a pattern or what the code can


def test_matched_names_the_rules_that_fired(classifier: Classifier) -> None:
    result = classifier.classify(category="dispute.neighbour", description="楼上漏水，男子持菜刀上门")
    assert result.matched == ("code:dispute.neighbour", "keyword:neighbour:漏水", "keyword:neighbour:楼上",
                              "risk:weapon:菜刀")
    assert result == Classification("dispute", "neighbour", None, frozenset({"weapon"}), 0.95, "classification.v3",
                                    result.matched)


def test_code_wins_over_text_for_the_kind(classifier: Classifier) -> None:
    result = classifier.classify(category="crime", description="楼上邻居装修噪音太大，双方发生争吵")
    assert (result.kind, result.dispute_type, result.confidence) == ("crime", None, 0.8)
    assert "code:crime" in result.matched and "keyword:neighbour:噪音" in result.matched


def test_code_type_wins_over_keyword_type(classifier: Classifier) -> None:
    disagree = classifier.classify(category="dispute.labour", description="楼上漏水，邻居吵架")
    agree = classifier.classify(category="dispute.labour", description="包工头拖欠工资")
    assert (disagree.dispute_type, disagree.confidence) == ("labour", 0.9)
    assert (agree.dispute_type, agree.confidence) == ("labour", 0.95)


@pytest.mark.parametrize(("category", "kind"), [("help", "help"), ("traffic", "traffic"), ("crime", "crime")])
def test_non_dispute_codes_decide_the_kind(classifier: Classifier, category: str, kind: str) -> None:
    result = classifier.classify(category=category, description="情况不明")
    assert (result.kind, result.dispute_type, result.confidence) == (kind, None, 0.8)


def test_plain_dispute_code_takes_the_type_from_keywords(classifier: Classifier) -> None:
    typed = classifier.classify(category="dispute", description="两户村民因宅基地地界争吵")
    untyped = classifier.classify(category="dispute", description="双方情绪激动")
    assert (typed.kind, typed.dispute_type, typed.confidence) == ("dispute", "land", 0.9)
    assert (untyped.kind, untyped.dispute_type, untyped.confidence) == ("dispute", "other", 0.8)


def test_domestic_violence_implies_family_unless_the_code_names_a_type(classifier: Classifier) -> None:
    text = "因欠款问题争吵，丈夫殴打妻子"
    assert classifier.classify(category="dispute", description=text).dispute_type == "family"
    assert classifier.classify(category=None, description=text).dispute_type == "family"
    coded = classifier.classify(category="dispute.debt", description=text)
    assert (coded.dispute_type, coded.risk_flags) == ("debt", frozenset({"domestic_violence"}))


@pytest.mark.parametrize("category", [None, "other", "UNMAPPED-0417", "", "  "])
def test_unknown_or_other_code_lets_keywords_decide(classifier: Classifier, category: str | None) -> None:
    result = classifier.classify(category=category, description="业主拒交物业费与物业争吵")
    assert (result.kind, result.dispute_type) == ("dispute", "property_management")
    assert not any(m.startswith("code:") for m in result.matched)
    nothing = classifier.classify(category=category, description="情况不明")
    assert (nothing.kind, nothing.dispute_type, nothing.confidence) == ("other", None, 0.3)
    assert nothing.matched == ()


def test_category_text_counts_like_description(classifier: Classifier) -> None:
    result = classifier.classify(category=None, description=None, category_text="邻里纠纷")
    assert (result.kind, result.dispute_type) == ("dispute", "neighbour")


def test_keyword_confidence_grows_with_hits_and_is_capped(classifier: Classifier) -> None:
    one = classifier.classify(category=None, description="邻居来了")
    two = classifier.classify(category=None, description="邻居家漏水")
    many = classifier.classify(category=None, description="楼上邻居装修噪音漏水扰民，双方争吵")
    assert (one.confidence, two.confidence, many.confidence) == (0.5, 0.6, 0.7)
    # A dispute on one keyword is marked for a person's review; two suffice.
    assert (one.needs_review, two.needs_review, many.needs_review) == (True, False, False)


def test_longer_keyword_consumes_its_text(classifier: Classifier) -> None:
    result = classifier.classify(category=None, description="拒交物业费")
    assert result.matched == ("keyword:property_management:物业费",)


def test_repeat_caller_never_comes_from_the_text(classifier: Classifier) -> None:
    # The caller's history decides it (domain/triage.py), never a word.
    assert classifier.classify(category="dispute.neighbour", description="又是楼上噪音").risk_flags == frozenset()
    assert classifier.classify(category=None, description="重复报警 repeat_caller").risk_flags == frozenset()


def test_category_code_is_trimmed_and_case_folded(classifier: Classifier) -> None:
    assert classifier.classify(category=" Dispute.Neighbour ", description=None).dispute_type == "neighbour"


def test_rules_version_comes_from_the_file(classifier: Classifier) -> None:
    version = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))["version"]
    assert version == "classification.v3"
    assert classifier.classify(category=None, description="").rules_version == version


# (description, crime type) with no code: the kind is crime from the keywords, the type from the
# crime_types table.
CRIME_CASES = [
    ("男子持刀杀人后逃离现场", "homicide"),
    ("村民发现命案现场，一人死亡", "homicide"),
    ("男子持刀将一名路人杀害", "homicide"),
    ("男子持刀砍伤邻居后逃离现场", "injury"),
    ("双方因琐事争执，一方持刀捅伤对方", "injury"),
    ("酒后故意伤害他人，致一人轻伤", "injury"),
    ("有人在楼道内纵火，火势已被扑灭", "arson"),
    ("夜间有人放火烧毁村民柴垛", "arson"),
    ("男子往邻居家水缸内投毒", "poisoning"),
    ("两名男子持刀抢劫路边商铺", "robbery"),
    ("夜间有人入室抢劫，事主受惊", "robbery"),  # 抢劫 and 入室 tie: robbery is listed first
    ("骑车抢夺行人手机后逃跑", "robbery"),
    ("报警人称家中被盗，丢失现金五千元", "theft"),
    ("男子在公交车上扒窃乘客手机被抓获", "theft"),
    ("夜间有人撬门入室盗窃", "theft"),
    ("老人接到冒充公检法电话被骗十万元", "fraud"),
    ("网友称遭遇杀猪盘诈骗，损失二十万元", "fraud"),  # 杀猪 is ignored: no homicide
    ("女子称在出租车上被司机猥亵", "sexual"),
    ("有人在出租屋内聚众赌博", "other"),
    ("报警人称有人在小区内吸毒", "other"),
]


def test_the_crime_table_covers_every_crime_type() -> None:
    assert {crime for _, crime in CRIME_CASES} == set(CRIME_TYPES)


@pytest.mark.parametrize(("description", "crime_type"), CRIME_CASES, ids=[case[0][:14] for case in CRIME_CASES])
def test_a_crime_gets_its_type_from_the_text(classifier: Classifier, description: str, crime_type: str) -> None:
    result = classifier.classify(category=None, description=description)
    assert (result.kind, result.crime_type, result.dispute_type) == ("crime", crime_type, None), result.matched


@pytest.mark.parametrize("crime_type", CRIME_TYPES[:-1])
def test_a_typed_crime_code_names_the_type_whatever_the_text(classifier: Classifier, crime_type: str) -> None:
    result = classifier.classify(category=f"Crime.{crime_type} ", description="报警人称家中被盗")
    assert (result.kind, result.crime_type, result.dispute_type) == ("crime", crime_type, None)
    assert result.matched[0] == f"code:crime.{crime_type}"
    assert not any(m.startswith("crime:") for m in result.matched)  # the code decided; no keywords read
    assert result.confidence == 0.9  # the code's kind, and 被盗 agrees: the type does not change confidence


def test_a_plain_crime_code_takes_the_type_from_the_text(classifier: Classifier) -> None:
    typed = classifier.classify(category="crime", description="邻里纠纷中一方持刀砍伤对方")
    untyped = classifier.classify(category="crime", description="情况不明")
    assert (typed.kind, typed.crime_type) == ("crime", "injury")
    assert "crime:injury:砍伤" in typed.matched
    assert (untyped.kind, untyped.crime_type) == ("crime", "other")


def test_only_a_crime_has_a_crime_type(classifier: Classifier) -> None:
    # 打伤 names injury, but neighbours coming to blows stay a dispute when nothing else says crime.
    fight = classifier.classify(category=None, description="邻居之间发生争吵，男子打伤对方")
    assert (fight.kind, fight.crime_type) == ("dispute", None)
    coded = classifier.classify(category="dispute.neighbour", description="男子持刀砍伤邻居")
    assert (coded.kind, coded.crime_type) == ("dispute", None)
    assert classifier.classify(category="help", description="家中被盗").crime_type is None


def test_most_crime_hits_win_and_a_tie_goes_to_the_type_listed_first(classifier: Classifier) -> None:
    # Two theft words against one robbery word: theft; one each: robbery, listed before theft.
    assert classifier.classify(category="crime", description="小偷入室后抢劫").crime_type == "theft"
    assert classifier.classify(category="crime", description="入室抢劫").crime_type == "robbery"
    # A longer keyword consumes its text: 殴打致伤 counts once for injury, not again as 致伤.
    result = classifier.classify(category="crime", description="殴打致伤")
    assert [m for m in result.matched if m.startswith("crime:")] == ["crime:injury:殴打致伤"]


def _write(tmp_path: pathlib.Path, rules: dict) -> pathlib.Path:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_custom_rules_file_changes_behaviour(tmp_path: pathlib.Path, classifier: Classifier) -> None:
    rules = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))
    rules["version"] = "classification.test9"
    rules["dispute_types"]["neighbour"].append("奶茶")
    rules["dispute_types"]["consumer"].append("奶茶")
    text = "奶茶"
    assert classifier.classify(category=None, description=text).kind == "other"
    custom = Classifier.load(_write(tmp_path, rules)).classify(category=None, description=text)
    assert (custom.kind, custom.dispute_type) == ("dispute", "neighbour")
    assert custom.rules_version == "classification.test9"
    assert custom.matched == ("keyword:neighbour:奶茶", "keyword:consumer:奶茶")
    # The file's order breaks ties: put consumer first and it wins.
    rules["dispute_types"] = {"consumer": rules["dispute_types"].pop("consumer"), **rules["dispute_types"]}
    reordered = Classifier.load(_write(tmp_path, rules))
    assert reordered.classify(category=None, description=text).dispute_type == "consumer"


@pytest.mark.parametrize(("section", "value"), [
    ("version", ""),
    ("dispute_types", {"pets": ["猫"]}),
    ("risk_flags", {"weapon": "刀"}),
    ("codes", {"dispute.x": {"kind": "dispute", "type": "pets"}}),
    ("confidence", {"nothing": 0.3}),
    ("kind_order", ["crime", "dispute"]),
    ("crime_types", {"other": ["案"]}),
    ("crime_types", {"burglary": ["入室"]}),
    ("codes", {"crime.x": {"kind": "crime", "type": "neighbour"}}),
    ("codes", {"dispute.x": {"kind": "dispute", "type": "theft"}}),
    ("codes", {"help.x": {"kind": "help", "type": "theft"}}),
])
def test_bad_rules_fail_at_load(tmp_path: pathlib.Path, section: str, value: object) -> None:
    rules = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))
    rules[section] = value
    with pytest.raises(ValueError, match=section):
        Classifier.load(_write(tmp_path, rules))


CODES = st.sampled_from(["dispute", "crime", "help", "traffic", "other", "dispute.other"]
                        + [f"dispute.{t}" for t in DISPUTE_TYPES] + [f"crime.{t}" for t in CRIME_TYPES[:-1]])
KEYWORDY = st.sampled_from(["刀", "菜刀", "邻居", "家暴", "物业费", "盗窃", "走失", "堵车", "跳楼", "刀郎", "\x00", " ",
                            "抢劫", "打伤", "致死", "入室"])


@settings(max_examples=300, deadline=None)
@given(category=st.none() | st.text(max_size=30) | CODES,
       description=st.none() | st.text(max_size=200) | st.lists(KEYWORDY | st.text(max_size=5)).map("".join),
       category_text=st.none() | st.text(max_size=50))
def test_classify_never_raises_and_stays_in_the_enums(classifier: Classifier, category: str | None,
                                                      description: str | None, category_text: str | None) -> None:
    result = classifier.classify(category=category, description=description, category_text=category_text)
    assert result.kind in KINDS
    assert (result.dispute_type in DISPUTE_TYPES) if result.kind == "dispute" else result.dispute_type is None
    assert result.risk_flags <= set(RISK_FLAGS)
    assert "repeat_caller" not in result.risk_flags
    assert 0.0 <= result.confidence <= 1.0
    assert (result.crime_type in CRIME_TYPES) if result.kind == "crime" else result.crime_type is None
    assert result.rules_version == "classification.v3"
    assert all(isinstance(m, str) for m in result.matched)


def test_a_longer_keyword_consumes_its_text_across_types(classifier: Classifier) -> None:
    result = classifier.classify(category=None, description="追尾后对方不肯出修车费")
    assert result.dispute_type == "traffic_damage"
    assert not any(m.startswith("keyword:consumer:") for m in result.matched)


# The fast matching against a straightforward reference: the classifier as it was before keyword
# lookup was compiled, checking every keyword of a table against every text.
def _reference_hits(text: str, table: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {name: [] for name in table}
    for word in sorted(dict.fromkeys(w for words in table.values() for w in words), key=len, reverse=True):
        if word in text:
            for name, words in table.items():
                if word in words:
                    found[name].append(word)
            text = text.replace(word, "\x00")
    return {name: sorted(hits, key=table[name].index) for name, hits in found.items()}


def _reference_classify(self: Classifier, *, category: str | None, description: str | None,
                        category_text: str | None = None) -> Classification:
    """The Chinese rules only: texts with Latin letters are left to test_english_rules.py."""
    text = unicodedata.normalize("NFKC", f"{description or ''}\n{category_text or ''}").lower()
    for phrase in self._ignore:
        text = text.replace(phrase, "\x00")
    key = unicodedata.normalize("NFKC", category.strip()).lower() if isinstance(category, str) else None
    code = self._codes.get(key) if key else None
    found = _reference_hits(text, {**self._kinds, "dispute": self._generic, **self._types})
    kind_hits = {k: found[k] for k in self._kinds}
    generic, type_hits = found["dispute"], {t: found[t] for t in self._types}
    risk_hits = _reference_hits(text, self._risks)
    crime_hits = {t: [] for t in self._crime_types}
    flags = {f for f, hits in risk_hits.items() if hits}
    implied = next((t for f, t in self._implies.items() if f in flags), None)
    counts = {k: len(hits) for k, hits in kind_hits.items()}
    counts["dispute"] = len(generic) + sum(map(len, type_hits.values())) + sum(
        len(risk_hits[f]) for f in self._implies if f in flags)
    best_kind = max(self._kind_order, key=lambda k: counts.get(k, 0))
    best_kind = best_kind if counts.get(best_kind, 0) else None
    best_type = max(type_hits, key=lambda t: len(type_hits[t]), default=None)
    best_type = best_type if best_type and type_hits[best_type] else None
    kind, code_type, code_crime = code if code else (best_kind or "other", None, None)
    dispute_type = (code_type or implied or best_type or "other") if kind == "dispute" else None
    crime_type = None
    if kind == "crime" and code_crime:
        crime_type = code_crime
    elif kind == "crime":
        crime_hits = _reference_hits(text, self._crime_types)
        best_crime = max(crime_hits, key=lambda t: len(crime_hits[t]), default=None)  # max keeps the first
        crime_type = best_crime if best_crime and crime_hits[best_crime] else "other"
    c = self._conf
    if code_type:
        confidence = c["code_type_agree"] if best_type == code_type else c["code_type"]
    elif code:
        confidence = c["code_kind_agree"] if best_kind == kind else c["code_kind"]
    elif best_kind:
        confidence = min(c["keywords_max"], c["keywords_base"] + c["keywords_step"] * (counts[kind] - 1))
    else:
        confidence = c["nothing"]
    confidence = round(max(0.0, min(1.0, confidence)), 4)
    needs_review = kind == "dispute" and code is None and confidence < c["review_below"]
    matched = [f"code:{key}"] if code else []
    matched += [f"keyword:{k}:{w}" for k, hits in kind_hits.items() for w in hits]
    matched += [f"keyword:dispute:{w}" for w in generic]
    matched += [f"keyword:{t}:{w}" for t, hits in type_hits.items() for w in hits]
    matched += [f"crime:{t}:{w}" for t, hits in crime_hits.items() for w in hits]
    matched += [f"risk:{f}:{w}" for f, hits in risk_hits.items() for w in hits]
    return Classification(kind, dispute_type, crime_type, frozenset(flags), confidence, self.version,
                          tuple(matched), needs_review)


_SHIPPED = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))
# The shipped rules without the English section: what _reference_classify models. The English rules
# are tested on their own (test_english_rules.py); here random text must not wander into them.
CHINESE_ONLY = Classifier({**_SHIPPED, "english": {}})
_RULE_WORDS = sorted({w for section in ("kinds", "dispute_types", "risk_flags", "crime_types")
                      for ws in _SHIPPED[section].values()
                      for w in ws} | set(_SHIPPED["dispute_generic"]) | set(_SHIPPED["ignore"]))
# Fillers: separators, _GAP itself, full-width forms, a combining mark, and characters that start keywords.
_FILLER = st.sampled_from(list("，：；（）！？。、 \n\x001１\u0301") + sorted({w[0] for w in _RULE_WORDS}))
RULE_TEXT = st.lists(st.sampled_from(_RULE_WORDS) | _FILLER | st.text(max_size=3), max_size=25).map("".join)


@settings(max_examples=500, deadline=None)
@given(text=RULE_TEXT)
def test_compiled_tables_find_what_checking_every_keyword_finds(classifier: Classifier, text: str) -> None:
    main = {**classifier._kinds, "dispute": classifier._generic, **classifier._types}
    assert classifier._main.hits(text) == _reference_hits(text, main)
    assert classifier._risk.hits(text) == _reference_hits(text, classifier._risks)
    assert classifier._crime.hits(text) == _reference_hits(text, classifier._crime_types)


@settings(max_examples=500, deadline=None)
@given(category=st.none() | CODES | st.text(max_size=10), description=st.none() | RULE_TEXT,
       category_text=st.none() | RULE_TEXT)
def test_classify_matches_the_reference(category: str | None, description: str | None,
                                       category_text: str | None) -> None:
    args = dict(category=category, description=description, category_text=category_text)
    assert CHINESE_ONLY.classify(**args) == _reference_classify(CHINESE_ONLY, **args)


# Rules over a four-letter alphabet (and _GAP) so that keywords overlap, contain each other, repeat
# across groups and hold _GAP, and ignored phrases overlap keywords and each other.
TINY_WORDS = st.lists(st.text("abcd\x00", min_size=1, max_size=4), min_size=1, max_size=6)


@settings(max_examples=500, deadline=None)
@given(data=st.data(), ignore=st.lists(st.text("abcd\x00", min_size=1, max_size=3), max_size=4),
       text=st.text("abcde\x00", max_size=40))
def test_overlapping_rules_match_the_reference(data: st.DataObject, ignore: list[str], text: str) -> None:
    def groups(names: tuple[str, ...]) -> dict[str, list[str]]:
        chosen = data.draw(st.lists(st.sampled_from(names), unique=True, max_size=4))
        return {name: data.draw(TINY_WORDS) for name in chosen}

    rules = {**_SHIPPED, "english": {}, "ignore": ignore, "kinds": groups(("crime", "help", "traffic")),
             "dispute_generic": data.draw(st.none() | TINY_WORDS), "dispute_types": groups(DISPUTE_TYPES),
             "risk_flags": groups(RISK_FLAGS[:-1]), "crime_types": groups(CRIME_TYPES[:-1]),
             "kind_order": data.draw(st.permutations(
                 ["crime", "help", "traffic", "dispute"]))}
    rules["implies"] = {f: t for f, t in _SHIPPED["implies"].items() if f in rules["risk_flags"]}
    fast = Classifier(rules)
    for table, matcher in (({**fast._kinds, "dispute": fast._generic, **fast._types}, fast._main),
                           (fast._risks, fast._risk), (fast._crime_types, fast._crime)):
        assert matcher.hits(text) == _reference_hits(text, table)
    args = dict(category=data.draw(st.none() | CODES), description=text, category_text=None)
    assert fast.classify(**args) == _reference_classify(fast, **args)


@settings(max_examples=500, deadline=None)
@given(text=st.text(st.sampled_from("，：；（）！？,:Ａａ\u0301\u0327\u3000 e邻") | st.characters(), max_size=30))
def test_normalising_is_nfkc_and_lower_case(text: str) -> None:
    assert _normalise(text) == unicodedata.normalize("NFKC", text).lower()


@pytest.mark.parametrize(("ignore", "generic", "text", "matched"), [
    (["bc", "ab"], ["a", "c"], "abc", ("keyword:dispute:a",)),  # file order: bc goes first and leaves the a
    (["ab", "bc"], ["a", "c"], "abc", ("keyword:dispute:c",)),
    (["ab", "\x00c"], ["c"], "abc", ()),  # blanking ab makes the second phrase
    ([], ["ab", "\x00c"], "abc", ("keyword:dispute:ab", "keyword:dispute:\x00c")),  # ...or a keyword
])
def test_blanking_order_and_gaps_match_the_reference(ignore: list[str], generic: list[str], text: str,
                                                      matched: tuple[str, ...]) -> None:
    fast = Classifier({**_SHIPPED, "english": {}, "ignore": ignore, "dispute_generic": generic})
    args = dict(category=None, description=text, category_text=None)
    assert fast.classify(**args).matched == matched
    assert fast.classify(**args) == _reference_classify(fast, **args)
