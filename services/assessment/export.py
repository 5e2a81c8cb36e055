"""A month's ranking as a CSV file and as a printable HTML report (Chinese, or English on request)."""
import csv
import io
from html import escape

from services.assessment.domain.figures import FIGURE_NAMES
from services.assessment.ranking import MonthRanking

LABELS = {
    "zh": {"title": "{scope}{kind}{month}月度考核排名", "rank": "名次", "unit": "单位代码", "name": "名称",
           "county": "区县", "score": "得分", "grade": "等级", "candidate": "枫桥式候选", "red_line": "红线",
           "tied": "并列", "rules": "评分规则", "published": "发布", "revised": "发布后数据已更新（待重新发布）",
           "not_published": "尚未发布", "yes": "是", "no": "", "city": "全市", "unscored": "不参与排名",
           "station": "派出所", "grid": "网格", "officer": "社区民警", "figures": "指标（值：分子/分母）",
           "cohort": "类别", "not_rankable": "数据不足，不参与排名", "reason": "原因", "no_data": "本月无数据",
           "too_little_data": "数据不足的指标", "quality": "数据质量", "calls": "本月警情",
           "without_unit": "未落地到任何派出所的警情", "unknown_code": "未登记的派出所代码", "source": "来源",
           "count": "警情数"},
    "en": {"title": "{kind} ranking of {scope}, {month}", "rank": "Rank", "unit": "Unit", "name": "Name",
           "county": "County", "score": "Score", "grade": "Grade", "candidate": "Fengqiao candidate",
           "red_line": "Red line", "tied": "tied", "rules": "Scoring rules", "published": "Published",
           "revised": "facts changed after publication (to be republished)", "not_published": "not published yet",
           "yes": "yes", "no": "", "city": "the city", "unscored": "not ranked", "station": "Station",
           "grid": "Grid", "officer": "Community officer", "figures": "Figures (value: numerator/denominator)",
           "cohort": "Cohort", "not_rankable": "Not rankable: too little data", "reason": "Reason",
           "no_data": "no data this month", "too_little_data": "figures without enough data",
           "quality": "Data quality", "calls": "Calls this month", "without_unit": "calls placed in no station",
           "unknown_code": "station codes not registered", "source": "Source", "count": "Calls"},
}
CSV_COLUMNS = ["month", "kind", "scope", "rules_version", "cohort", "rank", "unit", "name", "county_code", "score",
               "grade", "candidate", "red_line", "tied_with", "not_rankable", *FIGURE_NAMES]
# A spreadsheet runs a cell that begins with one of these as a formula (CSV injection): such a cell gets
# a leading apostrophe, which spreadsheets show as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _value(figure) -> str:
    return "" if figure.value is None else f"{figure.value:.6g}"


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def ranking_csv(ranking: MonthRanking) -> str:
    """One row per registered unit: the ranked ones by cohort, best first, then those not rankable with the
    reason, every figure's value (empty when it has too little data)."""
    out = io.StringIO()
    # CRLF as RFC 4180 has it: the writer then also quotes a cell holding a bare CR, which with "\n" it
    # left unquoted and a spreadsheet read as a new row (one beginning with whatever followed the CR).
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    month = ranking.month.strftime("%Y-%m")
    for item in ranking.items + ranking.not_rankable:
        r = item.ranked
        writer.writerow([_cell(str(cell)) for cell in (
            month, ranking.kind, ranking.scope, ranking.rules_version, item.unit.cohort or "",
            "" if r.rank is None else r.rank, item.unit.code, item.unit.name or "", item.unit.county_code or "",
            "" if r.score is None else str(r.score), r.grade or "", int(r.candidate), int(r.red_line),
            " ".join(r.tied_with), " ".join([item.reason, *r.not_rankable]) if item.reason else "",
            *(_value(item.figures[name]) for name in FIGURE_NAMES))])
    return out.getvalue()


def _figure_cell(figure) -> str:
    if figure.value is None:
        return "—"
    if figure.numerator is not None and figure.denominator is not None:
        return f"{figure.value:.4g} ({figure.numerator}/{figure.denominator})"
    return f"{figure.value:.4g}"


def _row(cells) -> str:
    return "<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in cells) + "</tr>"


def _head(t: dict, keys) -> str:
    return "".join(f"<th>{escape(t[k])}</th>" for k in keys)


def ranking_report(ranking: MonthRanking, publication: dict | None, lang: str = "zh") -> str:
    """A self-contained printable page: the ranking table and every unit's figures."""
    t = LABELS[lang]
    scope = t["city"] if ranking.scope == "city" else ranking.scope
    title = t["title"].format(scope=scope, kind=t[ranking.kind], month=ranking.month.strftime("%Y-%m"))
    if publication is None:
        status = t["not_published"]
    else:
        status = f"{t['published']} {publication['published_at']} ({publication['publication_id']})"
        if publication["revised"]:
            status += f" — {t['revised']}"
    rows = []
    for item in ranking.items:
        r = item.ranked
        rank = "—" if r.rank is None else f"{r.rank}{' (' + t['tied'] + ')' if r.tied_with else ''}"
        rows.append(_row((item.unit.cohort or "", rank, item.unit.code, item.unit.name or "",
                          item.unit.county_name or item.unit.county_code or "",
                          t["unscored"] if r.score is None else r.score, r.grade or "",
                          t["yes"] if r.candidate else t["no"], t["yes"] if r.red_line else t["no"])))
    apart = [_row((item.unit.code, item.unit.name or "", item.unit.county_name or item.unit.county_code or "",
                   t[item.reason] + ("" if item.reason == "no_data" else ": " + ", ".join(item.ranked.not_rankable))))  # type: ignore[index]
             for item in ranking.not_rankable]
    quality = ranking.data_quality
    unknown = [_row((u.code, u.source, u.calls)) for u in quality.unknown_codes]
    figure_head = "".join(f"<th>{escape(name)}</th>" for name in FIGURE_NAMES)
    figure_rows = "".join(
        f"<tr><td>{escape(item.unit.code)}</td>"
        + "".join(f"<td>{escape(_figure_cell(item.figures[name]))}</td>" for name in FIGURE_NAMES) + "</tr>"
        for item in ranking.items + ranking.not_rankable)
    head = _head(t, ("cohort", "rank", "unit", "name", "county", "score", "grade", "candidate", "red_line"))
    return f"""<!doctype html>
<html lang="{'zh-CN' if lang == 'zh' else 'en'}"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; margin-bottom: 2em; font-size: 10pt; }}
th, td {{ border: 1px solid #888; padding: 2px 6px; text-align: right; }}
th {{ background: #eee; }} td:nth-child(2), td:nth-child(3) {{ text-align: left; }}
@media print {{ body {{ margin: 0; }} table {{ page-break-inside: auto; }} tr {{ page-break-inside: avoid; }} }}
</style></head><body>
<h1>{escape(title)}</h1>
<p>{escape(t['rules'])}: {escape(ranking.rules_version)} · {escape(status)}</p>
<table id="ranking"><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>
<h2>{escape(t['not_rankable'])}</h2>
<table id="not-rankable"><thead><tr>{_head(t, ("unit", "name", "county", "reason"))}</tr></thead>
<tbody>{''.join(apart)}</tbody></table>
<h2>{escape(t['quality'])}</h2>
<p id="quality">{escape(t['calls'])}: {quality.calls} · {escape(t['without_unit'])}: {quality.without_unit}</p>
<table id="unknown-codes"><thead><tr>{_head(t, ("unknown_code", "source", "count"))}</tr></thead>
<tbody>{''.join(unknown)}</tbody></table>
<h2>{escape(t['figures'])}</h2>
<table id="figures"><thead><tr><th>{escape(t['unit'])}</th>{figure_head}</tr></thead><tbody>{figure_rows}</tbody></table>
</body></html>
"""
