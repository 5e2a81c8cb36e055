// The mediator's workbench: the claim queue (live, from GET /v1/queue/events), a case worked through
// mediation's own HTTP API, the chief's escalations, and the documents that go to court. No build step;
// every text in Simplified Chinese with an English toggle; the API decides what may be seen and done.
"use strict";

const TOKEN_KEY = "fengqiao.workbench.token";
const LANG_KEY = "fengqiao.workbench.lang";
const OIDC_KEY = "fengqiao.workbench.oidc";  // the PKCE verifier and state, between the redirect and the return
const RETRY_MS = 2000;

const TEXT = {
  title: ["枫桥 · 调解工作台", "Fengqiao · mediator's workbench"],
  sign_out: ["退出", "Sign out"], sign_in: ["进入", "Open"], token: ["访问令牌", "Access token"],
  token_help: ["请输入访问令牌。令牌只保存在本标签页中。", "Enter an access token. It is kept in this tab only."],
  bad_token: ["令牌无效或已过期，请重新输入。", "The token is invalid or has expired: enter it again."],
  forbidden_token: ["该令牌无权使用调解工作台。", "This token may not use the workbench."],
  oidc_sign_in: ["通过统一身份认证登录", "Sign in with the identity provider"],
  oidc_failed: ["统一身份认证登录失败，请重试。", "Sign-in with the identity provider failed: try again."],
  live_on: ["实时更新中", "Live"], live_off: ["实时连接中断，正在重连…", "Live updates lost: reconnecting…"],
  queue: ["待认领队列", "Claim queue"], claim_next: ["认领下一件", "Claim next"],
  queue_caption: ["高风险优先，其次按接警时间", "High risk first, then oldest"],
  queue_empty: ["队列中没有案件。", "The queue is empty."],
  col_incident: ["警情编号", "Incident"], col_type: ["纠纷类型", "Dispute type"], col_marks: ["标记", "Marks"],
  col_received: ["接警时间", "Received"], col_action: ["操作", "Action"],
  mine: ["我经手的案件", "Cases I worked"], handoffs_waiting: ["等待我方答复的移交", "Handoffs waiting for us"],
  handoffs_sent: ["我发出的移交", "Handoffs I sent"], chief: ["所长视图：升级案件与超时", "Chief: escalations and SLA breaches"],
  summary: ["110 接警记录", "The 110 record"], parties: ["当事人", "Parties"], timeline: ["办理经过", "Timeline"],
  actions: ["可执行的操作", "What you may do now"], no_actions: ["当前没有可执行的操作。", "Nothing you may do now."],
  col_role: ["身份", "Role"], col_name: ["姓名", "Name"], col_phone: ["电话", "Phone"], col_id_number: ["身份证号", "ID number"],
  add_party: ["添加当事人", "Add a party"], correct_party: ["更正当事人", "Correct a party"], correct: ["更正", "Correct"],
  cancel_correction: ["取消更正", "Cancel the correction"], role_applicant: ["申请人", "Applicant"], role_respondent: ["被申请人", "Respondent"],
  role_other: ["其他", "Other"], save: ["保存", "Save"], send: ["发送", "Send"],
  a_claim: ["认领", "Claim"], a_release: ["释放认领", "Release"], a_sessions: ["记录调解", "Record a session"],
  a_outcome: ["记录调解结果", "Record the outcome"], a_confirmation_request: ["申请司法确认", "Request judicial confirmation"],
  a_confirmation: ["司法确认决定", "Decide judicial confirmation"], a_handoffs: ["移交", "Hand off"],
  a_other: ["其他操作", "Other actions"], a_refer: ["移送", "Refer"], a_close: ["结案", "Close"], a_withdraw: ["撤回", "Withdraw"],
  a_breach: ["报告不履行协议", "Report a breach"],
  session_at: ["调解时间", "When"], participants: ["参加人（逗号分隔）", "Participants (comma-separated)"], notes: ["记录", "Notes"],
  outcome_type: ["结果", "Outcome"], o_agreement: ["达成协议", "Agreement"], o_failure: ["调解失败", "Failure"],
  o_withdrawal: ["当事人撤回", "Withdrawal"], terms: ["协议内容", "Terms"], effective_date: ["生效日期", "Takes effect"],
  performance_date: ["履行期限", "To be performed by"], reason: ["原因", "Reason"], decision: ["决定", "Decision"],
  d_confirmed: ["确认有效", "Confirm"], d_rejected: ["驳回申请", "Reject"], ruling_number: ["裁定书文号", "Ruling number"],
  to_channel: ["移交给", "Hand to"], to_organisation: ["接收单位", "Receiving organisation"],
  court_case_number: ["法院案号", "Court case number"],
  ch_court: ["法院", "Court"], ch_lawyer: ["值班律师", "Lawyer on duty"], ch_peoples_mediator: ["人民调解员", "People's mediator"],
  ch_station_officer: ["派出所民警", "Station officer"], ch_law_enforcement: ["执法办案队", "Law-enforcement team"],
  doc_agreement: ["打印调解协议书", "Print the mediation agreement"],
  doc_application: ["打印司法确认申请书", "Print the application for judicial confirmation"],
  open: ["查看", "Open"], purpose: ["查看当事人信息的理由（记入审计日志）", "Why you open the parties' data (kept in the audit trail)"],
  show_parties: ["查看", "Show"], accept: ["接收", "Accept"], reject: ["退回", "Reject"], reject_reason: ["退回原因", "Reason for rejecting"],
  high_risk: ["高风险", "High risk"], escalated: ["已升级", "Escalated"], needs_review: ["需核实", "Check first"],
  claim_lost: ["该案件已被 {holder} 认领。", "{holder} claimed this case first."],
  claimed_ok: ["已认领 {incident}。", "You claimed {incident}."], queue_is_empty: ["没有可认领的案件。", "No case to claim."],
  saved: ["已保存。", "Saved."], stale: ["案件已被他人修改（版本 {from} → {to}），已重新加载。变化：{changes}",
    "The case changed since you read it (version {from} → {to}) and was reloaded. What changed: {changes}"],
  stale_nothing: ["无可见变化", "nothing visible"], changed_by: ["{actor} 刚更新了此案件，已重新加载。", "{actor} just changed this case: reloaded."],
  f_state: ["状态", "State"], f_version: ["版本", "Version"], f_station: ["派出所", "Station"], f_channel: ["渠道", "Channel"],
  f_type: ["纠纷类型", "Dispute type"], f_risk: ["风险标记", "Risk flags"], f_received: ["接警时间", "Received"],
  f_claim_due: ["认领时限", "Claim due"], f_holder: ["认领人", "Held by"], f_sessions: ["调解次数", "Sessions"],
  f_agreement: ["协议内容", "Agreement"], f_effective: ["生效日期", "Takes effect"], f_performance: ["履行期限", "Perform by"],
  f_confirmation_due: ["司法确认申请期限", "Confirmation due"], f_court_case: ["法院案号", "Court case number"],
  f_ruling: ["裁定书文号", "Ruling number"], f_handoff: ["最近一次移交", "Latest handoff"],
  f_escalations: ["升级原因", "Escalated for"], f_caller: ["报警人", "Caller"], f_caller_phone: ["报警电话", "Caller's phone"],
  f_address: ["地址", "Address"], f_description: ["警情摘要", "What was reported"],
  hidden: ["（无权查看）", "(not shown to your role)"], none: ["无", "none"],
  breaches: ["本所超时：", "SLA breaches: "], r_unclaimed: ["超时未认领", "unclaimed"], r_no_session: ["认领后未调解", "no session"],
  r_confirmation_due: ["司法确认将到期", "confirmation due"], r_fulfilment_check: ["履行回访到期", "fulfilment check"],
  r_breach: ["协议未履行", "breach"], failed: ["请求失败", "Request failed"], print: ["打印", "Print"],
  close_document: ["返回工作台", "Back to the workbench"],
  h_requested: ["待答复", "waiting"], h_accepted: ["已接收", "accepted"], h_rejected: ["已退回", "rejected"],
  p_confirmation: ["司法确认申请", "confirmation request"], p_transfer: ["移交", "transfer"],
};
const STATES_EN = {
  pending: "Waiting to be claimed", claimed: "Claimed", in_session: "In mediation", agreement: "Agreement reached",
  confirmation_requested: "Confirmation requested", confirmed: "Confirmed by the court",
  confirmation_rejected: "Confirmation rejected", failed: "Mediation failed", referred: "Referred", closed: "Closed",
  withdrawn: "Withdrawn",
};
const STATES_ZH = {
  pending: "待认领", claimed: "已认领", in_session: "调解中", agreement: "达成协议", confirmation_requested: "司法确认申请中",
  confirmed: "已司法确认", confirmation_rejected: "司法确认被驳回", failed: "调解失败", referred: "已移送", closed: "已结案",
  withdrawn: "已撤回",
};
const TYPES = {
  neighbour: ["邻里纠纷", "Neighbours"], family: ["家庭纠纷", "Family"], labour: ["劳资纠纷（欠薪）", "Unpaid wages"],
  property_management: ["物业纠纷", "Property management"], consumer: ["消费纠纷", "Consumer"], debt: ["债务纠纷", "Debt"],
  land: ["土地纠纷", "Land"], traffic_damage: ["交通事故损害", "Traffic damage"], other: ["其他纠纷", "Other"],
};
const ACTIONS_ZH = {
  created: ["立案", "opened"], updated: ["警情更新", "updated"], reclassified: ["重新分类", "reclassified"],
  claim: ["认领", "claimed"], release: ["释放认领", "released"], record_session: ["记录调解", "session"],
  reach_agreement: ["达成协议", "agreement"], fail: ["调解失败", "failed"], refer: ["移送", "referred"],
  request_confirmation: ["申请司法确认", "confirmation requested"], confirm: ["司法确认", "confirmed"],
  reject_confirmation: ["驳回司法确认", "confirmation rejected"], close: ["结案", "closed"], withdraw: ["撤回", "withdrawn"],
  report_breach: ["报告不履行", "breach reported"], escalated: ["升级", "escalated"], party_saved: ["当事人信息", "party saved"],
  handoff_requested: ["移交", "handed off"], handoff_accepted: ["接收移交", "handoff accepted"],
  handoff_rejected: ["退回移交", "handoff rejected"], update_after_close: ["结案后警情更新", "update after close"],
};
const BUTTON_ACTIONS = ["claim", "release", "confirmation-request"];
const FORM_ACTIONS = ["sessions", "outcome", "confirmation", "handoffs"];
const NOTE_ACTIONS = ["refer", "close", "withdraw", "breach"];
const SLA_REASONS = ["unclaimed", "no_session", "confirmation_due", "fulfilment_check"];

const state = {
  lang: sessionStorage.getItem(LANG_KEY) || "zh", token: null, me: null, oidc: null,
  claims: { roles: "roles", stations: "stations" },
  queue: new Map(), caseData: null, lastEventId: null, stream: null, refreshTimer: null,
};

const $ = (id) => document.getElementById(id);
const zh = () => state.lang === "zh";
const t = (key, params) => {
  let text = TEXT[key] ? TEXT[key][zh() ? 0 : 1] : key;
  for (const [name, value] of Object.entries(params || {})) text = text.replaceAll(`{${name}}`, String(value));
  return text;
};
const pick = (table, key) => (table[key] ? table[key][zh() ? 0 : 1] : key);
const dash = "—";
const shown = (value) => (value === null || value === undefined || value === "" ? dash : String(value));

// Elements built with textContent only: names and reasons from the API are never parsed as HTML.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "onclick") node.addEventListener("click", value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function stateLabel(c) { return zh() ? c.state_label : (STATES_EN[c.state] || c.state); }
function typeLabel(type) { return type ? pick(TYPES, type) : dash; }
function timeShown(iso) { return iso ? iso.replace("T", " ").slice(0, 16) : dash; }

// --- the API ----------------------------------------------------------------------------------

async function api(method, path, body, ifMatch) {
  const headers = { Authorization: `Bearer ${state.token}`, Accept: "application/json" };
  if (!zh()) headers["Accept-Language"] = "en";
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (ifMatch !== undefined && ifMatch !== null) headers["If-Match"] = `"${ifMatch}"`;
  const answer = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await answer.json(); } catch (_) { data = null; }
  if (answer.status === 401) signOut(t("bad_token"));
  return { status: answer.status, data };
}

function message(answer) {
  const detail = answer.data && answer.data.detail;
  if (detail && typeof detail === "object" && detail.message) return detail.message;
  if (typeof detail === "string") return detail;
  return `${t("failed")} (${answer.status})`;
}

function notify(text, kind) {
  const box = $("notice");
  box.textContent = text;
  box.dataset.kind = kind || "info";
  box.hidden = false;
}

// --- sign-in ----------------------------------------------------------------------------------

function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(part), (ch) => ch.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (_) { return {}; }
}

// A list at a dotted claim path, as the API reads it (Keycloak keeps roles at realm_access.roles).
function claimAt(c, path) {
  const value = path.split(".").reduce((node, part) => (node && typeof node === "object" ? node[part] : undefined), c);
  return Array.isArray(value) ? value : [];
}

async function signIn(token) {
  state.token = token;
  const probe = await api("GET", "/v1/queue?limit=1");
  if (probe.status === 401) return;
  if (probe.status === 403) { signOut(t("forbidden_token")); return; }
  sessionStorage.setItem(TOKEN_KEY, token);
  const c = claims(token);
  state.me = { subject: c.sub || "", roles: claimAt(c, state.claims.roles), stations: claimAt(c, state.claims.stations) };
  $("who").textContent = `${state.me.subject} · ${state.me.roles.join(", ")} · ${state.me.stations.join(", ")}`;
  $("login").hidden = true;
  $("bench").hidden = false;
  $("sign-out").hidden = false;
  $("chief").hidden = !state.me.roles.includes("station_chief");
  // Chiefs and auditors see the queue but do not claim (the API would refuse them).
  $("claim-next").hidden = !state.me.roles.some((r) => ["mediator", "lawyer", "court_liaison"].includes(r));
  connect();
}

// --- sign-in through the identity provider: Authorization Code with PKCE (S256), a public client -----

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

// The workbench's own address, without query or fragment: where the provider sends the browser back.
function redirectUri() { return location.origin + location.pathname; }

async function oidcSignIn() {
  const oidc = state.oidc;
  const verifier = randomString();
  const flow = { state: randomString(), verifier };
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem(OIDC_KEY, JSON.stringify(flow));
  const query = new URLSearchParams({
    response_type: "code", client_id: oidc.client_id, redirect_uri: redirectUri(), scope: oidc.scope,
    state: flow.state, code_challenge: challenge, code_challenge_method: "S256",
  });
  location.assign(`${oidc.authorization_url}${oidc.authorization_url.includes("?") ? "&" : "?"}${query}`);
}

// Back from the provider: the code is exchanged for a token once, and taken off the address either way.
async function oidcReturn(params) {
  const flow = JSON.parse(sessionStorage.getItem(OIDC_KEY) || "null");
  sessionStorage.removeItem(OIDC_KEY);
  history.replaceState(null, "", location.pathname);
  // A state we did not send (or a second use of one) is someone else's code: never exchanged.
  if (!state.oidc || !flow || params.get("state") !== flow.state || !params.get("code")) return null;
  try {
    const answer = await fetch(state.oidc.token_url, {
      method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
      body: new URLSearchParams({
        grant_type: "authorization_code", code: params.get("code"), redirect_uri: redirectUri(),
        client_id: state.oidc.client_id, code_verifier: flow.verifier,
      }),
    });
    const data = await answer.json();
    return answer.ok && typeof data.access_token === "string" ? data.access_token : null;
  } catch (_) { return null; }
}

async function loadConfig() {
  try {
    const answer = await fetch("workbench/config.json", { headers: { Accept: "application/json" } });
    const config = answer.ok ? await answer.json() : {};
    state.oidc = config.oidc || null;
    if (config.claims) state.claims = config.claims;
  } catch (_) { state.oidc = null; }
  $("oidc").hidden = !state.oidc;
}

function signOut(why) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  if (state.stream) state.stream.abort();
  state.stream = null;
  $("bench").hidden = true;
  $("sign-out").hidden = true;
  $("login").hidden = false;
  $("who").textContent = "";
  setLive(false);
  const error = $("login-error");
  error.textContent = why || "";
  error.hidden = !why;
}

// --- the live queue ---------------------------------------------------------------------------

function setLive(on) {
  const badge = $("live");
  badge.dataset.state = on ? "on" : "off";
  badge.textContent = state.token ? t(on ? "live_on" : "live_off") : "";
}

async function connect() {
  if (!state.token) return;
  const control = new AbortController();
  state.stream = control;
  const headers = { Authorization: `Bearer ${state.token}`, Accept: "text/event-stream" };
  if (state.lastEventId !== null) headers["Last-Event-ID"] = String(state.lastEventId);
  try {
    const answer = await fetch("/v1/queue/events", { headers, signal: control.signal });
    if (answer.status === 401) { signOut(t("bad_token")); return; }
    if (!answer.ok || !answer.body) throw new Error(String(answer.status));
    const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        onFrame(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  } catch (_) {
    if (control.signal.aborted) return;
  }
  if (state.stream !== control) return;
  setLive(false);
  setTimeout(connect, RETRY_MS);  // the stream ends (its time, a restart): reconnect from the last id
}

function onFrame(text) {
  let kind = "message"; let id = null; const data = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("event:")) kind = line.slice(6).trim();
    else if (line.startsWith("id:")) id = Number(line.slice(3).trim());
    else if (line.startsWith("data:")) data.push(line.slice(5).trim());
  }
  if (id !== null && !Number.isNaN(id)) state.lastEventId = Math.max(state.lastEventId || 0, id);
  if (!data.length) return;
  const payload = JSON.parse(data.join("\n"));
  if (kind === "ready" || kind === "reset") {
    setLive(true);
    loadQueue();  // after every (re)connect: what the stream may have missed is in the queue's answer
    refreshLists();
  } else if (kind === "case") {
    onCaseEvent(payload);
  }
}

function onCaseEvent(event) {
  const c = event.case;
  if (event.in_queue) state.queue.set(c.id, c); else state.queue.delete(c.id);
  renderQueue();
  const open = state.caseData;
  if (open && open.id === c.id && c.version > open.version) {
    openCase(c.id, { quiet: true }).then(() => {
      if (event.actor !== state.me.subject) notify(t("changed_by", { actor: event.actor }), "info");
    });
  }
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(refreshLists, 300);
}

// --- the queue and lists ----------------------------------------------------------------------

async function loadQueue() {
  const answer = await api("GET", "/v1/queue?limit=500");
  if (answer.status !== 200) return;
  state.queue = new Map(answer.data.items.map((c) => [c.id, c]));
  renderQueue();
}

function queueOrder(a, b) {
  if (a.high_risk !== b.high_risk) return a.high_risk ? -1 : 1;
  if (a.received_at !== b.received_at) return Date.parse(a.received_at) - Date.parse(b.received_at);
  return a.id < b.id ? -1 : 1;
}

function marks(c) {
  const list = el("span", { class: "marks" });
  if (c.high_risk) list.append(el("span", { class: "badge risk", "data-mark": "high_risk" }, t("high_risk")));
  if (c.escalated) list.append(el("span", { class: "badge escalated", "data-mark": "escalated" }, t("escalated")));
  if (c.needs_review) list.append(el("span", { class: "badge review", "data-mark": "needs_review" }, t("needs_review")));
  return list;
}

function renderQueue() {
  const rows = $("queue-rows");
  rows.replaceChildren();
  const items = [...state.queue.values()].sort(queueOrder);
  for (const c of items) {
    rows.append(el("tr", { "data-testid": "queue-row", "data-case": c.id, "data-version": c.version,
      "data-high-risk": String(c.high_risk), "data-escalated": String(c.escalated),
      "data-needs-review": String(c.needs_review) },
      el("td", {}, el("button", { type: "button", class: "link", "data-testid": "open-case",
        onclick: () => openCase(c.id) }, c.incident_number)),
      el("td", {}, typeLabel(c.dispute_type)), el("td", {}, marks(c)), el("td", {}, timeShown(c.received_at)),
      el("td", {}, c.allowed_actions.includes("claim") ? el("button", { type: "button", "data-testid": "claim",
        "aria-label": `${t("a_claim")} ${c.incident_number}`, onclick: () => claim(c) }, t("a_claim")) : null)));
  }
  $("queue-empty").hidden = items.length > 0;
  document.querySelector('[data-testid="queue"]').dataset.state = "ready";
}

function caseLink(c, extra) {
  return el("li", { "data-case": c.id || c.case_id },
    el("button", { type: "button", class: "link", onclick: () => openCase(c.id || c.case_id) },
      `${c.incident_number} · ${c.state ? stateLabel(c) : pick(TEXT, `p_${c.purpose}`)}`), extra || null);
}

async function refreshLists() {
  if (!state.token) return;
  const [mine, handoffs] = await Promise.all([api("GET", "/v1/cases?mine=true&limit=50"), api("GET", "/v1/handoffs")]);
  if (mine.status === 200) $("mine").replaceChildren(...mine.data.items.map((c) => caseLink(c)));
  if (handoffs.status === 200) {
    $("handoffs").replaceChildren(...handoffs.data.items.map(handoffItem));
    $("sent").replaceChildren(...handoffs.data.sent.map((h) => el("li", { "data-testid": "sent-handoff", "data-handoff": h.id },
      el("button", { type: "button", class: "link", onclick: () => openCase(h.case_id) }, h.incident_number),
      ` → ${pick(TEXT, `ch_${h.to_channel}`)} · ${pick(TEXT, `h_${h.state}`)}${h.reason ? ` · ${h.reason}` : ""}`)));
  }
  if (state.me && state.me.roles.includes("station_chief")) loadChief();
}

function handoffItem(h) {
  const item = el("li", { "data-testid": "handoff", "data-handoff": h.id, "data-case": h.case_id, "data-purpose": h.purpose },
    el("button", { type: "button", class: "link", "data-testid": "open-handoff", onclick: () => openCase(h.case_id) },
      `${h.incident_number} · ${pick(TEXT, `p_${h.purpose}`)} · ${h.requested_by}`));
  if (h.purpose === "transfer") {
    const reasonId = `reject-${h.id}`;
    item.append(
      el("button", { type: "button", "data-testid": "accept-handoff", onclick: () => answer(h, "accept") }, t("accept")),
      el("label", { for: reasonId }, t("reject_reason")), el("input", { id: reasonId, "data-testid": "reject-reason" }),
      el("button", { type: "button", "data-testid": "reject-handoff", onclick: () => answer(h, "reject", $(reasonId).value) },
        t("reject")));
  }
  return item;
}

async function loadChief() {
  const answer = await api("GET", "/v1/cases?escalated=true&limit=200");
  if (answer.status !== 200) return;
  const counts = {};
  for (const c of answer.data.items) for (const r of c.escalations) counts[r] = (counts[r] || 0) + 1;
  $("breaches").textContent = t("breaches") + (SLA_REASONS.filter((r) => counts[r])
    .map((r) => `${pick(TEXT, `r_${r}`)} ${counts[r]}`).join("，") || t("none"));
  $("breaches").dataset.counts = JSON.stringify(counts);
  $("escalated").replaceChildren(...answer.data.items.map((c) => caseLink(c,
    ` · ${c.escalations.map((r) => pick(TEXT, `r_${r}`)).join("、")}`)));
}

// --- claiming ---------------------------------------------------------------------------------

async function claim(c) {
  const answer = await api("POST", `/v1/cases/${c.id}/claim`);
  if (answer.status === 200) {
    notify(t("claimed_ok", { incident: answer.data.incident_number }), "ok");
    state.queue.delete(c.id);
    renderQueue();
    await openCase(c.id);
  } else if (answer.status === 409 && answer.data.detail.holder) {
    claimLost(c.id, answer.data.detail.holder);
  } else notify(message(answer), "error");
}

function claimLost(id, holder) {
  // Not an error: a colleague was quicker. The case leaves this queue.
  state.queue.delete(id);
  renderQueue();
  notify(t("claim_lost", { holder }), "info");
  $("notice").dataset.claimLost = id;
}

async function claimNext() {
  const answer = await api("POST", "/v1/queue/claim-next");
  if (answer.status === 200) {
    notify(t("claimed_ok", { incident: answer.data.incident_number }), "ok");
    state.queue.delete(answer.data.id);
    renderQueue();
    await openCase(answer.data.id);
  } else if (answer.status === 404) notify(t("queue_is_empty"), "info");
  else notify(message(answer), "error");
}

async function answer(h, decision, reason) {
  const body = { decision };
  if (reason) body.reason = reason;
  const result = await api("POST", `/v1/handoffs/${h.id}/answer`, body);
  if (result.status === 200) { notify(t("saved"), "ok"); await openCase(h.case_id); refreshLists(); }
  else notify(message(result), "error");
}

// --- the case ---------------------------------------------------------------------------------

async function openCase(id, options) {
  // A chief sees a case's parties only with a stated purpose, which stays with the case while it is open.
  if (options && options.purpose) state.purpose = { id, text: options.purpose };
  const purpose = state.purpose && state.purpose.id === id ? `?purpose=${encodeURIComponent(state.purpose.text)}` : "";
  const answer = await api("GET", `/v1/cases/${id}${purpose}`);
  if (answer.status !== 200) { notify(message(answer), "error"); return null; }
  state.caseData = answer.data;
  renderCase();
  if (!(options && options.quiet)) {
    $("stale").hidden = true;
    $("case-title").focus();
  }
  return answer.data;
}

function fact(list, key, value, field) {
  list.append(el("dt", {}, t(key)), el("dd", { "data-field": field || key.slice(2) }, shown(value)));
}

function renderCase() {
  const c = state.caseData;
  const box = $("case");
  box.hidden = false;
  box.dataset.caseId = c.id;
  box.dataset.version = c.version;
  box.dataset.state = c.state;
  $("case-title").textContent = `${c.incident_number} · ${stateLabel(c)}`;
  const facts = $("facts");
  facts.replaceChildren();
  fact(facts, "f_state", stateLabel(c));
  fact(facts, "f_version", c.version);
  fact(facts, "f_station", c.station_code);
  fact(facts, "f_channel", pick(TEXT, `ch_${c.channel}`), "channel");
  fact(facts, "f_type", typeLabel(c.dispute_type), "type");
  fact(facts, "f_risk", c.risk_flags.join("、") || t("none"), "risk");
  const markBox = el("dd", { "data-field": "marks" }, marks(c));
  facts.append(el("dt", {}, t("col_marks")), markBox);
  fact(facts, "f_received", timeShown(c.received_at));
  fact(facts, "f_claim_due", timeShown(c.claim_due_at));
  fact(facts, "f_holder", c.claimed_by);
  fact(facts, "f_sessions", c.sessions);
  const a = c.agreement || {};
  fact(facts, "f_agreement", a.terms);
  fact(facts, "f_effective", a.effective_date);
  fact(facts, "f_performance", a.performance_date);
  fact(facts, "f_confirmation_due", c.confirmation_due);
  fact(facts, "f_court_case", c.court_case_number);
  fact(facts, "f_ruling", c.ruling_number);
  const h = c.last_handoff;
  fact(facts, "f_handoff", h ? `${pick(TEXT, `p_${h.purpose}`)} → ${pick(TEXT, `ch_${h.to_channel}`)} · ${pick(TEXT, `h_${h.state}`)}`
    + `${h.reason ? ` · ${h.reason}` : ""}${h.ruling_number ? ` · ${h.ruling_number}` : ""}` : null, "handoff");
  fact(facts, "f_escalations", c.escalations.map((r) => pick(TEXT, `r_${r}`)).join("、") || t("none"), "escalations");

  const summary = $("summary");
  summary.replaceChildren();
  const p = c.party;
  if (p) {
    fact(summary, "f_caller", p.caller_name);
    fact(summary, "f_caller_phone", p.caller_phone);
    fact(summary, "f_address", p.address_text);
    fact(summary, "f_description", p.description);
  } else summary.append(el("dd", { "data-field": "hidden" }, t("hidden")));

  const parties = $("parties");
  parties.replaceChildren();
  if (c.parties) {
    const holds = Boolean(state.me && c.claimed_by === state.me.subject && !["closed", "withdrawn"].includes(c.state));
    for (const party of c.parties) parties.append(el("tr", { "data-testid": "party", "data-position": party.position },
      el("td", {}, pick(TEXT, `role_${party.role}`)), el("td", {}, shown(party.name)), el("td", {}, shown(party.phone)),
      el("td", {}, shown(party.id_number)),
      holds ? el("td", {}, el("button", { type: "button", "data-testid": "correct-party",
        "aria-label": `${t("correct")} ${party.name || ""}`, onclick: () => correctParty(party) }, t("correct"))) : null));
  } else parties.append(el("tr", {}, el("td", { colspan: 5 }, t("hidden"))));

  $("form-purpose").hidden = !(c.parties === null && state.me && state.me.roles.includes("station_chief"));
  const allowed = new Set(c.allowed_actions);
  for (const name of BUTTON_ACTIONS) document.querySelector(`button.action[data-action="${name}"]`).hidden = !allowed.has(name);
  for (const name of FORM_ACTIONS) $(`form-${name}`).hidden = !allowed.has(name);
  let notes = 0;
  for (const name of NOTE_ACTIONS) {
    const button = document.querySelector(`button.note[data-action="${name}"]`);
    button.hidden = !allowed.has(name);
    if (!button.hidden) notes += 1;
  }
  $("form-note").hidden = notes === 0;
  $("form-party").hidden = !(c.claimed_by && state.me && c.claimed_by === state.me.subject && c.parties
    && !["closed", "withdrawn"].includes(c.state));
  $("no-actions").hidden = allowed.size > 0;
  $("actions").dataset.allowed = c.allowed_actions.join(" ");
  $("documents").hidden = !(c.agreement && c.parties);

  const timeline = $("timeline");
  timeline.replaceChildren(...(c.timeline || []).map((entry) => el("li", { "data-testid": "timeline-entry",
    "data-action": entry.action }, `${timeShown(entry.at)} · ${entry.actor} · ${pick(ACTIONS_ZH, entry.action)}`
    + `${entry.to_state && entry.to_state !== entry.from_state ? ` → ${(zh() ? STATES_ZH : STATES_EN)[entry.to_state] || entry.to_state}` : ""}`
    + `${entry.details && entry.details.reason ? ` · ${entry.details.reason}` : ""}`)));
}

const WATCHED = [["f_state", (c) => stateLabel(c)], ["f_holder", (c) => c.claimed_by], ["f_sessions", (c) => c.sessions],
  ["f_agreement", (c) => c.agreement && c.agreement.terms], ["f_ruling", (c) => c.ruling_number],
  ["f_handoff", (c) => c.last_handoff && `${c.last_handoff.to_channel}/${c.last_handoff.state}`],
  ["f_escalations", (c) => c.escalations.join(",")]];

async function write(method, path, body) {
  const before = state.caseData;
  const answer = await api(method, path, body, before.version);
  if (answer.status === 200 || answer.status === 201) {
    notify(t("saved"), "ok");
    await openCase(before.id);
    refreshLists();
    return true;
  }
  if (answer.status === 412) {
    // Someone changed the case after it was read: reload it and say what changed; the form keeps its values.
    const after = await openCase(before.id, { quiet: true });
    if (!after) return false;
    const changes = WATCHED.filter(([, get]) => String(get(before)) !== String(get(after)))
      .map(([key, get]) => `${t(key)}：${shown(get(before))} → ${shown(get(after))}`);
    const stale = $("stale");
    stale.textContent = t("stale", { from: before.version, to: after.version, changes: changes.join("；") || t("stale_nothing") });
    stale.hidden = false;
    return false;
  }
  notify(message(answer), "error");
  if (answer.status === 409) await openCase(before.id, { quiet: true });
  return false;
}

function offsetOf(iso) {
  const match = /([+-]\d\d:\d\d|Z)$/.exec(iso || "");
  return match ? match[1] : "+08:00";
}

function formValues(form) {
  const values = {};
  for (const [name, value] of new FormData(form).entries()) if (String(value).trim() !== "") values[name] = String(value).trim();
  return values;
}

async function submitAction(event) {
  event.preventDefault();
  const form = event.target;
  const c = state.caseData;
  const v = formValues(form);
  const base = `/v1/cases/${c.id}`;
  const action = form.dataset.action;
  let ok = false;
  if (action === "sessions") {
    ok = await write("POST", `${base}/sessions`, { at: `${v.at.length === 16 ? `${v.at}:00` : v.at}${offsetOf(c.received_at)}`,
      participants: (v.participants || "").split(/[,，、]/).map((s) => s.trim()).filter(Boolean), notes: v.notes || "" });
  } else if (action === "outcome") {
    const body = v.type === "agreement" ? { type: "agreement", terms: v.terms, effective_date: v.effective_date,
      performance_date: v.performance_date } : { type: v.type, reason: v.reason };
    ok = await write("POST", `${base}/outcome`, body);
  } else if (action === "confirmation") {
    ok = await write("POST", `${base}/confirmation`, { decision: v.decision, ruling_number: v.ruling_number, reason: v.reason });
  } else if (action === "handoffs") {
    ok = await write("POST", `${base}/handoffs`, v);
  } else if (action === "parties") {
    const position = form.dataset.position;
    ok = position === undefined ? await write("POST", `${base}/parties`, v)
      : await write("PUT", `${base}/parties/${position}`, v);
    if (ok) endCorrection();
  }
  if (ok) form.reset();
}

async function buttonAction(event) {
  const action = event.target.dataset.action;
  const c = state.caseData;
  if (action === "claim") { await claim(c); return; }
  await write("POST", `/v1/cases/${c.id}/${action}`);  // release, confirmation-request: no body
}

async function noteAction(event) {
  const c = state.caseData;
  const reason = $("note-reason").value.trim();
  if (await write("POST", `/v1/cases/${c.id}/${event.target.dataset.action}`, reason ? { reason } : {})) $("note-reason").value = "";
}

// The party form corrects one party (PUT .../parties/{position}) after "correct", else adds one.
function correctParty(party) {
  const form = $("form-party");
  form.dataset.position = party.position;
  $("party-role").value = party.role;
  $("party-name").value = party.name || "";
  $("party-phone").value = party.phone || "";
  $("party-id").value = party.id_number || "";
  $("party-legend").dataset.i18n = "correct_party";
  $("party-legend").textContent = t("correct_party");
  $("party-cancel").hidden = false;
  $("party-name").focus();
}

function endCorrection() {
  const form = $("form-party");
  delete form.dataset.position;
  form.reset();
  $("party-legend").dataset.i18n = "add_party";
  $("party-legend").textContent = t("add_party");
  $("party-cancel").hidden = true;
}

// --- documents --------------------------------------------------------------------------------

const ROLE_DOC = { applicant: "申请人", respondent: "被申请人", other: "其他当事人" };

function docLine(label, value) {
  return el("p", {}, el("strong", {}, `${label}：`), value ? String(value) : "＿＿＿＿＿＿＿＿＿＿＿＿");
}

function dateZh(iso) {
  if (!iso) return "＿＿＿＿年＿＿月＿＿日";
  const [y, m, d] = iso.slice(0, 10).split("-").map(Number);
  return `${y}年${m}月${d}日`;
}

function signatures(c, withMediator) {
  const lines = el("div", { class: "signatures" });
  for (const party of c.parties) lines.append(el("p", {}, `${ROLE_DOC[party.role] || "当事人"}（签名）：${party.name || ""}　＿＿＿＿＿＿＿`));
  if (withMediator) {
    // Whoever recorded the agreement mediated it (the case may have been handed on since).
    const agreed = (c.timeline || []).filter((e) => e.action === "reach_agreement").pop();
    lines.append(el("p", {}, `调解员（签名）：${agreed ? agreed.actor : (c.claimed_by || "")}　＿＿＿＿＿＿＿`));
    lines.append(el("p", {}, "人民调解委员会（盖章）"));
  }
  lines.append(el("p", {}, dateZh(c.agreement && c.agreement.effective_date)));
  return lines;
}

function partyBlock(c) {
  return c.parties.map((party) => el("p", { "data-testid": "document-party" },
    `${ROLE_DOC[party.role] || "当事人"}：${party.name || ""}，联系电话：${party.phone || "＿＿＿＿"}，`
    + `身份证号：${party.id_number || "＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿"}`));
}

function showDocument(kind) {
  const c = state.caseData;
  const a = c.agreement || {};
  const p = c.party || {};
  const doc = $("document");
  const facts = `${typeLabel(c.dispute_type)}。${p.description || ""}${p.address_text ? `（地点：${p.address_text}）` : ""}`;
  const common = [el("p", { class: "number" }, `编号：${c.incident_number}`), ...partyBlock(c)];
  let body;
  if (kind === "agreement") {
    // What the People's Mediation Law (art. 29) asks an agreement to state.
    body = [el("h1", {}, "人民调解协议书"), ...common,
      el("h2", {}, "纠纷的主要事实、争议事项"), el("p", { "data-testid": "document-facts" }, facts),
      el("h2", {}, "各方当事人的责任"), el("p", {}, "＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿"),
      el("h2", {}, "达成协议的内容"), el("p", { "data-testid": "document-terms" }, a.terms || ""),
      el("h2", {}, "履行方式、期限"), el("p", { "data-testid": "document-performance" },
        `协议自${dateZh(a.effective_date)}起生效，当事人应于${dateZh(a.performance_date)}前履行完毕。`),
      el("p", {}, "本协议一式三份，当事人各执一份，人民调解委员会留存一份。"), signatures(c, true)];
  } else {
    body = [el("h1", {}, "司法确认申请书"), ...common,
      el("h2", {}, "请求事项"), el("p", { "data-testid": "document-request" },
        `请求人民法院确认申请人于${dateZh(a.effective_date)}经人民调解委员会主持达成的调解协议有效。`),
      el("h2", {}, "事实和理由"), el("p", {}, facts),
      el("p", { "data-testid": "document-terms" }, `调解协议内容：${a.terms || ""}`),
      el("p", {}, "申请人承诺：出于解决纠纷的目的自愿达成协议，没有恶意串通、规避法律的行为；如因虚假调解给他人造成损失，愿意承担相应的民事责任和其他法律责任。"),
      el("p", {}, "此致"), el("p", {}, "＿＿＿＿＿＿人民法院"), signatures(c, false)];
  }
  doc.replaceChildren(...body, el("div", { class: "no-print" },
    el("button", { type: "button", "data-testid": "print", onclick: () => window.print() }, t("print")),
    el("button", { type: "button", "data-testid": "close-document", onclick: closeDocument }, t("close_document"))));
  doc.dataset.kind = kind;
  doc.hidden = false;
  document.body.classList.add("with-document");
  doc.querySelector("button").focus();
}

function closeDocument() {
  $("document").hidden = true;
  document.body.classList.remove("with-document");
  $("case-title").focus();
}

// --- language ---------------------------------------------------------------------------------

function applyLanguage() {
  document.documentElement.lang = zh() ? "zh-CN" : "en";
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  document.title = t("title");
  const toggle = $("lang");
  toggle.textContent = zh() ? "English" : "中文";
  toggle.lang = zh() ? "en" : "zh-CN";
  setLive($("live").dataset.state === "on");
  if (state.token) renderQueue();
  if (state.caseData) renderCase();
}

async function start() {
  $("lang").addEventListener("click", () => {
    state.lang = zh() ? "en" : "zh";
    sessionStorage.setItem(LANG_KEY, state.lang);
    applyLanguage();
    if (state.token) refreshLists();
  });
  $("login").addEventListener("submit", (event) => { event.preventDefault(); signIn($("token-input").value.trim()); });
  $("sign-out").addEventListener("click", () => signOut());
  $("oidc-sign-in").addEventListener("click", oidcSignIn);
  $("claim-next").addEventListener("click", claimNext);
  for (const form of document.querySelectorAll("form.action")) form.addEventListener("submit", submitAction);
  for (const button of document.querySelectorAll("button.action")) button.addEventListener("click", buttonAction);
  for (const button of document.querySelectorAll("button.note")) button.addEventListener("click", noteAction);
  $("party-cancel").addEventListener("click", endCorrection);
  $("form-purpose").addEventListener("submit", (event) => {
    event.preventDefault();
    openCase(state.caseData.id, { purpose: $("purpose").value.trim() });
  });
  $("doc-agreement").addEventListener("click", () => showDocument("agreement"));
  $("doc-application").addEventListener("click", () => showDocument("application"));
  applyLanguage();
  // A token given in the address's fragment (never sent to a server) is kept in the tab and taken off the address.
  const given = new URLSearchParams(location.hash.slice(1)).get("token");
  if (given) {
    sessionStorage.setItem(TOKEN_KEY, given);
    history.replaceState(null, "", location.pathname);
  }
  await loadConfig();
  const params = new URLSearchParams(location.search);
  if (params.has("code") || params.has("error")) {
    const token = await oidcReturn(params);
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else $("login-error").textContent = t("oidc_failed");
    $("login-error").hidden = Boolean(token);
  }
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved); else { $("login").hidden = false; $("token-input").focus(); }
}

document.addEventListener("DOMContentLoaded", start);
