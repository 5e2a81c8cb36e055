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
           "station": "派出所", "grid": "网格", "officer": "社区民警", "figures": "指标（值：分子/分母）"},
    "en": {"title": "{kind} ranking of {scope}, {month}", "rank": "Rank", "unit": "Unit", "name": "Name",
           "county": "County", "score": "Score", "grade": "Grade", "candidate": "Fengqiao candidate",
           "red_line": "Red line", "tied": "tied", "rules": "Scoring rules", "published": "Published",
           "revised": "facts changed after publication (to be republished)", "not_published": "not published yet",
           "yes": "yes", "no": "", "city": "the city", "unscored": "not ranked", "station": "Station",
           "grid": "Grid", "officer": "Community officer", "figures": "Figures (value: numerator/denominator)"},
}
CSV_COLUMNS = ["month", "kind", "scope", "rules_version", "rank", "unit", "name", "county_code", "score", "grade",
               "candidate", "red_line", "tied_with", *FIGURE_NAMES]


def _value(figure) -> str:
    return "" if figure.value is None else f"{figure.value:.6g}"


def ranking_csv(ranking: MonthRanking) -> str:
    """One row per unit, best first, with every figure's value (empty when not rankable)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    month = ranking.month.strftime("%Y-%m")
    for item in ranking.items:
        r = item.ranked
        writer.writerow([month, ranking.kind, ranking.scope, ranking.rules_version,
                         "" if r.rank is None else r.rank, item.unit.code, item.unit.name or "",
                         item.unit.county_code or "", "" if r.score is None else str(r.score), r.grade or "",
                         int(r.candidate), int(r.red_line), " ".join(r.tied_with),
                         *(_value(item.figures[name]) for name in FIGURE_NAMES)])
    return out.getvalue()


def _figure_cell(figure) -> str:
    if figure.value is None:
        return "—"
    if figure.numerator is not None and figure.denominator is not None:
        return f"{figure.value:.4g} ({figure.numerator}/{figure.denominator})"
    return f"{figure.value:.4g}"


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
        rows.append("<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in (
            rank, item.unit.code, item.unit.name or "", item.unit.county_name or item.unit.county_code or "",
            t["unscored"] if r.score is None else r.score, r.grade or "",
            t["yes"] if r.candidate else t["no"], t["yes"] if r.red_line else t["no"])) + "</tr>")
    figure_head = "".join(f"<th>{escape(name)}</th>" for name in FIGURE_NAMES)
    figure_rows = "".join(
        f"<tr><td>{escape(item.unit.code)}</td>"
        + "".join(f"<td>{escape(_figure_cell(item.figures[name]))}</td>" for name in FIGURE_NAMES) + "</tr>"
        for item in ranking.items)
    head = "".join(f"<th>{escape(t[k])}</th>" for k in ("rank", "unit", "name", "county", "score", "grade",
                                                          "candidate", "red_line"))
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
<h2>{escape(t['figures'])}</h2>
<table id="figures"><thead><tr><th>{escape(t['unit'])}</th>{figure_head}</tr></thead><tbody>{figure_rows}</tbody></table>
</body></html>
"""
