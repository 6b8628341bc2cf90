// The sandbox dashboard: plain JavaScript over the REST API (the same endpoints and token as any client).
// Everything that comes from a sandbox is inserted as text (textContent), never as HTML.
"use strict";

const state = { token: sessionStorage.getItem("sandbox-token") || "", timers: [], images: [] };
const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function pill(text, kind) { return el("span", { class: "pill " + (kind || text) }, text); }
function ago(iso) {
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  return s < 60 ? `${Math.round(s)} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : `${(s / 3600).toFixed(1)} h ago`;
}
function size(n) { return n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`; }
function showError(message) { const e = $("#error"); e.textContent = message || ""; e.hidden = !message; }
// The terminal's WebSocket cannot send the token as a header: it rides in a cookie for /api/sessions/ of the dashboard's
// own host. Previews are served on hosts of their own ({port}-{session}.localhost…) and never see it.
function setTerminalCookie() {
  document.cookie = `sandbox_token=${encodeURIComponent(state.token)}; path=/api/sessions/; SameSite=Strict` + (state.token ? "" : "; max-age=0");
}
function showToken(show) { $("#token-panel").hidden = !show; if (show) $("#token-input").focus(); }
function every(ms, fn) { state.timers.push(setInterval(fn, ms)); }
function clearTimers() { state.timers.forEach(clearInterval); state.timers = []; }

async function api(method, path, body, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  if (state.token) headers.Authorization = "Bearer " + state.token;
  let payload = body;
  if (body !== undefined && !(body instanceof Blob)) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  const r = await fetch(path, { method, headers, body: payload });
  if (r.status === 401) { showToken(true); throw new Error("This server needs a bearer token: enter it above."); }
  if (!r.ok) {
    let message = `${r.status} ${r.statusText}`;
    try { const p = await r.json(); message = (p.code ? p.code + ": " : "") + (p.detail || p.title || message); } catch { /* not JSON */ }
    throw new Error(message);
  }
  if (opts.raw) return r;
  return r.status === 204 ? null : r.json();
}

// Server-Sent Events over fetch (EventSource cannot send the Authorization header).
async function* events(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let at;
    while ((at = buffer.indexOf("\n\n")) >= 0) {
      const chunk = buffer.slice(0, at);
      buffer = buffer.slice(at + 2);
      const data = chunk.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      if (data) yield JSON.parse(data);
    }
  }
}

async function guarded(fn) {
  try { showError(""); await fn(); } catch (e) { showError(e.message); }
}

async function refreshHealth() {
  try {
    const r = await fetch("/healthz");
    const h = await r.json();
    state.images = h.images.map((i) => i.name);
    state.isolation = h.isolation || null;
    const p = $("#health");
    p.textContent = `${h.status} · engine ${h.engine.reachable ? h.engine.version : "unreachable"} · ${h.sessions} sessions`;
    p.className = "pill " + (h.status === "ok" ? "ok" : "bad");
    p.title = (h.problems || []).join("\n");
  } catch { $("#health").textContent = "server unreachable"; }
}

// ---- pages -------------------------------------------------------------------------------------------------------

async function sessionsPage() {
  const main = $("#main");
  const image = el("select", { id: "new-image" }, (state.images.length ? state.images : ["python", "agent"]).map((n) => el("option", { value: n }, n)));
  const isolation = el("select", { id: "new-isolation" }, [el("option", { value: "" }, "server default"),
    ...(state.isolation ? state.isolation.available : ["gvisor", "container"]).map((n) => el("option", { value: n }, n))]);
  const table = el("tbody");
  const snapshots = el("tbody");
  const volumes = el("tbody");
  // Metadata filter: "task=t1, user=ann" keeps the sessions whose metadata has every pair (GET /api/sessions?metadata.k=v).
  const filter = el("input", { id: "metadata-filter", placeholder: "metadata filter: task=t1, user=ann", size: 36,
    oninput: () => guarded(load) });
  main.replaceChildren(
    el("h1", {}, "Sessions"),
    el("div", { class: "card" }, el("h2", {}, "New session"),
      el("div", { class: "row" }, el("label", { for: "new-image" }, "Image"), image,
        el("label", { for: "new-isolation" }, "Isolation"), isolation,
        el("button", { id: "create-session", onclick: () => guarded(async () => {
          const s = await api("POST", "/api/sessions", { image: image.value, isolation: isolation.value || null });
          location.hash = `#/s/${encodeURIComponent(s.id)}`;
        }) }, "Create session"))),
    el("div", { class: "card" }, el("div", { class: "row" }, el("label", { for: "metadata-filter" }, "Filter"), filter),
      el("div", { class: "table-wrap" }, el("table", { id: "sessions" },
      el("thead", {}, el("tr", {}, ["Session", "Image", "Metadata", "Isolation", "Status", "Activity", "Limits", "Created", "Expires", ""].map((h, i) => el("th", { class: i >= 7 && i <= 8 ? "wide" : null }, h)))),
      table))),
    el("div", { class: "card" }, el("h2", {}, "Snapshots"), el("div", { class: "table-wrap" }, el("table", { id: "snapshots" },
      el("thead", {}, el("tr", {}, ["Snapshot", "Name", "From", "Image", "Size", "Taken", ""].map((h) => el("th", {}, h)))), snapshots)),
      el("p", { class: "muted" }, "A new session from a snapshot has its files; its Python interpreter starts fresh.")),
    el("div", { class: "card" }, el("h2", {}, "Volumes"), el("div", { class: "table-wrap" }, el("table", { id: "volumes" },
      el("thead", {}, el("tr", {}, ["Volume", "Used", "Size", "Files", "Mounted by", "Saved"].map((h) => el("th", {}, h)))), volumes)),
      el("p", { class: "muted" }, "Storage that outlives sessions: mount with create_session's volumes; one session writes a volume at a time.")));
  async function loadVolumes() {
    const list = await api("GET", "/api/volumes");
    volumes.replaceChildren(...(list.length ? list.map((v) => el("tr", {},
      el("td", { class: "mono" }, v.name), el("td", {}, size(v.used_bytes)), el("td", {}, `${v.size_mb} MiB`), el("td", {}, String(v.files)),
      el("td", {}, v.mounts.map((m) => el("a", { class: "mono", href: `#/s/${encodeURIComponent(m.session_id)}`, title: m.path }, `${m.session_id}${m.read_only ? " (ro)" : ""} `))),
      el("td", {}, ago(v.updated_at))))
      : [el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No volumes."))]));
  }
  async function loadSnapshots() {
    const list = await api("GET", "/api/snapshots");
    snapshots.replaceChildren(...(list.length ? list.map((x) => el("tr", {},
      el("td", { class: "mono" }, x.snapshot_id), el("td", {}, x.name), el("td", { class: "mono" }, x.source_session_id),
      el("td", {}, x.image), el("td", {}, size(x.size_bytes)), el("td", {}, ago(x.created_at)),
      el("td", {}, el("button", { class: "secondary", "data-snapshot": x.snapshot_id, onclick: () => guarded(async () => {
        const s = await api("POST", "/api/sessions", { from_snapshot: x.snapshot_id });
        location.hash = `#/s/${encodeURIComponent(s.id)}`;
      }) }, "New session"), " ", el("button", { class: "danger", onclick: () => guarded(async () => { await api("DELETE", `/api/snapshots/${encodeURIComponent(x.snapshot_id)}`); await loadSnapshots(); }) }, "Delete"))))
      : [el("tr", {}, el("td", { colspan: 7, class: "muted" }, "No snapshots. Save one from a session's page."))]));
  }
  async function load() {
    const query = filter.value.split(",").map((p) => p.trim()).filter((p) => p.includes("="))
      .map((p) => { const at = p.indexOf("="); return `metadata.${encodeURIComponent(p.slice(0, at).trim())}=${encodeURIComponent(p.slice(at + 1).trim())}`; }).join("&");
    const sessions = await api("GET", "/api/sessions" + (query ? "?" + query : ""));
    table.replaceChildren(...(sessions.length ? sessions.map((s) => el("tr", {},
      el("td", { class: "mono" }, el("a", { href: `#/s/${encodeURIComponent(s.id)}` }, s.id)),
      el("td", {}, s.image),
      el("td", { class: "metadata" }, Object.entries(s.metadata || {}).map(([k, v]) => pill(`${k}=${v}`, "secondary"))),
      el("td", {}, pill(s.isolation, s.isolation === "gvisor" ? "ok" : "secondary")),
      el("td", {}, pill(s.status)),
      el("td", {}, s.busy ? pill("running") : pill("idle", "secondary")),
      el("td", { class: "mono" }, `${s.limits.memory_mb} MiB · ${s.limits.cpus} cpu · ${s.limits.pids} pids`),
      el("td", { class: "wide" }, ago(s.created_at)),
      el("td", { class: "wide" }, new Date(s.expires_at).toLocaleTimeString()),
      el("td", {}, el("button", { class: "danger", onclick: () => guarded(async () => { await api("DELETE", `/api/sessions/${encodeURIComponent(s.id)}`); await load(); }) }, "Close"))))
      : [el("tr", {}, el("td", { colspan: 10, class: "muted" }, filter.value.trim() ? "No session has that metadata." : "No sessions yet."))]));
  }
  await guarded(async () => { await Promise.all([load(), loadSnapshots(), loadVolumes()]); });
  every(3000, () => guarded(load));
}

// An interactive terminal in the session: xterm.js (served by this server) over a WebSocket to the session's shell.
// The browser sends the token cookie with it (a WebSocket cannot carry the Authorization header).
// The session holds its terminals: closing this panel (or the tab) detaches, and opening it again attaches to the
// terminal that still runs, with its screen as it was. Ctrl-P Ctrl-Q detaches too. Another tab that attaches while one
// types watches, read-only. With an agent as its kind (claude-code) the terminal runs that agent's own interface: it is
// started once (POST …/terminals) and goes on working while nobody is attached.
function openTerminal(base, box, status, kind) {
  setTerminalCookie();
  box.replaceChildren();
  const term = new Terminal({ cursorBlink: true, fontSize: 13, scrollback: 5000, theme: { background: "#10131c" } });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(box);
  fit.fit();
  let ws = null;
  let closed = false;
  const send = (o) => { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(o)); };
  status.textContent = "connecting…";
  (async () => {
    let running = null;
    try { running = (await api("GET", `${base}/terminals`)).find((t) => t.running && (t.kind || "shell") === kind); } catch (e) { /* a new one, then */ }
    if (closed) return;
    if (!running && kind !== "shell") {
      try { running = await api("POST", `${base}/terminals`, { agent: kind, cols: term.cols, rows: term.rows }); } catch (e) {
        status.textContent = e.message; status.className = "pill bad"; return;
      }
      if (closed) return;
    }
    const which = running ? `&terminal=${encodeURIComponent(running.terminal_id)}` : "";
    ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${base}/terminal?cols=${term.cols}&rows=${term.rows}${which}`);
    ws.binaryType = "arraybuffer";
    ws.onmessage = (m) => {
      if (typeof m.data !== "string") { term.write(new Uint8Array(m.data)); return; }
      const e = JSON.parse(m.data);
      if (e.type === "attached") {
        status.textContent = e.writer ? "connected" : "watching (read-only: another client types)";
        status.className = e.writer ? "pill ok" : "pill secondary";
        term.focus();
      } else if (e.type === "detached") term.write("\r\n[detached: the terminal goes on; open it again to attach]\r\n");
      else if (e.type === "exit") term.write(`\r\n[${kind === "shell" ? "the shell" : kind} exited with status ${e.exit_code ?? "?"}]\r\n`);
    };
    ws.onclose = (e) => { status.textContent = "closed" + (e.reason ? `: ${e.reason}` : ""); status.className = "pill secondary"; };
    ws.onerror = () => { status.textContent = "could not connect"; status.className = "pill bad"; };
  })();
  term.onData((data) => send({ type: "input", data }));
  term.onResize(({ cols, rows }) => send({ type: "resize", cols, rows }));
  const onWindow = () => fit.fit();
  window.addEventListener("resize", onWindow);
  return () => { closed = true; window.removeEventListener("resize", onWindow); ws?.close(); term.dispose(); };
}

async function sessionPage(id) {
  const base = `/api/sessions/${encodeURIComponent(id)}`;
  const main = $("#main");
  const info = el("div", { class: "row" });
  const language = el("select", { id: "language" }, ["python", "bash", "node"].map((l) => el("option", { value: l }, l)));
  const code = el("textarea", { id: "code", spellcheck: "false" }, "print('hello from the sandbox')");
  const timeout = el("input", { id: "timeout", type: "number", min: "1", value: "30", class: "narrow" });
  const runStatus = el("span", { id: "run-status", class: "muted" });
  const output = el("pre", { id: "output" });
  const figures = el("div", { id: "figures" });
  const runButton = el("button", { id: "run" }, "Run");
  const dir = { path: "" };
  const files = el("tbody", { id: "files" });
  const crumbs = el("div", { class: "row mono", id: "crumbs" });
  const upload = el("input", { id: "upload", type: "file" });
  const runs = el("tbody", { id: "runs" });
  const history = el("tbody", { id: "history" });
  const prompt = el("textarea", { id: "prompt", class: "short", placeholder: "What should the agent do?" }, "");
  const agent = el("select", { id: "agent" }, ["claude-code", "codex", "command"].map((a) => el("option", { value: a }, a)));
  const terminalBox = el("div", { id: "terminal", class: "terminal-box", hidden: true });
  const terminalStatus = el("span", { id: "terminal-status", class: "pill secondary" }, "closed");
  const terminalState = { close: null };
  // What the terminal runs: a shell, or an agent's own interface to talk to (started once, then attached to).
  const terminalKind = el("select", { id: "terminal-kind", title: "What the terminal runs" },
    [["shell", "Shell"], ["claude-code", "Claude Code (interactive)"], ["codex", "Codex (interactive)"]].map(([v, t]) => el("option", { value: v }, t)));
  const terminalButton = el("button", { id: "open-terminal", class: "secondary", onclick: () => {
    if (terminalState.close) {
      terminalState.close(); terminalState.close = null; terminalBox.hidden = true; terminalKind.disabled = false; terminalButton.textContent = "Open terminal";
      return;
    }
    terminalBox.hidden = false;
    terminalKind.disabled = true;
    terminalState.close = openTerminal(base, terminalBox, terminalStatus, terminalKind.value);
    terminalButton.textContent = "Close terminal";
  } }, "Open terminal");
  const terminalCard = el("div", { class: "card" }, el("div", { class: "row" }, el("h2", {}, "Terminal"), terminalStatus, el("span", { class: "spacer" }),
    terminalKind, terminalButton), terminalBox);
  window.addEventListener("hashchange", () => { if (terminalState.close) terminalState.close(); }, { once: true });
  const command = el("input", { id: "agent-command", class: "grow", placeholder: '["python3", "agent.py"]', hidden: true });
  agent.addEventListener("change", () => { command.hidden = agent.value !== "command"; });

  runButton.addEventListener("click", () => guarded(async () => {
    runButton.disabled = true;
    output.replaceChildren();
    figures.replaceChildren();
    runStatus.textContent = "running…";
    runStatus.className = "pill running";
    try {
      const r = await api("POST", `${base}/execute`, { code: code.value, language: language.value, timeout_seconds: Number(timeout.value) || 30 },
        { raw: true, headers: { Accept: "text/event-stream" } });
      for await (const e of events(r)) {
        if (e.type === "output") output.append(el("span", { class: e.stream }, e.text));
        else if (e.type === "image") figures.append(el("img", { class: "figure", alt: "figure", src: "data:image/png;base64," + e.image.base64 }));
        else if (e.type === "result") {
          const res = e.result;
          if (res.error && !res.stderr) output.append(el("span", { class: "stderr" }, `${res.error.type}: ${res.error.message}\n`));
          runStatus.textContent = `exit ${res.exit_code ?? "—"} · ${res.duration_ms.toFixed(0)} ms${res.timed_out ? " · timed out" : ""}${res.truncated ? " · truncated" : ""}${res.state_lost ? " · state lost" : ""}`;
          runStatus.className = "pill " + (res.exit_code === 0 ? "ok" : "bad");
        } else if (e.type === "error") throw new Error(`${e.error.code}: ${e.error.message}`);
      }
    } finally { runButton.disabled = false; await Promise.all([loadHistory(), loadWork()]); }
  }));

  async function download(path) {
    const r = await api("GET", `${base}/files/${path.split("/").map(encodeURIComponent).join("/")}`, undefined, { raw: true });
    const url = URL.createObjectURL(await r.blob());
    const a = el("a", { href: url, download: path.split("/").pop() });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  async function loadFiles() {
    const list = await api("GET", `${base}/files?dir=${encodeURIComponent(dir.path)}`);
    const parts = dir.path ? dir.path.split("/") : [];
    crumbs.replaceChildren(el("a", { href: "#", onclick: (ev) => { ev.preventDefault(); dir.path = ""; guarded(loadFiles); } }, "/workspace"),
      ...parts.map((p, i) => [" / ", el("a", { href: "#", onclick: (ev) => { ev.preventDefault(); dir.path = parts.slice(0, i + 1).join("/"); guarded(loadFiles); } }, p)]));
    files.replaceChildren(...(list.length ? list.map((f) => el("tr", {},
      el("td", { class: "mono" }, f.kind === "directory"
        ? el("a", { href: "#", onclick: (ev) => { ev.preventDefault(); dir.path = f.path; guarded(loadFiles); } }, f.name + "/")
        : f.name),
      el("td", {}, f.kind),
      el("td", {}, f.kind === "file" ? size(f.size) : ""),
      el("td", {}, f.kind === "file" ? el("button", { class: "secondary", "data-file": f.path, onclick: () => guarded(() => download(f.path)) }, "Download") : "")))
      : [el("tr", {}, el("td", { colspan: 4, class: "muted" }, "Empty."))]));
  }

  async function loadRuns() {
    const list = await api("GET", `${base}/agent-runs`);
    runs.replaceChildren(...(list.length ? list.map((r) => el("tr", {},
      el("td", { class: "mono" }, el("a", { href: `#/s/${encodeURIComponent(id)}/runs/${encodeURIComponent(r.id)}` }, r.id)),
      el("td", {}, r.agent), el("td", {}, pill(r.status)),
      el("td", {}, `${(r.duration_ms / 1000).toFixed(1)} s`),
      el("td", {}, (r.final_message || r.error || "").slice(0, 120))))
      : [el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No agent runs."))]));
  }

  async function loadHistory() {
    const list = await api("GET", `${base}/history?limit=50`);
    history.replaceChildren(...list.reverse().map((h) => el("tr", {},
      el("td", {}, h.kind), el("td", { class: "wide" }, new Date(h.at).toLocaleTimeString()),
      el("td", {}, h.language || ""), el("td", {}, h.exit_code ?? ""), el("td", {}, h.duration_ms ? `${h.duration_ms.toFixed(0)} ms` : ""),
      el("td", { class: "mono" }, (h.output || "").slice(0, 200)))));
  }

  const executions = el("tbody", { id: "executions" });
  const processes = el("tbody", { id: "processes" });
  const watchTitle = el("span", { id: "watch-title", class: "muted" }, "Pick an execution or a process to follow its output.");
  const watchOutput = el("pre", { id: "watch-output" });
  const processCommand = el("input", { id: "process-command", class: "grow", placeholder: "python3 -m http.server 8000" });
  const watch = { token: 0 };

  // Follows one execution (its event stream, from the start, live until it ends) or one process (cursors, long-poll).
  async function follow(kind, itemId) {
    const token = ++watch.token;
    watchOutput.replaceChildren();
    watchTitle.textContent = `${kind} ${itemId}`;
    if (kind === "execution") {
      const r = await api("GET", `${base}/executions/${encodeURIComponent(itemId)}`, undefined, { raw: true, headers: { Accept: "text/event-stream" } });
      for await (const e of events(r)) {
        if (token !== watch.token) return;
        if (e.type === "output") watchOutput.append(el("span", { class: e.stream }, e.text));
        else if (e.type === "result") watchTitle.textContent = `execution ${itemId} · ${e.result.status} · exit ${e.result.exit_code ?? "—"}`;
        else if (e.type === "error") watchTitle.textContent = `execution ${itemId} · ${e.error.code}`;
      }
      return;
    }
    let out = 0, err = 0;
    while (token === watch.token && location.hash.includes(encodeURIComponent(id))) {
      const o = await api("GET", `${base}/processes/${encodeURIComponent(itemId)}/output?stdout_cursor=${out}&stderr_cursor=${err}&wait_seconds=2`);
      if (token !== watch.token) return;
      if (o.stdout) watchOutput.append(el("span", { class: "stdout" }, o.stdout));
      if (o.stderr) watchOutput.append(el("span", { class: "stderr" }, o.stderr));
      out = o.stdout_cursor; err = o.stderr_cursor;
      watchTitle.textContent = `process ${itemId} · ${o.process.running ? "running" : "exited " + o.process.exit_code}`;
      if (!o.process.running && !o.stdout && !o.stderr) return;
    }
  }

  async function loadWork() {
    const [xs, ps] = await Promise.all([api("GET", `${base}/executions`), api("GET", `${base}/processes`)]);
    executions.replaceChildren(...(xs.length ? xs.slice(0, 10).map((x) => el("tr", {},
      el("td", { class: "mono" }, el("a", { href: "#", "data-execution": x.execution_id, onclick: (ev) => { ev.preventDefault(); guarded(() => follow("execution", x.execution_id)); } }, x.execution_id)),
      el("td", {}, x.language), el("td", {}, pill(x.status === "finished" ? "ok" : x.status, x.status === "finished" ? "ok" : x.status === "running" ? "running" : "bad")),
      el("td", {}, `${(x.duration_ms / 1000).toFixed(1)} s`),
      el("td", {}, x.status === "running" ? el("button", { class: "secondary", onclick: () => guarded(async () => { await api("POST", `${base}/executions/${encodeURIComponent(x.execution_id)}/cancel`); await loadWork(); }) }, "Cancel") : "")))
      : [el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No executions yet."))]));
    processes.replaceChildren(...(ps.length ? ps.map((p) => el("tr", {},
      el("td", { class: "mono" }, el("a", { href: "#", "data-process": p.process_id, onclick: (ev) => { ev.preventDefault(); guarded(() => follow("process", p.process_id)); } }, p.process_id)),
      el("td", { class: "mono" }, p.command.slice(0, 80)), el("td", {}, pill(p.running ? "running" : `exit ${p.exit_code}`, p.running ? "running" : p.exit_code === 0 ? "ok" : "bad")),
      el("td", {}, p.running ? el("button", { class: "danger", onclick: () => guarded(async () => { await api("DELETE", `${base}/processes/${encodeURIComponent(p.process_id)}`); await loadWork(); }) }, "Kill") : "")))
      : [el("tr", {}, el("td", { colspan: 4, class: "muted" }, "No background processes."))]));
  }

  async function loadInfo() {
    const s = await api("GET", base);
    info.replaceChildren(pill(s.status), pill(s.busy ? "running" : "idle", s.busy ? "running" : "secondary"), el("span", {}, `image ${s.image}`),
      el("span", { title: s.isolation === "gvisor" ? "the code runs on gVisor, a kernel of its own" : "the code runs in the hardened container, on the host kernel" }, `isolation ${s.isolation}`),
      el("span", { class: "mono" }, `${s.limits.memory_mb} MiB · ${s.limits.cpus} cpu · ${s.limits.pids} pids · workspace ${s.limits.workspace_mb} MiB`),
      el("span", { class: "muted" }, `created ${ago(s.created_at)} · ${s.execution_count} calls`),
      ...Object.entries(s.metadata || {}).map(([k, v]) => pill(`${k}=${v}`, "secondary")),
      ...(s.ports || []).map((p) => el("a", { class: "pill ok", "data-port": String(p), href: "#", title: "Opens the preview in a new tab, on an origin of its own",
        onclick: (ev) => { ev.preventDefault(); openPreview(p); } }, `port ${p} ↗`)));
  }

  // Each click asks for a fresh grant and opens the preview's own origin with it; the tab is opened at once (popup
  // blockers allow it only during the click) and cut off from this page before it goes there.
  function openPreview(port) {
    const tab = window.open("about:blank", "_blank");
    if (tab) tab.opener = null;
    guarded(async () => {
      try {
        const preview = await api("POST", `${base}/ports/${port}/grant`);
        if (tab) tab.location.replace(preview.url); else window.open(preview.url, "_blank", "noopener");
      } catch (e) {
        tab?.close();
        throw e;
      }
    });
  }

  main.replaceChildren(
    el("div", { class: "row" }, el("a", { href: "#/" }, "← Sessions")),
    el("h1", { class: "mono" }, id),
    el("div", { class: "row" }, info, el("span", { class: "spacer" }),
      el("button", { class: "secondary", id: "save-snapshot", onclick: () => guarded(async () => {
        const x = await api("POST", `${base}/snapshots`, { name: `from ${id}` });
        showError("");
        $("#save-snapshot").textContent = `Saved ${x.snapshot_id}`;
      }) }, "Save snapshot"),
      el("button", { class: "secondary", id: "fork-session", onclick: () => guarded(async () => {
        const [f] = await api("POST", `${base}/fork`, { count: 1 });
        location.hash = `#/s/${encodeURIComponent(f.id)}`;
      }) }, "Fork"),
      el("button", { class: "danger", id: "close-session", onclick: () => guarded(async () => { await api("DELETE", base); location.hash = "#/"; }) }, "Close session")),
    el("div", { class: "grid" },
      el("div", { class: "card" }, el("h2", {}, "Run code"),
        el("div", { class: "row" }, el("label", { for: "language" }, "Language"), language, el("label", { for: "timeout" }, "Timeout (s)"), timeout, runButton, runStatus),
        code, output, figures),
      el("div", { class: "card" }, el("h2", {}, "Files"), crumbs,
        el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, ["Name", "Kind", "Size", ""].map((h) => el("th", {}, h)))), files)),
        el("div", { class: "row" }, upload, el("button", { id: "upload-button", onclick: () => guarded(async () => {
          const file = upload.files[0];
          if (!file) throw new Error("Choose a file to upload.");
          const target = (dir.path ? dir.path + "/" : "") + file.name;
          await api("PUT", `${base}/files/${target.split("/").map(encodeURIComponent).join("/")}`, file);
          upload.value = "";
          await loadFiles();
        }) }, "Upload")))),
    terminalCard,
    el("div", { class: "grid" },
      el("div", { class: "card" }, el("h2", {}, "Agent runs"),
        el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, ["Run", "Agent", "Status", "Duration", "Result"].map((h) => el("th", {}, h)))), runs)),
        el("div", { class: "row" }, el("label", { for: "agent" }, "Agent"), agent, command),
        prompt,
        el("div", { class: "row" }, el("button", { id: "start-run", onclick: () => guarded(async () => {
          const body = { prompt: prompt.value, agent: agent.value };
          if (agent.value === "command") body.command = JSON.parse(command.value || "[]");
          const r = await api("POST", `${base}/agent-runs`, body);
          location.hash = `#/s/${encodeURIComponent(id)}/runs/${encodeURIComponent(r.id)}`;
        }) }, "Start agent run"), el("span", { class: "muted" }, "Agents need a session from the 'agent' image."))),
      el("div", { class: "card" }, el("h2", {}, "Executions and background processes"),
        el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, ["Execution", "Language", "Status", "Duration", ""].map((h) => el("th", {}, h)))), executions)),
        el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, ["Process", "Command", "Status", ""].map((h) => el("th", {}, h)))), processes)),
        el("div", { class: "row" }, processCommand, el("button", { id: "start-process", onclick: () => guarded(async () => {
          if (!processCommand.value.trim()) throw new Error("Type a command to run in the background.");
          const p = await api("POST", `${base}/processes`, { command: processCommand.value });
          processCommand.value = "";
          await loadWork();
          await follow("process", p.process_id);
        }) }, "Start in background")),
        el("div", { class: "row" }, el("input", { id: "expose-port", type: "number", min: "1", max: "65535", class: "narrow", placeholder: "8000" }),
          el("button", { id: "expose", class: "secondary", onclick: () => guarded(async () => {
            const port = Number($("#expose-port").value);
            if (!port) throw new Error("Type the port a server in the session listens on.");
            await api("POST", `${base}/expose`, { port });
            await loadInfo();
          }) }, "Expose port"), el("span", { class: "muted" }, "Serves it on an origin of its own, so its pages cannot reach this dashboard or the API; the session itself gets no network.")),
        el("div", { class: "row" }, watchTitle), watchOutput),
      el("div", { class: "card" }, el("h2", {}, "History"),
        el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, ["Event", "At", "Language", "Exit", "Duration", "Output"].map((h, i) => el("th", { class: i === 1 ? "wide" : null }, h)))), history)))));

  await guarded(async () => { await Promise.all([loadInfo(), loadFiles(), loadRuns(), loadHistory(), loadWork()]); });
  every(4000, () => guarded(async () => { await Promise.all([loadInfo(), loadRuns(), loadWork()]); }));
}

function renderEvent(e) {
  // Claude Code stream-json events become readable steps; any other agent's events are shown as they are.
  const items = [];
  const text = (t) => el("div", {}, t);
  if (e.type === "system" && e.subtype === "init") items.push(["system", `Session started · model ${e.model || "default"} · ${(e.tools || []).length} tools`]);
  else if (e.type === "assistant" && e.message && Array.isArray(e.message.content)) {
    for (const b of e.message.content) {
      if (b.type === "text") items.push(["message", b.text]);
      else if (b.type === "tool_use") items.push(["tool_call", el("div", {}, el("strong", {}, b.name), el("pre", {}, JSON.stringify(b.input, null, 2)))]);
    }
  } else if (e.type === "user" && e.message && Array.isArray(e.message.content)) {
    for (const b of e.message.content) {
      if (b.type !== "tool_result") continue;
      const content = typeof b.content === "string" ? b.content : (b.content || []).map((c) => c.text || "").join("\n");
      items.push(["tool_result", el("pre", { class: b.is_error ? "stderr" : null }, content.slice(0, 4000))]);
    }
  } else if (e.type === "result") items.push(["result", `${e.subtype || "done"}: ${e.result || ""}`]);
  else if (e.type === "system") items.push(["system", `${e.subtype || "system"}${e.error ? ": " + e.error : ""}`]);
  else items.push([e.type || "event", e.text !== undefined ? e.text : JSON.stringify(e)]);
  return items.map(([kind, body]) => el("li", { class: kind }, el("div", { class: "kind" }, kind.replace("_", " ")), typeof body === "string" ? text(body) : body));
}

function renderDiff(diff) {
  return el("pre", { class: "diff", id: "diff" }, diff.split("\n").map((line) => el("span", {
    class: line.startsWith("+++") || line.startsWith("---") ? "muted" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : null,
  }, line + "\n")));
}

// A running agent's output, live and read-only, in a terminal view: its steps as they happen (from the run's stream).
function liveAgentView(id, runId, box) {
  const term = new Terminal({ disableStdin: true, convertEol: true, fontSize: 12, scrollback: 10000, theme: { background: "#10131c" } });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(box);
  fit.fit();
  const colors = { tool_call: "36", tool_result: "32", message: "37", result: "35", system: "90", output: "33", commit: "34" };
  const stop = { done: false };
  (async () => {
    try {
      const r = await api("GET", `/api/sessions/${encodeURIComponent(id)}/agent-runs/${encodeURIComponent(runId)}`, undefined,
        { raw: true, headers: { Accept: "text/event-stream" } });
      const line = (s) => term.write(`\x1b[${colors[s.kind] || "37"}m[${s.kind}]\x1b[0m ${s.text}\n`);
      let steps = 0;
      for await (const e of events(r)) {
        if (stop.done) return;
        if (e.type === "step") { steps++; line(e.step); }
        else if (e.type === "result") (steps === 0 ? e.run.steps || [] : []).forEach(line);
        if (e.type === "result") term.write(`\x1b[1m— ${e.run.status}${e.run.exit_code === null || e.run.exit_code === undefined ? "" : ` (exit ${e.run.exit_code})`} —\x1b[0m\n`);
        else if (e.type === "error") term.write(`\x1b[31m${e.error.code}: ${e.error.message}\x1b[0m\n`);
      }
    } catch (err) { if (!stop.done) term.write(`\x1b[31m${err.message}\x1b[0m\n`); }
  })();
  return () => { stop.done = true; term.dispose(); };
}

async function runPage(id, runId) {
  const main = $("#main");
  const liveBox = el("div", { id: "agent-live", class: "terminal-box small" });
  const live = el("div", { class: "card" }, el("h2", {}, "Live output"), liveBox);
  let closeLive = null;
  window.addEventListener("hashchange", () => { if (closeLive) closeLive(); }, { once: true });
  async function load() {
    const r = await api("GET", `/api/sessions/${encodeURIComponent(id)}/agent-runs/${encodeURIComponent(runId)}`);
    main.replaceChildren(
      el("div", { class: "row" }, el("a", { href: `#/s/${encodeURIComponent(id)}` }, "← Session " + id)),
      el("h1", { class: "mono" }, "Agent run " + r.id),
      el("div", { class: "row" }, pill(r.status), el("span", {}, r.agent + (r.model ? ` · ${r.model}` : "")),
        el("span", {}, `${(r.duration_ms / 1000).toFixed(1)} s`), r.turns ? el("span", {}, `${r.turns} turns`) : null,
        r.cost_usd !== undefined && r.cost_usd !== null ? el("span", {}, `$${r.cost_usd.toFixed(4)}`) : null,
        el("span", { class: "muted" }, `started ${ago(r.started_at)}`),
        r.status === "running" ? el("button", { class: "danger", onclick: () => guarded(async () => {
          await api("POST", `/api/sessions/${encodeURIComponent(id)}/agent-runs/${encodeURIComponent(runId)}/cancel`);
          await load();
        }) }, "Cancel") : null),
      el("div", { class: "card" }, el("h2", {}, "Prompt"), el("pre", {}, r.prompt),
        r.final_message ? [el("h2", {}, "Final message"), el("pre", { id: "final-message" }, r.final_message)] : null,
        r.error ? [el("h2", {}, "Error"), el("pre", { class: "stderr" }, r.error)] : null),
      live,
      el("div", { class: "grid" },
        el("div", { class: "card" }, el("h2", {}, `Timeline (${(r.trajectory || []).length} events${r.trajectory_truncated ? ", truncated" : ""})`),
          el("ol", { class: "timeline", id: "timeline" }, (r.trajectory || []).flatMap(renderEvent))),
        el("div", { class: "card" }, el("h2", {}, `Files changed (${r.changes.length})`),
          el("ul", { id: "changes" }, r.changes.map((c) => el("li", { class: "mono" }, `${c.change} ${c.path}${c.binary ? " (binary)" : ""}`))),
          r.diff ? renderDiff(r.diff) : el("p", { class: "muted" }, "No diff."),
          r.diff_truncated ? el("p", { class: "muted" }, "The diff was cut at the server's cap.") : null)));
    if (!closeLive) closeLive = liveAgentView(id, runId, liveBox);
    return r.status;
  }
  await guarded(async () => {
    if ((await load()) === "running") every(2000, () => guarded(async () => { if ((await load()) !== "running") clearTimers(); }));
  });
}

function route() {
  clearTimers();
  showError("");
  refreshHealth();
  const parts = (location.hash.slice(1) || "/").split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "s" && parts[2] === "runs" && parts[3]) return runPage(parts[1], parts[3]);
  if (parts[0] === "s" && parts[1]) return sessionPage(parts[1]);
  return sessionsPage();
}

document.addEventListener("DOMContentLoaded", async () => {
  $("#token-button").addEventListener("click", () => showToken($("#token-panel").hidden));
  $("#token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.token = $("#token-input").value.trim();
    sessionStorage.setItem("sandbox-token", state.token);
    setTerminalCookie();
    showToken(false);
    route();
  });
  window.addEventListener("hashchange", route);
  if (state.token) setTerminalCookie();
  await refreshHealth();
  setInterval(refreshHealth, 10000);
  route();
});
