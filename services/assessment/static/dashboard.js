// The assessment dashboard: rankings, each unit's score breakdown and trend, drawn as inline SVG.
// Reads GET /v1/rankings, /v1/scorecards/{kinds}/{code} and /v1/trends/{kinds}/{code} with a bearer
// token taken from the URL fragment (#token=...&month=YYYY-MM&kind=station&county=...) or a form.
"use strict";

const TOKEN_KEY = "fengqiao.assessment.token";
const LANG_KEY = "fengqiao.assessment.lang";
const SVG_NS = "http://www.w3.org/2000/svg";
const TREND_MONTHS = 6;

// Each text in Simplified Chinese (the default) and English.
const TEXT = {
  title: ["枫桥经验 · 月度考核看板", "Fengqiao · monthly assessment"],
  sign_out: ["退出", "Sign out"], sign_in: ["进入", "Open"], token: ["访问令牌", "Access token"],
  token_help: ["请输入访问令牌（所长或审计角色）。令牌只保存在本标签页中。",
    "Enter an access token (station chief or auditor). It is kept in this tab only."],
  month: ["月份", "Month"], kind: ["类别", "Kind"], county: ["区县", "County"], whole_city: ["全市", "Whole city"],
  kind_station: ["派出所", "Stations"], kind_grid: ["网格", "Grids"], kind_officer: ["民警", "Officers"],
  ranking: ["排名", "Ranking"], score_by_unit: ["各单位得分", "Score by unit"],
  breakdown: ["得分构成", "Score breakdown"], trend: ["近六个月得分", "Last six months"], figures: ["指标明细", "Figures"],
  col_rank: ["排名", "Rank"], col_unit: ["单位代码", "Unit code"], col_name: ["名称", "Name"],
  col_score: ["得分", "Score"], col_grade: ["等级", "Grade"], col_candidate: ["候选", "Candidate"],
  col_red_line: ["红线", "Red line"], col_ties: ["并列", "Ties"], col_figure: ["指标", "Figure"],
  col_value: ["数值", "Value"], col_sample: ["分子 / 分母", "Numerator / denominator"],
  no_units: ["本月没有可考核的单位。", "No units to assess this month."], loading: ["加载中…", "Loading…"],
  tied: ["并列", "Tied"], red_line: ["红线", "Red line"], candidate: ["枫桥式候选", "Fengqiao-style candidate"],
  unscored: ["无得分", "Not scored"], not_rankable: ["样本不足，不计分", "Sample too small: not scored"],
  value: ["数值", "value"], percentile: ["百分位", "percentile"], weight_share: ["权重", "weight"], points: ["分", "pts"],
  published: ["已发布", "Published"], revised: ["已修订", "Revised"], rules: ["评分规则", "Rules"], scope: ["范围", "Scope"],
  bad_token: ["令牌无效或已过期，请重新输入。", "The token is invalid or has expired: enter it again."],
  forbidden: ["该令牌无权查看考核数据（需要所长或审计角色）。",
    "This token may not read assessments (station chief or auditor needed)."],
  failed: ["请求失败", "Request failed"], no_name: ["（未登记名称）", "(no registered name)"],
  unit_month: ["月份", "Month"], no_trend: ["暂无趋势数据", "No trend data"],
  col_cohort: ["同类组", "Cohort"], col_reason: ["原因", "Reason"], col_source: ["来源", "Source"],
  col_calls: ["警情数", "Calls"], col_unknown_code: ["未登记的派出所代码", "Station code not registered"],
  not_rankable_units: ["数据不足、不参与排名的单位", "Units not ranked: too little data"],
  no_data: ["本月无数据", "no data this month"], too_little_data: ["数据不足：", "too little data: "],
  data_quality: ["数据质量", "Data quality"], calls: ["本月警情", "Calls this month"],
  without_unit: ["未落地到任何派出所", "placed in no station"],
  target: ["目标", "target"], floor: ["底线", "floor"], pass_at: ["达标线", "pass mark"],
  attainment: ["达成", "attained"], chain: ["民转刑：纠纷", "Civil-to-criminal: dispute"],
  chain_then: ["之后发生案件", "then crime"],
  cohort_urban: ["城区", "urban"], cohort_rural: ["农村", "rural"],
};

const FIGURES = {
  dispute_count: ["纠纷数", "Disputes", "count"],
  dispute_share: ["纠纷警情占比", "Disputes among all calls", "rate"],
  resolution_rate: ["调解成功率", "Resolution rate", "rate"],
  local_resolution_rate: ["就地化解率", "Local resolution rate", "rate"],
  repeat_dispute_rate: ["90日重复纠纷率", "Repeat disputes within 90 days", "rate"],
  repeat_dispute_rate_30d: ["30日重复纠纷率", "Repeat disputes within 30 days", "rate"],
  civil_to_criminal_count: ["民转刑案件数", "Civil-to-criminal cases", "count"],
  civil_to_criminal_per_10k_residents: ["每万人民转刑案件数", "Civil-to-criminal per 10,000 residents", "per10k"],
  median_minutes_to_claim: ["受理时长中位数（分钟）", "Median minutes to claim", "duration"],
  p90_hours_to_close: ["办结时长90分位（小时）", "90th-percentile hours to close", "duration"],
  sla_breaches: ["超时次数", "SLA breaches", "count"],
  satisfaction_rate: ["群众满意率", "Satisfaction rate", "rate"],
  judicial_confirmation_rate: ["司法确认率", "Judicial confirmation rate", "rate"],
  breach_rate: ["协议不履行率", "Agreement breach rate", "rate"],
  familiarity_rate: ["入户走访率", "Household familiarity rate", "rate"],
  information_items: ["信息报送数", "Information items", "count"],
  crimes_per_10k_residents: ["每万人刑事案件数", "Crimes per 10,000 residents", "per10k"],
  group_defence_per_10k_residents: ["每万人群防群治参与数", "Group defence per 10,000 residents", "per10k"],
};

const state = {
  lang: sessionStorage.getItem(LANG_KEY) || "zh",
  token: null, month: null, kind: "station", county: "",
  counties: new Map(), ranking: null, selected: null, detail: null, request: 0, detailRequest: 0,
};

const $ = (id) => document.getElementById(id);
const t = (key) => (TEXT[key] ? TEXT[key][state.lang === "zh" ? 0 : 1] : key);
const figureLabel = (name) => (FIGURES[name] ? FIGURES[name][state.lang === "zh" ? 0 : 1] : name);
const dash = "—";

// Elements are built with textContent only: names and codes from the API are never parsed as HTML.
function make(namespace, tag, attrs, text) {
  const node = namespace ? document.createElementNS(namespace, tag) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) node.setAttribute(key, value);
  }
  if (text !== null) node.textContent = text;
  return node;
}
const el = (tag, attrs = {}, text = null) => make(null, tag, attrs, text);
const svg = (tag, attrs = {}, text = null) => make(SVG_NS, tag, attrs, text);

function formatValue(name, value) {
  if (value === null || value === undefined) return dash;
  const kind = FIGURES[name] ? FIGURES[name][2] : "count";
  if (kind === "rate") return (value * 100).toFixed(1) + "%";
  if (kind === "duration") return Number(value).toFixed(1);
  if (kind === "per10k") return Number(value).toFixed(2);
  return String(value);
}

function countyName(code) {
  const name = state.counties.get(code);
  return name ? `${name} ${code}` : code;
}

function shiftMonth(month, delta) {
  const [year, mon] = month.split("-").map(Number);
  const index = year * 12 + (mon - 1) + delta;
  return `${Math.floor(index / 12)}-${String((index % 12) + 1).padStart(2, "0")}`;
}

function lastMonth() {
  const now = new Date();
  return shiftMonth(`${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}`, -1);
}

// --- the URL fragment and the token -------------------------------------------------------------

function readFragment() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  const token = params.get("token");
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  state.token = sessionStorage.getItem(TOKEN_KEY);
  if (/^\d{4}-(0[1-9]|1[0-2])$/.test(params.get("month") || "")) state.month = params.get("month");
  if (["station", "grid", "officer"].includes(params.get("kind"))) state.kind = params.get("kind");
  state.county = params.get("county") || "";
  if (state.county && !state.counties.has(state.county)) state.counties.set(state.county, null);
  state.month = state.month || lastMonth();
  writeFragment();  // the token leaves the address bar and history once it is in sessionStorage
}

function writeFragment() {
  const params = new URLSearchParams({ month: state.month, kind: state.kind });
  if (state.county) params.set("county", state.county);
  history.replaceState(null, "", `${location.pathname}${location.search}#${params}`);
}

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, params) {
  const response = await fetch(`${path}?${new URLSearchParams(params)}`, {
    headers: { Authorization: `Bearer ${state.token}`, Accept: "application/json" },
  });
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = JSON.stringify((await response.json()).detail); } catch (_) { /* not JSON */ }
    throw new HttpError(response.status, `${t("failed")} ${response.status}: ${detail}`);
  }
  return response.json();
}

function showLogin(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  $("board").hidden = true;
  $("sign-out").hidden = true;
  $("login").hidden = false;
  $("login-error").hidden = !message;
  $("login-error").textContent = message || "";
  $("token-input").focus();
}

function showError(error) {
  if (error.status === 401) return showLogin(t("bad_token"));
  $("error").hidden = false;
  $("error").textContent = error.status === 403 ? t("forbidden") : error.message;
}

// --- loading ------------------------------------------------------------------------------------

async function loadRanking() {
  const request = ++state.request;
  const table = document.querySelector('[data-testid="ranking-table"]');
  table.dataset.state = "loading";
  $("error").hidden = true;
  $("meta").textContent = t("loading");
  const params = { month: state.month, kind: state.kind };
  if (state.county) params.county = state.county;
  try {
    const ranking = await api("v1/rankings", params);
    if (request !== state.request) return;  // a newer choice overtook this answer
    state.ranking = ranking;
    state.detail = null;  // redrawn when the selected unit's new detail arrives
    for (const item of ranking.items) {
      if (item.county_code) state.counties.set(item.county_code, item.county_name || null);
    }
    renderAll();
    const still = [...ranking.items, ...(ranking.not_rankable || [])].find((item) => item.unit === state.selected);
    if (still) await loadDetail(still.unit); else hideDetail();
  } catch (error) {
    if (request !== state.request) return;
    state.ranking = null;
    renderAll();
    showError(error);
  }
}

async function loadDetail(unit) {
  const item = state.ranking && [...state.ranking.items, ...(state.ranking.not_rankable || [])]
    .find((row) => row.unit === unit);
  if (!item) return;
  state.selected = unit;
  const request = ++state.detailRequest;
  const detail = $("detail");
  detail.hidden = false;
  detail.dataset.unit = unit;
  detail.dataset.state = "loading";
  const kinds = `${state.kind}s`;
  const code = encodeURIComponent(unit);
  const [card, trend] = await Promise.all([
    api(`v1/scorecards/${kinds}/${code}`, { month: state.month }).catch((error) => ({ error })),
    api(`v1/trends/${kinds}/${code}`, { from: shiftMonth(state.month, 1 - TREND_MONTHS), to: state.month })
      .catch((error) => ({ error })),
  ]);
  if (request !== state.detailRequest) return;  // another unit or month was chosen meanwhile
  state.detail = { item, card, trend };
  renderDetail();
  const failed = [card, trend].find((answer) => answer.error);
  if (failed) showError(failed.error);
}

function hideDetail() {
  state.detailRequest++;
  state.selected = null;
  state.detail = null;
  $("detail").hidden = true;
}

// --- rendering ----------------------------------------------------------------------------------

function renderStatic() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  $("lang").textContent = state.lang === "zh" ? "English" : "中文";
}

function renderControls() {
  $("month").value = state.month;
  $("kind").value = state.kind;
  const select = $("county");
  while (select.options.length > 1) select.remove(1);
  for (const code of [...state.counties.keys()].sort()) select.append(el("option", { value: code }, countyName(code)));
  select.value = state.county;
}

function renderAll() {
  renderStatic();
  renderControls();
  renderPublication();
  renderTable();
  renderApart();
  renderScoreChart();
  if (state.detail) renderDetail();
}

function renderPublication() {
  const badge = $("publication");
  const ranking = state.ranking;
  const publication = ranking && ranking.publication;
  badge.hidden = !publication;
  if (ranking) {
    const scope = ranking.scope === "city" ? t("whole_city") : countyName(ranking.scope);
    $("meta").textContent = `${t("rules")} ${ranking.rules_version} · ${t("scope")} ${scope} · ${ranking.month}`;
  }
  if (!publication) return;
  const day = String(publication.published_at || "").slice(0, 10);
  badge.textContent = `${publication.revised ? t("revised") : t("published")} ${day}`;
  badge.classList.toggle("revised", Boolean(publication.revised));
  badge.dataset.state = publication.revised ? "revised" : "published";
  badge.dataset.publicationId = publication.publication_id;
}

function renderTable() {
  const body = $("rows");
  body.replaceChildren();
  const items = state.ranking ? state.ranking.items : [];
  const table = document.querySelector('[data-testid="ranking-table"]');
  table.dataset.state = state.ranking ? "ready" : "error";
  $("empty").hidden = !state.ranking || items.length > 0;
  for (const item of items) {
    const row = el("tr", { "data-testid": "ranking-row", "data-unit": item.unit, tabindex: "0",
      "aria-selected": String(item.unit === state.selected), class: item.score === null ? "unscored" : null });
    const ties = item.tied_with && item.tied_with.length ? `${t("tied")} ${item.tied_with.join(", ")}` : "";
    const cells = [
      ["cohort", cohortName(item.cohort)],
      ["rank", item.rank ?? dash, "num"], ["unit", item.unit], ["name", item.name || t("no_name")],
      ["score", item.score ?? dash, "num"],
      ["grade", item.grade ?? dash, item.grade ? `grade grade-${item.grade}` : null],
      ["candidate", item.candidate ? "★" : "", "star"],
      ["red-line", item.red_line ? `⚠ ${t("red_line")}` : "", "red-line"],
      ["tied", ties],
    ];
    for (const [name, text, cls] of cells) {
      row.append(el("td", { "data-testid": `cell-${name}`, class: cls || null }, String(text)));
    }
    if (item.candidate) row.cells[6].title = t("candidate");
    row.addEventListener("click", () => select(item.unit));
    row.addEventListener("keydown", (event) => { if (event.key === "Enter") select(item.unit); });
    body.append(row);
  }
}

function cohortName(code) {
  if (!code) return dash;
  return TEXT[`cohort_${code}`] ? t(`cohort_${code}`) : code;
}

// Registered units without enough data to rank, with the reason; then the month's calls no registered
// station holds. Neither is ever a ranked line.
function renderApart() {
  const ranking = state.ranking;
  const apart = $("not-rankable");
  apart.replaceChildren();
  for (const item of ranking ? ranking.not_rankable || [] : []) {
    const why = item.not_rankable || {};
    const reason = why.reason === "no_data" ? t("no_data")
      : t("too_little_data") + (why.figures || []).map(figureLabel).join(state.lang === "zh" ? "、" : ", ");
    const row = el("tr", { "data-testid": "not-rankable-row", "data-unit": item.unit, "data-reason": why.reason });
    row.append(el("td", {}, item.unit), el("td", {}, item.name || t("no_name")),
      el("td", { "data-testid": "cell-reason" }, reason));
    row.addEventListener("click", () => select(item.unit));
    apart.append(row);
  }
  const quality = ranking && ranking.data_quality;
  $("quality").textContent = quality
    ? `${t("calls")} ${quality.calls} · ${t("without_unit")} ${quality.without_unit}` : "";
  $("quality").dataset.calls = quality ? quality.calls : "";
  $("quality").dataset.withoutUnit = quality ? quality.without_unit : "";
  const codes = $("unknown-codes");
  codes.replaceChildren();
  for (const code of quality ? quality.unknown_codes : []) {
    const row = el("tr", { "data-testid": "unknown-code-row", "data-code": code.code, "data-calls": code.calls });
    row.append(el("td", {}, code.code), el("td", {}, code.source), el("td", { class: "num" }, String(code.calls)));
    codes.append(row);
  }
}

function select(unit) {
  state.selected = unit;
  for (const row of $("rows").rows) row.setAttribute("aria-selected", String(row.dataset.unit === unit));
  renderScoreChart();
  loadDetail(unit);
}

function renderScoreChart() {
  const holder = $("score-chart");
  holder.replaceChildren();
  const items = state.ranking ? state.ranking.items : [];
  if (!items.length) return;
  const rowHeight = 24, left = 190, width = 600, barWidth = 340, top = 20;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${top + items.length * rowHeight + 8}`, role: "img",
    "aria-label": t("score_by_unit"), "data-testid": "score-chart-svg" });
  for (const tick of [0, 25, 50, 75, 100]) {
    const x = left + (barWidth * tick) / 100;
    chart.append(svg("line", { class: "grid", x1: x, x2: x, y1: top - 4, y2: top + items.length * rowHeight }));
    chart.append(svg("text", { class: "muted", x, y: top - 8, "text-anchor": "middle" }, String(tick)));
  }
  items.forEach((item, index) => {
    const y = top + index * rowHeight;
    const label = `${item.unit} ${item.name || ""}`.trim();
    const short = label.length > 24 ? `${label.slice(0, 23)}…` : label;
    chart.append(svg("text", { x: left - 8, y: y + 16, "text-anchor": "end" }, short));
    if (item.score === null) {
      chart.append(svg("text", { class: "muted", x: left + 4, y: y + 16, "data-testid": "score-bar-missing",
        "data-unit": item.unit }, t("unscored")));
      return;
    }
    const length = Math.max(1, (barWidth * Number(item.score)) / 100);
    const classes = ["bar", `grade-${item.grade}`, item.unit === state.selected ? "selected" : ""].join(" ").trim();
    const bar = svg("rect", { class: classes, x: left, y: y + 4, width: length.toFixed(2), height: rowHeight - 8,
      "data-testid": "score-bar", "data-unit": item.unit, "data-score": item.score });
    bar.append(svg("title", {}, `${label}: ${item.score} (${item.grade})`));
    bar.addEventListener("click", () => select(item.unit));
    chart.append(bar, svg("text", { x: left + length + 6, y: y + 16 }, `${item.score} ${item.grade}`));
  });
  holder.append(chart);
}

function renderDetail() {
  const { item, card, trend } = state.detail;
  const detail = $("detail");
  $("detail-title").textContent = `${item.name || t("no_name")} · ${item.unit}`;
  const parts = [`${t("unit_month")} ${state.month}`, `${t("col_score")} ${item.score ?? dash}`,
    `${t("col_grade")} ${item.grade ?? dash}`];
  if (item.rank !== null) parts.push(state.lang === "zh" ? `第${item.rank}名` : `rank ${item.rank}`);
  if (item.red_line) parts.push(`⚠ ${t("red_line")}`);
  if (item.candidate) parts.push(`★ ${t("candidate")}`);
  $("detail-summary").textContent = parts.join(" · ");
  const chains = $("chains");
  chains.replaceChildren();
  for (const chain of card.error ? [] : card.red_line_chains || []) {
    chains.append(el("li", { "data-testid": "red-line-chain", "data-crime": chain.crime.incident_number,
      "data-dispute": chain.dispute.incident_number },
      `⚠ ${t("chain")} ${chain.dispute.incident_number} → ${t("chain_then")} ${chain.crime.incident_number}`));
  }
  renderBreakdown(item.contributions || []);
  renderTrend(trend.error ? [] : trend.items || []);
  renderFigures(card.error ? {} : card.figures || {});
  detail.dataset.state = "ready";
}

// Rankable figures get a bar of their points with value, percentile and weight share; the others
// (below their minimum sample) a single muted line, so the figures that made the score stand out.
function renderBreakdown(contributions) {
  const holder = $("breakdown");
  holder.replaceChildren();
  const left = 8, width = 560, barWidth = 380, tall = 42, short = 22;
  const most = Math.max(0, ...contributions.map((part) => Number(part.points))) || 1;
  const given = (value) => value !== null && value !== undefined;
  const rankable = (part) => given(part.percentile) || given(part.attainment);
  const height = contributions.reduce((sum, part) => sum + (rankable(part) ? tall : short), 8);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": t("breakdown"),
    "data-testid": "breakdown-svg" });
  let y = 4;
  for (const part of contributions) {
    const value = `${t("value")} ${formatValue(part.figure, part.value)}`;
    // Under target rules: the target and floor (or the pass mark) and the share of full marks attained;
    // under percentile rules: the percentile in the cohort.
    const against = given(part.pass_at) ? `${t("pass_at")} ${formatValue(part.figure, Number(part.pass_at))}`
      : given(part.target) ? `${t("target")} ${formatValue(part.figure, Number(part.target))} · ${t("floor")} `
        + `${formatValue(part.figure, Number(part.floor))}` : "";
    const standing = given(part.attainment) ? `${against} · ${t("attainment")} `
        + `${(Number(part.attainment) * 100).toFixed(0)}%`
      : `${t("percentile")} ${Number(part.percentile).toFixed(1)}`;
    const facts = rankable(part)
      ? `${value} · ${standing} · ${t("weight_share")} ${(Number(part.weight_share) * 100).toFixed(1)}%`
      : `${value} · ${t("not_rankable")}`;
    const length = (barWidth * Number(part.points)) / most;
    const barY = rankable(part) ? y + 19 : y + 4;
    const bar = svg("rect", { class: "points", x: left, y: barY, width: length.toFixed(2), height: 14,
      "data-testid": "breakdown-bar", "data-figure": part.figure, "data-points": part.points,
      "data-percentile": part.percentile ?? "", "data-attainment": part.attainment ?? "",
      "data-weight-share": part.weight_share });
    bar.append(svg("title", {}, `${figureLabel(part.figure)}: ${part.points}`));
    const points = svg("text", { class: rankable(part) ? null : "muted", x: rankable(part) ? left + length + 6 : 220,
      y: barY + 12, "data-testid": "breakdown-points", "data-figure": part.figure }, `${part.points} ${t("points")}`);
    chart.append(svg("text", { class: rankable(part) ? null : "muted", x: left, y: y + 13 }, figureLabel(part.figure)),
      svg("text", { class: "muted", x: width - 4, y: y + 13, "text-anchor": "end" }, facts), bar, points);
    y += rankable(part) ? tall : short;
  }
  holder.append(chart);
}

function renderTrend(items) {
  const holder = $("trend");
  holder.replaceChildren();
  if (!items.length) { holder.append(el("p", { class: "meta" }, t("no_trend"))); return; }
  const width = 560, height = 220, left = 52, right = 32, top = 18, bottom = 30;
  const x = (index) => left + (items.length === 1 ? 0.5 : index / (items.length - 1)) * (width - left - right);
  const y = (score) => top + (1 - score / 100) * (height - top - bottom);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": t("trend"),
    "data-testid": "trend-svg" });
  for (const tick of [0, 50, 100]) {
    chart.append(svg("line", { class: "grid", x1: left, x2: width - right, y1: y(tick), y2: y(tick) }));
    chart.append(svg("text", { class: "muted", x: left - 6, y: y(tick) + 4, "text-anchor": "end" }, String(tick)));
  }
  let path = "", pen = "M";
  items.forEach((point, index) => {
    if (point.score === null || point.score === undefined) { pen = "M"; return; }
    path += `${pen}${x(index).toFixed(1)},${y(Number(point.score)).toFixed(1)} `;
    pen = "L";
  });
  if (path) chart.append(svg("path", { class: "line", d: path.trim(), "data-testid": "trend-line" }));
  items.forEach((point, index) => {
    const scored = point.score !== null && point.score !== undefined;
    const circle = svg("circle", { class: scored ? "point" : "point missing", cx: x(index).toFixed(1),
      cy: (scored ? y(Number(point.score)) : y(0)).toFixed(1), r: scored ? 4 : 3, "data-testid": "trend-point",
      "data-month": point.month, "data-score": scored ? point.score : "" });
    circle.append(svg("title", {}, `${point.month}: ${scored ? `${point.score} ${point.grade ?? ""}` : t("unscored")}`));
    const middle = { x: x(index), "text-anchor": "middle" };
    chart.append(circle, svg("text", { ...middle, class: "muted", y: height - 8 }, point.month));
    if (scored) chart.append(svg("text", { ...middle, y: y(Number(point.score)) - 8 }, point.score));
  });
  holder.append(chart);
}

function renderFigures(figures) {
  const body = $("figures");
  body.replaceChildren();
  for (const [name, figure] of Object.entries(figures)) {
    const sample = figure.denominator === null || figure.denominator === undefined
      ? (figure.numerator ?? dash) : `${figure.numerator ?? dash} / ${figure.denominator}`;
    const row = el("tr", { "data-testid": "figure-row", "data-figure": name,
      class: figure.rankable ? null : "unscored" });
    row.append(el("td", {}, figureLabel(name)), el("td", { class: "num" }, formatValue(name, figure.value)),
      el("td", { class: "num" }, String(sample)));
    body.append(row);
  }
}

// --- wiring -------------------------------------------------------------------------------------

function start() {
  readFragment();
  renderStatic();
  if (!state.token) return showLogin("");
  $("login").hidden = true;
  $("board").hidden = false;
  $("sign-out").hidden = false;
  renderControls();
  loadRanking();
}

function onFilter() {
  const month = $("month").value;
  if (!/^\d{4}-\d{2}$/.test(month)) return;
  const kindChanged = $("kind").value !== state.kind;
  Object.assign(state, { month, kind: $("kind").value, county: $("county").value });
  if (kindChanged) hideDetail();
  writeFragment();
  loadRanking();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
    $("token-input").value = "";
    start();
  });
  $("sign-out").addEventListener("click", () => showLogin(""));
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "zh" ? "en" : "zh";
    sessionStorage.setItem(LANG_KEY, state.lang);
    renderAll();
  });
  for (const id of ["month", "kind", "county"]) $(id).addEventListener("change", onFilter);
  $("filters").addEventListener("submit", (event) => event.preventDefault());
  window.addEventListener("hashchange", start);
  start();
});
