// Drives the sandbox server with the official MCP TypeScript SDK client, using the client configurations exactly as
// README.md and .vscode/mcp.json give them (only the repository path and the port are substituted).
//   node check.mjs http <name> <base-url>     a config with "url" (Cursor, VS Code) against a running server
//   node check.mjs stdio <name> <base-url>    a config with "command" (Claude Desktop) started over stdio
// <name>: a README block marked <!-- mcp-config: NAME -->, or "vscode" for .vscode/mcp.json.
// Each check lists the tools, creates a session, runs code, and closes the session; exit 0 when all of it worked.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../..");
const [mode, name, base] = process.argv.slice(2);
const port = new URL(base).port;

function config(name) {
  let json;
  if (name === "vscode") {
    json = JSON.parse(readFileSync(resolve(repo, ".vscode/mcp.json"), "utf8")).servers.sandbox;
  } else {
    const readme = readFileSync(resolve(repo, "README.md"), "utf8");
    const marker = `<!-- mcp-config: ${name} -->`;
    const at = readme.indexOf(marker);
    if (at < 0) throw new Error(`README.md has no block marked ${marker}`);
    const block = readme.slice(at).match(/```json\n([\s\S]*?)```/);
    json = JSON.parse(block[1]).mcpServers.sandbox;
  }
  // The README's placeholders: the repository path and the default port.
  const fix = (s) => s.replaceAll("/path/to/repo", repo).replaceAll("127.0.0.1:8080", `127.0.0.1:${port}`);
  return JSON.parse(fix(JSON.stringify(json)));
}

function structured(result, tool) {
  if (result.isError) throw new Error(`${tool} failed: ${JSON.stringify(result.content)}`);
  return result.structuredContent;
}

const entry = config(name);
const transport = mode === "http"
  ? new StreamableHTTPClientTransport(new URL(entry.url))
  : new StdioClientTransport({ command: entry.command, args: entry.args, env: { ...process.env, ...(entry.env ?? {}) }, cwd: here, stderr: "pipe" });
let stderr = "";
if (mode === "stdio") transport.stderr?.on("data", (d) => { stderr += d; });
const client = new Client({ name: "sandbox-mcp-check", version: "1.0.0" });
const timer = setTimeout(() => { console.error(`[mcp-check] ${name}: timed out\n${stderr.slice(-2000)}`); process.exit(1); }, 180_000);
try {
  await client.connect(transport);
  const tools = (await client.listTools()).tools.map((t) => t.name);
  for (const t of ["create_session", "execute_code", "upload_file", "download_file", "close_session", "run_agent"]) {
    if (!tools.includes(t)) throw new Error(`tool ${t} missing; got ${tools.join(", ")}`);
  }
  const session = structured(await client.callTool({ name: "create_session", arguments: {} }), "create_session").session_id;
  const run = structured(await client.callTool({ name: "execute_code", arguments: { session_id: session, code: "x = 6 * 7\nprint(x)" } }), "execute_code");
  if (run.stdout !== "42\n") throw new Error(`execute_code printed ${JSON.stringify(run.stdout)}`);
  structured(await client.callTool({ name: "close_session", arguments: { session_id: session } }), "close_session");
  console.log(`[mcp-check] ${name} (${mode}): ${tools.length} tools, create_session, execute_code -> 42, close_session: ok`);
  await client.close();
  clearTimeout(timer);
  process.exit(0);
} catch (e) {
  console.error(`[mcp-check] ${name} (${mode}): FAILED: ${e.stack ?? e}\n${stderr.slice(-3000)}`);
  process.exit(1);
}
