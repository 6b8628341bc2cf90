// Browser tests of the dashboard in headless Chromium: token prompt, create a session, run code and watch its output
// arrive live, open a preview on its own origin (where nothing of the dashboard's is reachable), type into the
// session's terminal (and find it again after closing it), upload and download a file, open an agent run's timeline and live
// output, close the session; screenshots of each page at
// 1280x800 and one narrow window. Usage: node ui.mjs BASE_URL TOKEN SCREENSHOT_DIR
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const [base, token, shots] = process.argv.slice(2);
let passed = 0;
const log = (m) => console.error(`[ui-check] ${m}`);
async function step(name, fn) {
  try { await fn(); passed++; log(`ok: ${name}`); }
  catch (e) { log(`FAILED: ${name}: ${e.stack ?? e}`); console.log(`ui-check: ${passed} passed, 1 failed`); await browser?.close(); process.exit(1); }
}
function expect(cond, message) { if (!cond) throw new Error(message); }
async function api(method, path, body) {
  const r = await fetch(base + path, { method, headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" }, body: body && JSON.stringify(body) });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r.status === 204 ? null : r.json();
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true,
  // No background traffic: this machine has no route out, and Chromium would otherwise try (and log) at every start.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
const page = await context.newPage();
const consoleErrors = [];
page.on("console", (m) => { if (m.type() === "error" && !m.text().includes("401")) consoleErrors.push(m.text()); });
let sessionId = "";

await step("the dashboard asks for the token and then lists sessions", async () => {
  await page.goto(base + "/");
  await page.locator("#token-panel").waitFor({ state: "visible", timeout: 10000 });
  await page.fill("#token-input", token);
  await page.click("#token-form button");
  await page.locator("#sessions").waitFor({ timeout: 10000 });
  expect(await page.locator("#token-panel").isHidden(), "token panel still shown");
});

await step("sessions show their metadata and the filter keeps only the matching ones", async () => {
  const tagged = await api("POST", "/api/sessions", { metadata: { task: "ui-check-t1" } });
  const other = await api("POST", "/api/sessions", { metadata: { task: "ui-check-t2" } });
  try {
    await page.reload();
    await page.fill("#metadata-filter", "task=ui-check-t1");
    await page.waitForFunction((id) => document.querySelector("#sessions")?.textContent.includes(id), tagged.id, { timeout: 10000 });
    const text = await page.locator("#sessions").textContent();
    expect(text.includes("task=ui-check-t1") && !text.includes(other.id), `the filter kept the wrong sessions: ${text}`);
    await page.fill("#metadata-filter", "");
  } finally {
    await api("DELETE", `/api/sessions/${encodeURIComponent(tagged.id)}`);
    await api("DELETE", `/api/sessions/${encodeURIComponent(other.id)}`);
  }
});

await step("the sessions page lists volumes with their size", async () => {
  const name = "ui-check-" + Math.random().toString(16).slice(2, 8);
  await api("POST", "/api/volumes", { name, size_mb: 4 });
  try {
    await page.reload();
    await page.locator("#volumes").waitFor({ timeout: 10000 });
    await page.waitForFunction((n) => document.querySelector("#volumes")?.textContent.includes(n), name, { timeout: 10000 });
    expect((await page.locator("#volumes").textContent()).includes("4 MiB"), "the volume's size is not shown");
  } finally {
    await api("DELETE", `/api/volumes/${name}`);
  }
});

await step("create a session from the sessions page", async () => {
  await page.selectOption("#new-image", "python");
  await page.click("#create-session");
  await page.waitForURL(/#\/s\//, { timeout: 30000 });
  sessionId = decodeURIComponent(page.url().split("#/s/")[1]);
  await page.locator("#files").waitFor();
});

await step("run code and see its output appear live", async () => {
  await page.fill("#code", "import time\nfor i in range(3):\n    print('tick', i, flush=True)\n    time.sleep(1)");
  await page.click("#run");
  await page.waitForFunction(() => document.querySelector("#output").textContent.includes("tick 0"), null, { timeout: 15000 });
  const whileRunning = await page.textContent("#run-status");
  const early = await page.textContent("#output");
  expect(whileRunning.includes("running"), `status was "${whileRunning}" when the first line arrived`);
  expect(!early.includes("tick 2"), "all output arrived at once, not live");
  await page.waitForFunction(() => document.querySelector("#run-status").textContent.includes("exit 0"), null, { timeout: 20000 });
  expect((await page.textContent("#output")) === "tick 0\ntick 1\ntick 2\n", "unexpected output");
});

await step("start a background process, follow its output live, and kill it", async () => {
  await page.fill("#process-command", "for i in 1 2 3 4 5 6 7 8 9 10; do echo bg$i; sleep 1; done");
  await page.click("#start-process");
  await page.waitForFunction(() => document.querySelector("#watch-output").textContent.includes("bg1"), null, { timeout: 15000 });
  const early = await page.textContent("#watch-output");
  expect(!early.includes("bg10"), "all output arrived at once, not live");
  await page.waitForFunction(() => document.querySelector("#watch-output").textContent.includes("bg3"), null, { timeout: 15000 });
  await page.locator('#processes button:has-text("Kill")').first().click();
  await page.waitForFunction(() => document.querySelector("#processes").textContent.includes("exit"), null, { timeout: 15000 });
  // The execution run earlier is listed, and following it replays its output.
  await page.locator("#executions a[data-execution]").first().click();
  await page.waitForFunction(() => document.querySelector("#watch-output").textContent.includes("tick 2"), null, { timeout: 15000 });
});

await step("expose a web server, open it on its own origin, and find nothing of the dashboard's there", async () => {
  const put = await fetch(`${base}/api/sessions/${encodeURIComponent(sessionId)}/files/site/index.html`,
    { method: "PUT", headers: { Authorization: `Bearer ${token}` }, body: "<h1 id='preview'>served from the sandbox</h1>" });
  expect(put.ok, `upload answered ${put.status}`);
  await api("POST", `/api/sessions/${encodeURIComponent(sessionId)}/processes`, { argv: ["python3", "-m", "http.server", "8000", "--bind", "127.0.0.1"], cwd: "site" });
  await page.fill("#expose-port", "8000");
  await page.click("#expose");
  await page.locator('a[data-port="8000"]').waitFor({ timeout: 10000 });
  // The dashboard holds its terminal cookie (set with the token) while the preview page tries to use it.
  const [preview] = await Promise.all([context.waitForEvent("page"), page.click('a[data-port="8000"]')]);
  await preview.waitForURL(/^http:\/\/8000-[0-9a-f]{32}\.localhost:\d+\/$/, { timeout: 15000 });
  let ok = false;
  for (let i = 0; i < 50 && !ok; i++) {
    ok = (await preview.textContent("body").catch(() => "")).includes("served from the sandbox");
    if (!ok) { await new Promise((f) => setTimeout(f, 200)); await preview.reload(); }
  }
  expect(ok, "the preview page did not show the session's page");
  const seen = await preview.evaluate(async ([api, id]) => {
    const attempt = async (f) => { try { return await f(); } catch (e) { return "refused"; } };
    const socket = () => new Promise((done) => {
      const ws = new WebSocket(api.replace(/^http/, "ws") + `/api/sessions/${encodeURIComponent(id)}/terminal`);
      ws.onopen = () => { ws.close(); done("opened"); };
      ws.onerror = () => done("refused");
    });
    return {
      cookies: document.cookie,
      stored: sessionStorage.getItem("sandbox-token"),
      sessions: await attempt(async () => (await fetch(api + "/api/sessions", { credentials: "include" })).status),
      terminal: await socket(),
      own: (await fetch("/")).status,
    };
  }, [base, sessionId]);
  expect(seen.cookies === "" && seen.stored === null, `the preview page sees ${JSON.stringify(seen)}`);
  expect(seen.sessions === "refused" && seen.terminal === "refused", `the preview page reached the API: ${JSON.stringify(seen)}`);
  expect(seen.own === 200, `the preview page cannot fetch its own origin: ${JSON.stringify(seen)}`);
  await preview.close();
});

await step("upload a file and download it again", async () => {
  const content = "uploaded through the dashboard\n";
  await page.setInputFiles("#upload", { name: "hello.txt", mimeType: "text/plain", buffer: Buffer.from(content) });
  await page.click("#upload-button");
  await page.locator('#files button[data-file="hello.txt"]').waitFor({ timeout: 10000 });
  const [download] = await Promise.all([page.waitForEvent("download"), page.click('#files button[data-file="hello.txt"]')]);
  expect(download.suggestedFilename() === "hello.txt", `downloaded ${download.suggestedFilename()}`);
  expect(readFileSync(await download.path(), "utf8") === content, "downloaded content differs");
  await page.screenshot({ path: `${shots}/session.png`, fullPage: true });
});

await step("save a snapshot, see it on the sessions page, and start a session from it with the same files", async () => {
  await page.click("#save-snapshot");
  await page.waitForFunction(() => document.querySelector("#save-snapshot").textContent.startsWith("Saved snap-"), null, { timeout: 20000 });
  const snapshot = (await page.textContent("#save-snapshot")).replace("Saved ", "");
  await page.goto(base + "/#/");
  await page.locator(`#snapshots button[data-snapshot="${snapshot}"]`).click();
  await page.waitForURL((u) => u.toString().includes("#/s/") && !u.toString().includes(encodeURIComponent(sessionId)), { timeout: 30000 });
  await page.locator('#files button[data-file="hello.txt"]').waitFor({ timeout: 15000 });
  const copy = decodeURIComponent(page.url().split("#/s/")[1]);
  await api("DELETE", `/api/sessions/${encodeURIComponent(copy)}`);
  await api("DELETE", `/api/snapshots/${encodeURIComponent(snapshot)}`);
  await page.goto(`${base}/#/s/${encodeURIComponent(sessionId)}`);
  await page.locator("#files").waitFor();
});

await step("type echo $((6*7)) into the session's terminal and see 42; Ctrl-C stops a command", async () => {
  await page.goto(`${base}/#/s/${encodeURIComponent(sessionId)}`);
  await page.locator("#files").waitFor();
  await page.click("#open-terminal");
  await page.waitForFunction(() => document.querySelector("#terminal-status").textContent === "connected", null, { timeout: 15000 });
  await page.locator("#terminal .xterm").click();
  const rowIs = (text) => page.waitForFunction((t) => [...document.querySelectorAll("#terminal .xterm-rows > div")].some((r) => r.textContent.trim() === t), text, { timeout: 15000 });
  await page.waitForFunction(() => document.querySelector("#terminal .xterm-rows").textContent.includes("$"), null, { timeout: 15000 });
  await page.keyboard.type("echo $((6*7))");
  await page.keyboard.press("Enter");
  await rowIs("42");
  await page.keyboard.type("sleep 30");
  await page.keyboard.press("Enter");
  await page.waitForTimeout(500);
  const interrupted = Date.now();
  await page.keyboard.press("Control+C");
  await page.keyboard.type("echo after-ctrl-c");
  await page.keyboard.press("Enter");
  await rowIs("after-ctrl-c");
  expect(Date.now() - interrupted < 15000, "Ctrl-C did not stop sleep");
  await page.screenshot({ path: `${shots}/terminal.png`, fullPage: true });
  await page.click("#open-terminal");
  expect(await page.locator("#terminal").isHidden(), "the terminal did not close");
  // Closing the panel detached: the shell went on, and opening it again shows its screen as it was.
  await page.click("#open-terminal");
  await page.waitForFunction(() => document.querySelector("#terminal-status").textContent === "connected", null, { timeout: 15000 });
  await rowIs("after-ctrl-c");
  const terminals = await api("GET", `/api/sessions/${encodeURIComponent(sessionId)}/terminals`);
  expect(terminals.length === 1 && terminals[0].viewers === 1, `terminals: ${JSON.stringify(terminals)}`);
  await page.click("#open-terminal");
});

await step("open an agent run's timeline: Claude Code's messages, tool calls, results and the diff", async () => {
  // The real Claude Code CLI in an agent session; only the model is scripted (deploy/ui-check/model.mjs).
  const agentSession = await api("POST", "/api/sessions", { image: "agent" });
  const run = await api("POST", `/api/sessions/${encodeURIComponent(agentSession.id)}/agent-runs?wait=true`, { prompt: "Write hello.py that prints a greeting, then run it.", timeout_seconds: 180 });
  expect(run.status === "succeeded", `agent run ${run.status}: ${run.error}`);
  await page.goto(`${base}/#/s/${encodeURIComponent(agentSession.id)}`);
  await page.locator(`#runs a:has-text("${run.id}")`).click();
  await page.locator("#timeline li.tool_call").nth(1).waitFor({ timeout: 10000 });
  const calls = await page.locator("#timeline li.tool_call strong").allTextContents();
  expect(JSON.stringify(calls) === JSON.stringify(["Write", "Bash"]), `tool calls shown: ${calls}`);
  const results = await page.locator("#timeline li.tool_result").allTextContents();
  expect(results.some((r) => r.includes("hello from the agent")), "the Bash result is not shown");
  expect((await page.locator("#timeline li.message").allTextContents()).some((m) => m.includes("Done: hello.py prints a greeting.")), "the final message is not in the timeline");
  expect((await page.textContent("#diff")).includes("+print('hello from the agent')"), "diff missing");
  expect((await page.textContent("#changes")).includes("added hello.py"), "changed files missing");
  // The run's output in the read-only terminal view (live while a run runs; its steps once it ended).
  // (xterm.js draws spaces as no-break spaces, and only while the terminal is in view.)
  await page.locator("#agent-live").scrollIntoViewIfNeeded();
  const liveText = () => page.evaluate(() => (document.querySelector("#agent-live .xterm-rows")?.textContent || "").replace(/\u00a0/g, " "));
  await page.waitForFunction(() => (document.querySelector("#agent-live .xterm-rows")?.textContent || "").replace(/\u00a0/g, " ").includes("[tool_call] Write"), null, { timeout: 15000 })
    .catch(async (e) => { throw new Error(`${e.message}; the live view shows: ${await liveText()}`); });
  expect((await liveText()).includes("succeeded"), "the live view does not show the run's end");
  await page.screenshot({ path: `${shots}/agent-run.png`, fullPage: true });
  await api("DELETE", `/api/sessions/${encodeURIComponent(agentSession.id)}`);
});

await step("talk to Claude Code in the terminal, leave while it works, find its finished screen on return; a second tab watches", async () => {
  // Claude Code's own interface in a terminal the session holds (the same scripted model as above).
  const agentSession = await api("POST", "/api/sessions", { image: "agent" });
  const sid = encodeURIComponent(agentSession.id);
  const screenOf = (p) => p.evaluate(() => (document.querySelector("#terminal .xterm-rows")?.textContent || "").replace(/\u00a0/g, " "));
  const drawn = (p, text, timeout) => p.waitForFunction((t) => (document.querySelector("#terminal .xterm-rows")?.textContent || "")
    .replace(/\u00a0/g, " ").includes(t), text, { timeout }).catch(async (e) => { throw new Error(`${e.message}; the terminal shows: ${await screenOf(p)}`); });
  await page.goto(`${base}/#/s/${sid}`);
  await page.locator("#files").waitFor();
  await page.selectOption("#terminal-kind", "claude-code");
  await page.click("#open-terminal");
  await page.waitForFunction(() => document.querySelector("#terminal-status").textContent === "connected", null, { timeout: 30000 });
  await drawn(page, "bypass permissions", 90000);
  await page.locator("#terminal .xterm").click();
  await page.keyboard.type("Write hello.py that prints a greeting, then run it.");
  await page.waitForTimeout(300);
  await page.keyboard.press("Enter");
  await page.waitForTimeout(1000);
  // Leave at once: closing the panel detaches, and the agent works on unattended.
  await page.click("#open-terminal");
  const deadline = Date.now() + 120000;
  for (;;) {
    const files = await api("GET", `/api/sessions/${sid}/files`);
    if (files.some((f) => f.name === "hello.py")) break;
    expect(Date.now() < deadline, "the agent wrote no hello.py while nobody was attached");
    await page.waitForTimeout(1000);
  }
  const terminals = await api("GET", `/api/sessions/${sid}/terminals`);
  expect(terminals.length === 1 && terminals[0].kind === "claude-code" && terminals[0].viewers === 0, `terminals: ${JSON.stringify(terminals)}`);
  // Back again: the screen as it is now, with the agent's answer.
  await page.click("#open-terminal");
  await page.waitForFunction(() => document.querySelector("#terminal-status").textContent === "connected", null, { timeout: 30000 });
  await drawn(page, "hello.py prints a greeting", 90000);
  // A second tab attaches while this one types: it watches, read-only.
  const second = await context.newPage();
  await second.goto(`${base}/#/s/${sid}`);
  // A new tab has no token yet (the dashboard keeps it per tab): it asks.
  await second.locator("#token-panel").waitFor({ state: "visible", timeout: 10000 });
  await second.fill("#token-input", token);
  await second.click("#token-form button");
  await second.locator("#files").waitFor();
  await second.selectOption("#terminal-kind", "claude-code");
  await second.click("#open-terminal");
  await second.waitForFunction(() => document.querySelector("#terminal-status").textContent.startsWith("watching"), null, { timeout: 30000 });
  await drawn(second, "hello.py prints a greeting", 30000);
  await page.screenshot({ path: `${shots}/agent-terminal.png`, fullPage: true });
  await second.close();
  await page.click("#open-terminal");
  // Off the session's page first: a page still polling a closed session would log its 404s.
  await page.goto(base + "/#/");
  await page.locator("#sessions").waitFor({ timeout: 10000 });
  await api("DELETE", `/api/sessions/${sid}`);
});

await step("the sessions page lists the session; screenshots", async () => {
  await page.goto(base + "/#/");
  await page.locator(`#sessions a:has-text("${sessionId}")`).waitFor({ timeout: 10000 });
  await page.screenshot({ path: `${shots}/sessions.png`, fullPage: true });
});

await step("a narrow window needs no horizontal scrolling", async () => {
  await page.setViewportSize({ width: 400, height: 800 });
  await page.goto(`${base}/#/s/${encodeURIComponent(sessionId)}`);
  await page.locator("#files").waitFor();
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(width <= 401, `page is ${width}px wide in a 400px window`);
  await page.screenshot({ path: `${shots}/session-narrow.png`, fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
});

await step("close the session from its page", async () => {
  await page.goto(`${base}/#/s/${encodeURIComponent(sessionId)}`);
  await page.locator("#close-session").click();
  await page.waitForURL(/#\/$/, { timeout: 10000 });
  const sessions = await api("GET", "/api/sessions");
  expect(!sessions.some((s) => s.id === sessionId), "session still listed");
  expect(consoleErrors.length === 0, "console errors: " + consoleErrors.join(" | "));
});

await browser.close();
console.log(`ui-check: ${passed} passed, 0 failed`);
