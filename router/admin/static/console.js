// The console's live view: polls /api/overview every second and takes differences of
// the router's counters for rates; quarantine review and the explain form call the API.
// Every value from the router is put in the page as text (never as HTML).
import { Unauthorized, call, forget, remember, token } from "/console/api.js";

const POLL_MS = 1000;
const WINDOW_S = 60;
const $ = (id) => document.getElementById(id);
let samples = [];  // recent overviews, oldest first, for rates and "last minute"
let timer = null;

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  if (className) td.className = className;
  return td;
}

function button(label, onClick, className) {
  const b = document.createElement("button");
  b.textContent = label;
  if (className) b.className = className;
  b.addEventListener("click", onClick);
  return b;
}

function fill(tableId, rows) {
  const body = $(tableId).querySelector("tbody");
  body.replaceChildren(...rows);
}

function row(...cells) {
  const tr = document.createElement("tr");
  tr.append(...cells);
  return tr;
}

function rate(now, before, pick) {
  if (!before || now.at <= before.at) return null;
  const a = pick(now);
  const b = pick(before);
  if (a === undefined || b === undefined) return null;
  return Math.max(0, (a - b) / (now.at - before.at));
}

const shown = (value) => (value === null ? "–" : value.toFixed(1));

function renderSessions(now, before) {
  const earlier = new Map((before?.sessions ?? []).map((s) => [s.id, s]));
  fill("sessions", now.sessions.map((s) => {
    const r = before && earlier.has(s.id)
      ? (s.submitted - earlier.get(s.id).submitted) / (now.at - before.at) : null;
    const tr = row(cell(s.account ?? "(binding)"), cell(s.peer), cell(s.state),
      cell(String(s.submitted)), cell(shown(r), "rate"), cell(`${Math.round(s.age)} s`));
    const unbind = button("Unbind", () => act(() => call("POST",
      `/api/sessions/${s.id}/unbind`)), "danger");
    const td = document.createElement("td");
    td.append(unbind);
    tr.append(td);
    tr.dataset.account = s.account ?? "";
    return tr;
  }));
}

function renderUpstreams(now, before) {
  fill("upstreams", now.upstreams.map((u) => {
    const r = rate(now, before, (o) => o.upstreams.find((x) => x.name === u.name)?.sent);
    return row(cell(u.name), cell(u.address), cell(u.up ? "bound" : "down", u.up ? "up" : "down"),
      cell(`${u.window_used} / ${u.window}`), cell(String(u.sent)), cell(shown(r)),
      cell(u.paced_rate > 0 ? `${u.paced_rate}/s` : "no"));
  }));
}

function renderRefusals(now) {
  const oldest = samples.find((s) => now.at - s.at <= WINDOW_S) ?? now;
  const reasons = Object.keys(now.refusals);
  fill("refusals", reasons.length === 0 ? [row(cell("none yet", "muted"), cell(""), cell(""))]
    : reasons.map((reason) => row(cell(reason),
      cell(String(now.refusals[reason] - (oldest.refusals[reason] ?? 0))),
      cell(String(now.refusals[reason])))));
}

function render(now) {
  const before = samples.at(-1);
  samples.push(now);
  samples = samples.filter((s) => now.at - s.at <= WINDOW_S + 2);
  $("rate-accepted").textContent = shown(rate(now, before, (o) => o.submits.accepted));
  $("rate-refused").textContent = shown(rate(now, before, (o) => o.submits.refused));
  $("queue-outbound").textContent = String(now.queues.outbound);
  $("queue-receipts").textContent = String(now.queues.receipts);
  renderSessions(now, before);
  renderUpstreams(now, before);
  renderRefusals(now);
  $("status").textContent = `live · ${new Date(now.at * 1000).toLocaleTimeString()}`
    + (now.paused ? " · intake paused" : "");
}

async function loadQuarantine() {
  const { messages } = await call("GET", "/api/quarantine?state=held");
  $("quarantine-note").textContent = messages.length ? "" : "nothing held";
  fill("quarantine", messages.map((m) => {
    const tr = row(cell(m.id, "id"), cell(m.account), cell(m.category),
      cell(`${m.source} → ${m.destination}`), cell(m.text, "text"));
    const td = document.createElement("td");
    td.append(button("Release", () => decide(m.id, "release")),
      button("Reject", () => decide(m.id, "reject"), "danger"));
    tr.append(td);
    tr.dataset.id = m.id;
    return tr;
  }));
}

async function decide(id, verb) {
  await act(async () => {
    const answer = await call("POST", `/api/quarantine/${id}/${verb}`);
    $("quarantine-decided").textContent = `${answer.id} ${answer.state}`;
    await loadQuarantine();
  });
}

function renderExplain(answer) {
  const out = $("explain-result");
  const verdict = document.createElement("p");
  verdict.className = answer.decision;
  verdict.id = "explain-verdict";
  verdict.textContent = `${answer.decision}${answer.reason ? ` (${answer.reason})` : ""}: `
    + `${answer.explanation} · answered ${answer.status.answered}`;
  const table = document.createElement("table");
  table.append(row(...["rule", "result", "detail"].map((h) => {
    const th = document.createElement("th");
    th.textContent = h;
    return th;
  })));
  for (const r of answer.rules) {
    table.append(row(cell(r.rule), cell(r.result, r.result === "fail" ? "refuse" : ""),
      cell(r.detail)));
  }
  out.replaceChildren(verdict, table);
}

async function act(work) {
  try {
    await work();
  } catch (error) {
    if (error instanceof Unauthorized) return signOut(error.message);
    $("status").textContent = `error: ${error.message}`;
  }
}

async function poll() {
  await act(async () => render(await call("GET", "/api/overview")));
}

function start() {
  $("login").hidden = true;
  $("console").hidden = false;
  $("logout").hidden = false;
  samples = [];
  poll();
  act(loadQuarantine);
  timer = setInterval(() => { poll(); }, POLL_MS);
  setInterval(() => { if (token()) act(loadQuarantine); }, 5 * POLL_MS);
}

function signOut(message) {
  forget();
  clearInterval(timer);
  $("console").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message ?? "";
  $("status").textContent = "not signed in";
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  remember($("token").value.trim());
  $("token").value = "";
  try {
    await call("GET", "/api/overview");
    start();
  } catch (error) {
    signOut(error instanceof Unauthorized ? "wrong token" : error.message);
  }
});

$("logout").addEventListener("click", () => signOut());

$("explain").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = Object.fromEntries([...form.entries()].filter(([, v]) => v !== ""));
  act(async () => renderExplain(await call("POST", "/api/explain", body)));
});

if (token()) start(); else signOut();
