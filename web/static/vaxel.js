// vaxel's pages: each fills its frame from a live view (server-sent events, web/live.py) and
// sends actions to the JSON API with the session's CSRF token. Text only ever goes in through
// textContent: nothing a caller, an agent or a file says can become markup.
"use strict";

const T = JSON.parse(document.getElementById("texts").textContent);
const CSRF = document.querySelector('meta[name="csrf"]').content;

function $(selector, root = document) { return root.querySelector(selector); }

function format(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, k) => (k in values ? values[k] : ""));
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  return m ? `${m} min ${String(s % 60).padStart(2, "0")} s` : `${s} s`;
}

function pct(share) {
  return share === null || share === undefined ? "–" : `${Math.round(100 * share)} %`;
}

function set(el, text) {  // only when it changes: no flicker, no needless announcements
  const value = text === null || text === undefined ? "" : String(text);
  if (el && el.textContent !== value) el.textContent = value;
}

function bind(root, data) {
  for (const el of root.querySelectorAll("[data-bind]")) {
    if (el.dataset.bind in data) set(el, data[el.dataset.bind]);
  }
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method, credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": CSRF},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) { location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`); }
  let data = {};
  try { data = await response.json(); } catch (e) { data = {}; }
  if (!response.ok) throw new Error(data.error || `${response.status}`);
  return data;
}

function showError(err) {
  const el = $("#action-error");
  set(el, err ? `${T.error}: ${err.message || err}` : "");
}

async function act(fn) {
  showError(null);
  try { return await fn(); } catch (err) { showError(err); return null; }
}

// One live view: the whole picture at once and on every change; on a drop, the browser
// reconnects by itself and the first message is the whole picture again.
function live(view, query, onData) {
  const state = $("#live-state");
  let source;
  function open() {
    source = new EventSource(`/api/live/${view}${query}`);
    source.onmessage = (message) => {
      if (state.hidden === false) { state.hidden = true; set(state, ""); }
      onData(JSON.parse(message.data));
    };
    source.onerror = async () => {
      state.hidden = false;
      set(state, T.live_lost);
      const who = await fetch("/api/whoami", {credentials: "same-origin"}).catch(() => null);
      if (who && who.status === 401) { source.close(); location.assign("/login"); }
    };
  }
  open();
}

function cell(row, text, header = false) {
  const el = document.createElement(header ? "th" : "td");
  if (header) el.scope = "row";
  set(el, text);
  row.appendChild(el);
  return el;
}

// Rows kept by id and updated in place (a rebuilt table would flicker and lose focus).
function rows(tbody, items, key, make, update) {
  const seen = new Set();
  for (const [i, item] of items.entries()) {
    const id = String(item[key]);
    seen.add(id);
    let row = tbody.querySelector(`tr[data-id="${CSS.escape(id)}"]`);
    if (!row) { row = make(item); row.dataset.id = id; }
    if (tbody.children[i] !== row) tbody.insertBefore(row, tbody.children[i] || null);
    update(row, item);
  }
  for (const row of [...tbody.children]) if (!seen.has(row.dataset.id)) row.remove();
}

function stateText(state) { return T[`state_${state}`] || state; }

// ---- the agent panel -----------------------------------------------------------------------

function agentPage() {
  const agent = document.body.dataset.agent;
  const reasons = $("#pause-reason");
  let lastCall = null;
  let announced = null;
  let historyOf = null;

  $("#go-ready").addEventListener("click", () => act(() => api("POST", `/api/agents/${agent}/ready`)));
  $("#transfer-complete").addEventListener("click", () => lastCall && act(() =>
    api("POST", `/api/calls/${encodeURIComponent(lastCall)}/transfer/complete`)));
  $("#transfer-cancel").addEventListener("click", () => lastCall && act(() =>
    api("POST", `/api/calls/${encodeURIComponent(lastCall)}/transfer/cancel`)));
  $("#go-login").addEventListener("click", () => act(() => api("POST", `/api/agents/${agent}/login`)));
  $("#go-logout").addEventListener("click", () => act(() => api("POST", `/api/agents/${agent}/logout`)));
  $("#go-pause").addEventListener("click", () => act(() => api("POST", `/api/agents/${agent}/pause`, {reason: reasons.value})));

  const form = $("#wrap-up");
  form.addEventListener("change", () => {
    $("#department").required = form.reason.value === "forwarded";
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = $("#wrap-result");
    if (!lastCall) return;
    if (!form.reason.value || !form.resolved.value) {
      set(result, `${T.error}: ${T.contact_reason} / ${T.resolved}`);
      return;
    }
    const done = await act(() => api("POST", `/api/calls/${encodeURIComponent(lastCall)}/wrapup`, {
      agent, reason: form.reason.value, resolved: form.resolved.value === "yes",
      department: $("#department").value || null, note: $("#note").value || null,
    }));
    if (done) {
      set(result, T.sent);
      form.reset();
      lastCall = null;
      $("#wrap-send").disabled = true;
      set($("#wrap-call"), T.no_call);
    }
  });

  // One checkbox a group of the agent's; a change is sent at once (Space toggles it).
  const choices = $("#groups-choice");
  function groupChoice(groups) {
    const ids = groups.map((g) => g.id).join(" ");
    if (choices.dataset.ids !== ids) {
      choices.dataset.ids = ids;
      for (const p of [...choices.querySelectorAll("p")]) p.remove();
      for (const g of groups) {
        const p = document.createElement("p");
        p.className = "choice";
        const box = document.createElement("input");
        box.type = "checkbox";
        box.id = `group-${g.id}`;
        box.value = g.id;
        const label = document.createElement("label");
        label.htmlFor = box.id;
        label.textContent = g.name;
        box.addEventListener("change", () => act(() => api("POST", `/api/agents/${agent}/groups`, {
          groups: [...choices.querySelectorAll("input:checked")].map((b) => b.value)})));
        p.append(box, label);
        choices.appendChild(p);
      }
    }
    for (const g of groups) {
      const box = document.getElementById(`group-${g.id}`);
      if (box.checked !== g.serving) box.checked = g.serving;
    }
  }

  async function history(callId) {
    historyOf = callId;
    const data = await act(() => api("GET", `/api/calls/${encodeURIComponent(callId)}/history`));
    if (!data || historyOf !== callId) return;
    const table = $("#earlier");
    const tbody = table.tBodies[0];
    tbody.replaceChildren();
    for (const c of data.contacts) {
      const row = document.createElement("tr");
      cell(row, new Date(c.arrived_at * 1000).toLocaleString(document.documentElement.lang));
      cell(row, c.group || "–");
      cell(row, c.outcome);
      cell(row, c.reason ? (T[c.reason] || c.reason) + (c.department ? `: ${c.department}` : "") : "–");
      cell(row, c.resolved === null ? "–" : c.resolved ? T.yes : T.no);
      cell(row, c.note || "");
      tbody.appendChild(row);
    }
    table.hidden = data.contacts.length === 0;
    set($("#earlier-none"), data.available ? T.no_earlier : T.earlier_unavailable);
    $("#earlier-none").hidden = data.contacts.length > 0;
  }

  // The directory as the agent types: the newest answer wins, the count is announced. With
  // a caller on the line, each entry has a button that sends the caller on to it.
  const query = $("#directory-q");
  let asked = 0;
  let pause = null;
  let talking = null;  // the call in conversation now
  let prefilled = null;  // the call whose wrap-up was filled in after a transfer
  function transferButtons() {
    for (const b of document.querySelectorAll("#directory button, #transfer-number-go, #transfer-group-go")) {
      b.disabled = !talking;
    }
  }
  async function transferTo(to) {
    const done = await act(() => api("POST", `/api/calls/${encodeURIComponent(talking)}/transfer`, {to}));
    if (done) set($("#directory-count"), format(T.transferred_to, {name: done.name}));
  }
  $("#transfer-number-go").addEventListener("click", () => talking && transferTo(`number:${$("#transfer-number").value}`));
  $("#transfer-group-go").addEventListener("click", () => talking && transferTo(`group:${$("#transfer-group").value}`));
  query.addEventListener("input", () => {
    clearTimeout(pause);
    pause = setTimeout(async () => {
      const mine = ++asked;
      const q = query.value.trim();
      const table = $("#directory");
      if (!q) {
        table.hidden = true;
        set($("#directory-count"), "");
        return;
      }
      const data = await act(() => api("GET", `/api/directory?q=${encodeURIComponent(q)}`));
      if (!data || mine !== asked) return;
      const tbody = table.tBodies[0];
      tbody.replaceChildren();
      for (const e of data.entries) {
        const row = document.createElement("tr");
        row.dataset.id = e.id;
        cell(row, e.name, true);
        cell(row, e.title || "–");
        cell(row, e.department || "–");
        cell(row, e.number);
        cell(row, e.absence || "");
        const send = button(T.transfer, `${T.transfer}: ${e.name}`, async () => {
          const done = await act(() => api("POST", `/api/calls/${encodeURIComponent(talking)}/transfer`,
                                           {to: `directory:${e.id}`}));
          if (done) set($("#directory-count"), format(T.transferred_to, {name: done.name}));
        });
        send.id = `transfer-${e.id}`;
        const consult = button(T.consult, `${T.consult}: ${e.name}`, () => act(() =>
          api("POST", `/api/calls/${encodeURIComponent(talking)}/transfer`,
              {to: `directory:${e.id}`, how: "attended"})));
        consult.id = `consult-${e.id}`;
        cell(row, "").append(send, consult);
        tbody.appendChild(row);
      }
      transferButtons();
      table.hidden = data.entries.length === 0;
      set($("#directory-count"), data.entries.length
        ? format(T.directory_found, {n: data.entries.length}) : T.directory_none);
    }, 150);
  });

  live("agent", `?agent=${encodeURIComponent(agent)}`, (v) => {
    bind(document, {name: v.name, state_text: stateText(v.state), reason: v.reason ? `(${v.reason})` : "",
                    in_state: duration(v.in_state)});
    groupChoice(v.groups);
    const targets = $("#transfer-group");
    if (targets.options.length !== v.all_groups.length) {
      targets.replaceChildren(...v.all_groups.map((g) => new Option(g.name, g.id)));
    }
    if (reasons.options.length !== v.pause_reasons.length) {
      reasons.replaceChildren(...v.pause_reasons.map((r) => new Option(r, r)));
    }
    $("#go-ready").disabled = !["paused", "wrap_up"].includes(v.state);
    $("#go-pause").disabled = !["ready", "wrap_up"].includes(v.state);
    $("#go-login").disabled = v.state !== "logged_out";
    $("#go-logout").disabled = v.state === "logged_out";
    const call = v.call;
    talking = call && call.phase === "connected" ? call.id : null;
    transferButtons();
    if (v.forwarded_to && v.wrap_up_call && prefilled !== v.wrap_up_call) {
      prefilled = v.wrap_up_call;  // sent on: the wrap-up says forwarded, and to whom
      $("#reason-forwarded").checked = true;
      $("#department").value = v.forwarded_to;
      $("#department").required = true;
    }
    $("#call").hidden = !call;
    const consult = call && call.consult;
    $("#consult").hidden = !consult;
    if (consult) {
      set($("#consult-state"), format(consult.answered ? T.consulting : T.consult_ringing,
                                      {name: consult.name}));
      $("#transfer-complete").disabled = !consult.answered;
    }
    $("#no-call").hidden = !!call;
    if (call) {
      bind($("#call"), {caller: call.caller || T.withheld, group_name: call.group_name || call.group || "–",
                        waited: duration(call.waited), path: call.path || "–", script: call.script || "–"});
      if (announced !== call.id) {
        announced = call.id;
        set($("#call-announce"), format(call.callback ? T.incoming_callback : T.incoming, {caller: call.caller || T.withheld,
                                                    group: call.group_name || "", wait: duration(call.waited)}));
        history(call.id);
      }
      lastCall = call.id;
    } else if (v.wrap_up_call) {
      lastCall = v.wrap_up_call;
    }
    if (lastCall) {
      set($("#wrap-call"), format(T.wrap_up_for, {call: lastCall}));
      $("#wrap-send").disabled = false;
    }
  });
}

// ---- the wallboard -------------------------------------------------------------------------

function groupRow(g) {
  const row = document.createElement("tr");
  cell(row, "", true);
  for (let i = 0; i < 11; i++) cell(row, "");
  return row;
}

function levelText(level) { return level === "alarm" ? ` – ${T.alarm}` : level === "warn" ? ` – ${T.warn}` : ""; }

function alarmText(a, goal) {
  if (a.kind === "goal") return format(T.alarm_goal, {share: Math.round(100 * a.value), minutes: goal.within / 60, target: Math.round(100 * goal.target)});
  if (a.kind === "wait") return format(T.alarm_wait, {wait: duration(a.value)});
  if (a.kind === "no_agents") return T.alarm_no_agents;
  return a.detail;
}

function wallboardPage() {
  const tbody = $("#board").tBodies[0];
  live("wallboard", "", (v) => {
    bind(document, {time: v.time});
    const banner = $("#banner");
    const notes = [v.crisis && T.crisis_on, v.overload && T.overload, !v.link && T.link_down].filter(Boolean);
    banner.hidden = notes.length === 0;
    set(banner, notes.join(" · "));
    rows(tbody, v.groups, "id", groupRow, (row, g) => {
      row.className = `level-${g.level}${g.open ? "" : " closed"}`;
      const c = row.children;
      set(c[0], g.name + (g.open ? "" : ` (${T.closed})`) + levelText(g.level));
      set(c[1], g.waiting); set(c[2], g.callbacks); set(c[3], duration(g.longest_wait));
      set(c[4], g.answered); set(c[5], pct(g.goal)); set(c[6], pct(g.service_level));
      set(c[7], g.ready); set(c[8], g.talking); set(c[9], g.wrap_up); set(c[10], g.paused);
      set(c[11], pct(g.partner));
    });
    const alarms = v.groups.flatMap((g) => g.alarms.map((a) => `${g.name}: ${alarmText(a, v.goal)}`));
    const list = $("#alarms");
    const text = alarms.length ? alarms : [T.no_alarms];
    if ([...list.children].map((li) => li.textContent).join("\n") !== text.join("\n")) {
      list.replaceChildren(...text.map((a) => { const li = document.createElement("li"); li.textContent = a; return li; }));
    }
  });
}

// ---- the supervisor's page -----------------------------------------------------------------

function button(text, label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}

// A select in a table row, named for screen readers by a label only they see.
function choice(id, labelText, options) {
  const select = document.createElement("select");
  select.id = id;
  const label = document.createElement("label");
  label.htmlFor = id;
  label.className = "visually-hidden";
  label.textContent = labelText;
  for (const [text, value] of options) select.appendChild(new Option(text, value));
  return [label, select];
}

function supervisorPage() {
  $("#crisis-on").addEventListener("click", () => act(() => {
    const minutes = parseInt($("#crisis-minutes").value, 10);
    return api("POST", "/api/crisis", {on: true, minutes: Number.isNaN(minutes) ? null : minutes});
  }));
  $("#crisis-off").addEventListener("click", () => act(() => api("POST", "/api/crisis", {on: false})));
  const groups = $("#groups").tBodies[0];
  const agents = $("#agents").tBodies[0];
  const calls = $("#calls").tBodies[0];
  const callbacks = $("#callbacks").tBodies[0];
  let reasons = [];

  live("supervisor", "", (v) => {
    bind(document, {time: v.time});
    reasons = v.pause_reasons;
    set($("#crisis-state"), v.crisis.on ? (v.crisis.until ? format(T.crisis_until, {until: v.crisis.until}) : T.crisis_is_on) : T.crisis_is_off);
    $("#crisis-on").disabled = v.crisis.on;
    $("#crisis-off").disabled = !v.crisis.on;

    rows(groups, v.groups, "id", (g) => {
      const row = document.createElement("tr");
      cell(row, g.name, true);
      for (let i = 0; i < 4; i++) cell(row, "");
      const actions = cell(row, "");
      const [label, select] = choice(`mode-${g.id}`, `${T.opening}: ${g.name}`,
                                     ["auto", "open", "closed"].map((m) => [T[`mode_${m}`], m]));
      actions.append(label, select, button(T.apply, `${T.apply}: ${g.name}`,
        () => act(() => api("POST", `/api/groups/${g.id}/opening`, {mode: select.value}))));
      if (g.can_overflow) {
        const toggle = button(T.overflow, `${T.overflow}: ${g.name}`,
          () => act(() => api("POST", `/api/groups/${g.id}/overflow`, {on: toggle.getAttribute("aria-pressed") !== "true"})));
        toggle.classList.add("toggle");
        actions.append(toggle);
      }
      return row;
    }, (row, g) => {
      const c = row.children;
      row.className = `level-${g.level}`;
      set(c[1], (g.open ? T.open : T.closed) + (g.manual ? ` (${T.by_hand})` : ""));
      set(c[2], g.waiting); set(c[3], duration(g.longest_wait)); set(c[4], pct(g.goal));
      const toggle = row.querySelector("button.toggle");
      if (toggle) toggle.setAttribute("aria-pressed", g.overflow ? "true" : "false");
    });

    rows(agents, v.agents, "id", (a) => {
      const row = document.createElement("tr");
      cell(row, a.name, true);
      cell(row, ""); cell(row, "");
      const actions = cell(row, "");
      const [label, select] = choice(`reason-${a.id}`, `${T.pause_reason}: ${a.name}`,
                                     reasons.map((r) => [r, r]));
      actions.append(label, select,
        button(T.force_pause, `${T.force_pause}: ${a.name}`, () => act(() => api("POST", `/api/agents/${a.id}/pause`, {reason: select.value}))),
        button(T.force_logout, `${T.force_logout}: ${a.name}`, () => act(() => api("POST", `/api/agents/${a.id}/logout`, {reason: select.value}))));
      return row;
    }, (row, a) => {
      const c = row.children;
      set(c[1], stateText(a.state) + (a.reason ? ` (${a.reason})` : ""));
      set(c[2], duration(a.in_state));
    });

    $("#calls").hidden = v.calls.length === 0;
    $("#no-calls").hidden = v.calls.length > 0;
    rows(calls, v.calls, "id", () => {
      const row = document.createElement("tr");
      cell(row, "", true);
      for (let i = 0; i < 5; i++) cell(row, "");
      return row;
    }, (row, c) => {
      const x = row.children;
      set(x[0], c.caller || T.withheld); set(x[1], c.phase); set(x[2], c.group_name || "–");
      set(x[3], duration(c.waited)); set(x[4], c.agent || "–"); set(x[5], c.path || "–");
    });

    $("#callbacks").hidden = v.callbacks.length === 0;
    $("#no-callbacks").hidden = v.callbacks.length > 0;
    rows(callbacks, v.callbacks, "id", (c) => {
      const row = document.createElement("tr");
      cell(row, c.caller, true);
      for (let i = 0; i < 4; i++) cell(row, "");
      const name = `${c.caller}, ${c.group_name}`;
      const first = button(T.callback_first, `${T.callback_first}: ${name}`,
        () => act(() => api("POST", `/api/callbacks/${encodeURIComponent(c.id)}/first`)));
      const cancel = button(T.callback_cancel, `${T.callback_cancel}: ${name}`,
        () => act(() => api("POST", `/api/callbacks/${encodeURIComponent(c.id)}/cancel`)));
      first.id = `first-${c.id}`;
      cancel.id = `cancel-${c.id}`;
      cell(row, "").append(first, cancel);
      return row;
    }, (row, c) => {
      const x = row.children;
      const phase = c.phase !== "pending" ? T[`callback_${c.phase}`]
        : c.position ? format(T.callback_pending, {position: c.position})
        : c.next_in ? format(T.callback_later, {wait: duration(c.next_in)}) : T.callback_closed;
      set(x[1], c.group_name); set(x[2], phase); set(x[3], duration(c.waited));
      set(x[4], String(c.attempts));
      for (const b of x[5].querySelectorAll("button")) b.disabled = c.phase !== "pending";
    });

    const kpi = $("#kpi");
    const items = [[T.answered_today, v.kpi.answered], [format(T.in_goal, {minutes: document.body.dataset.goalMinutes || "2"}), pct(v.kpi.goal)],
                   [T.service_level, pct(v.kpi.service_level)], [T.resolved, pct(v.kpi.first_contact_resolution)]];
    if (kpi.children.length !== items.length * 2) {
      kpi.replaceChildren(...items.flatMap(() => [document.createElement("dt"), document.createElement("dd")]));
    }
    items.forEach(([name, value], i) => { set(kpi.children[2 * i], name); set(kpi.children[2 * i + 1], value); });
  });
}

// ---- the administrator's page --------------------------------------------------------------

function adminPage() {
  const choice = $("#file-choice");
  const editor = $("#editor");
  let files = {};
  let edits = {};

  function show(name) {
    set($("#editor-label"), format(T.editor, {file: name}));
    editor.value = name in edits ? edits[name] : files[name] || "";
  }

  function goToLine(line, column) {
    const lines = editor.value.split("\n");
    let at = 0;
    for (let i = 0; i < Math.min(line - 1, lines.length); i++) at += lines[i].length + 1;
    at += Math.max(0, column - 1);
    editor.focus();
    editor.setSelectionRange(at, at);
    const height = editor.scrollHeight / Math.max(lines.length, 1);
    editor.scrollTop = Math.max(0, (line - 5) * height);
  }

  function report(data) {
    const problems = $("#problems");
    const items = (data.problems || []).map((p) => {
      const li = document.createElement("li");
      li.className = p.severity;
      const where = p.line ? format(T.line_col, {line: p.line, column: p.column}) : "";
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = `${p.file}${where ? ", " + where : ""}`;
      b.addEventListener("click", () => {
        if (p.file in files || p.file in edits) { choice.value = p.file; show(p.file); }
        if (p.line) goToLine(p.line, p.column);
      });
      const text = document.createElement("span");
      text.textContent = `: ${p.severity === "error" ? "" : p.severity + ": "}${p.message}`;
      li.append(b, text);
      return li;
    });
    if (!items.length) { const li = document.createElement("li"); li.textContent = T.no_problems; items.push(li); }
    problems.replaceChildren(...items);
    const changes = (data.changes || []).map((c) => { const li = document.createElement("li"); li.textContent = c; return li; });
    if (!changes.length) { const li = document.createElement("li"); li.textContent = T.no_changes; changes.push(li); }
    $("#changes").replaceChildren(...changes);
  }

  async function load() {
    const data = await act(() => api("GET", "/api/config/files"));
    if (!data) return;
    files = Object.fromEntries(data.files.map((f) => [f.name, f.text]));
    const current = choice.value;
    choice.replaceChildren(...data.files.map((f) => new Option(f.name, f.name)));
    for (const name of Object.keys(edits)) if (!(name in files)) choice.appendChild(new Option(name, name));
    // the main file first (vaxel.yaml), not the first by name (katalog.yaml, users.yaml)
    const main = data.files.find((f) => f.name === "vaxel.yaml") || data.files[0] || {};
    choice.value = current && [...choice.options].some((o) => o.value === current) ? current : main.name;
    show(choice.value);
    const tbody = $("#versions").tBodies[0];
    tbody.replaceChildren(...data.versions.map((v) => {
      const row = document.createElement("tr");
      cell(row, `${v.number} (${v.checksum})`, true);
      cell(row, v.activated_at);
      cell(row, v.active ? T.yes : T.no);
      const actions = cell(row, "");
      if (!v.active && v.kept) {
        actions.appendChild(button(format(T.rollback, {number: v.number}), format(T.rollback, {number: v.number}), async () => {
          const done = await act(() => api("POST", "/api/config/rollback", {version: v.number}));
          if (done) { set($("#outcome"), format(T.activated, {number: done.version})); report(done); edits = {}; load(); }
        }));
      }
      return row;
    }));
    const audit = await act(() => api("GET", "/api/audit"));
    if (audit) {
      $("#audit").tBodies[0].replaceChildren(...audit.lines.map((l) => {
        const row = document.createElement("tr");
        cell(row, new Date(l.at * 1000).toLocaleString(document.documentElement.lang));
        cell(row, l.who); cell(row, l.action); cell(row, l.detail); cell(row, l.source);
        return row;
      }));
    }
  }

  choice.addEventListener("change", () => show(choice.value));
  editor.addEventListener("input", () => { edits[choice.value] = editor.value; });
  $("#upload").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    const name = file.name.toLowerCase().replace(/\.yml$/, ".yaml");
    edits[name] = await file.text();
    if (![...choice.options].some((o) => o.value === name)) choice.appendChild(new Option(name, name));
    choice.value = name;
    show(name);
    await check();
  });

  async function send(path) {
    if (!Object.keys(edits).length) edits[choice.value] = editor.value;
    const response = await fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": CSRF},
      body: JSON.stringify({files: edits}),
    });
    const data = await response.json().catch(() => ({}));
    return {ok: response.ok, data};
  }

  async function check() {
    showError(null);
    const {ok, data} = await send("/api/config/check");
    if (!ok) { showError(new Error(data.error)); return; }
    report(data);
    set($("#outcome"), data.ok ? T.no_problems : T.refused);
    if (!data.ok) $("#problems-h").focus();
  }

  $("#check").addEventListener("click", check);
  $("#activate").addEventListener("click", async () => {
    showError(null);
    const {ok, data} = await send("/api/config/activate");
    if (!ok) {
      report({problems: data.problems || [], changes: []});
      set($("#outcome"), T.refused);
      $("#problems-h").focus();
      return;
    }
    report({problems: [], changes: data.changes});
    set($("#outcome"), format(T.activated, {number: data.version}));
    edits = {};
    load();
  });
  load();
}

const PAGES = {agent: agentPage, wallboard: wallboardPage, supervisor: supervisorPage, admin: adminPage};
(PAGES[document.body.dataset.page] || (() => {}))();
