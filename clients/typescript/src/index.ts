/**
 * TypeScript client of the sandbox server's REST API: sessions, code execution (with streaming), files and archives,
 * links, processes, ports, snapshots, agent runs and jobs. It uses only `fetch`, so it runs in Node 18+ and browsers.
 * Every refusal is a {@link SandboxError} carrying the server's stable problem `code`.
 */

/** A request the server refused or could not do; `code` is the server's problem code (or `http_<status>`, `unreachable`). */
export class SandboxError extends Error {
  constructor(readonly code: string, message: string, readonly status?: number, readonly details?: unknown) {
    super(`${code}: ${message}`);
    this.name = "SandboxError";
  }
}

/** A session as the server reports it (snake_case, as on the wire). */
export interface SessionInfo {
  id: string;
  image: string;
  name?: string | null;
  status: string;
  metadata: Record<string, string>;
  env: Record<string, string>;
  limits: Record<string, unknown>;
  isolation: string;
  expires_at?: string;
  [key: string]: unknown;
}

/** What an execution printed and how it ended (`status` is `running` when it outlasted the wait). */
export interface ExecutionResult {
  execution_id: string;
  stdout: string;
  stderr: string;
  exit_code?: number | null;
  error?: { type: string; message: string; traceback?: string | null } | null;
  timed_out: boolean;
  truncated: boolean;
  state_lost: boolean;
  duration_ms: number;
  status: string;
  images: unknown[];
  /** What autoInstall installed before the code ran. */
  auto_installed?: { name: string; version: string; manager: string; cached: boolean; bytes: number }[];
  [key: string]: unknown;
}

/** A named volume. */
export interface Volume {
  name: string;
  size_mb: number;
  used_bytes: number;
  files: number;
  created_at: string;
  updated_at: string;
  mounts: { session_id: string; read_only: boolean; path: string }[];
}

/** One event of a streamed execution. */
export interface ExecutionEvent {
  type: "output" | "image" | "result" | "error" | string;
  stream?: string;
  text?: string;
  result?: ExecutionResult;
  error?: { code: string; message: string };
  cursor?: number;
}

export interface FileEntry { name: string; path: string; kind: string; size: number; modified_at?: string }
export interface ArchiveExtraction { path: string; files: number; directories: number; links: number; bytes: number }
export interface ProcessInfo { process_id: string; command: string; running: boolean; exit_code?: number | null; [key: string]: unknown }
export interface ProcessOutput { process: ProcessInfo; stdout: string; stderr: string; stdout_cursor: number; stderr_cursor: number }
export interface Snapshot { snapshot_id: string; name: string; source_session_id: string; image: string; size_bytes: number; files: number; created_at: string }
export interface AgentRun {
  id: string; session_id: string; agent: string; status: string; final_message?: string | null; summary?: string | null;
  error?: string | null; changes: { path: string; change: string; binary: boolean; size: number }[]; diff: string;
  cost_usd?: number | null; duration_ms: number; [key: string]: unknown;
}
export interface AgentJob { id: string; session_id: string; status: string; run: AgentRun; links: Record<string, string> }
export interface SessionChanges {
  session_id: string; summary: { text: string; files_added: number; files_modified: number; files_deleted: number; lines_added: number; lines_removed: number; commits: number };
  changes: { path: string; change: string; binary: boolean; size: number }[]; diff: string; truncated: boolean; runs: number; final_message?: string | null;
}

/** Options of a new session (the server's create request; anything else it takes goes in `extra`). */
export interface CreateSessionOptions {
  image?: string;
  name?: string;
  metadata?: Record<string, string>;
  env?: Record<string, string>;
  memoryMb?: number;
  cpus?: number;
  networkAllow?: string[];
  idleTimeoutSeconds?: number;
  /** Named volumes to mount: read-only ones are shared; one session at a time writes a volume (saved back when it closes). */
  volumes?: { name: string; path: string; read_only?: boolean }[];
  extra?: Record<string, unknown>;
}

/** Options of an execution. */
export interface ExecuteOptions {
  language?: "python" | "bash" | "node" | string;
  timeoutSeconds?: number;
  fresh?: boolean;
  waitSeconds?: number;
  /** Install what the code imports and the session lacks first (python, node); listed in `auto_installed`. */
  autoInstall?: boolean;
  /** Import or package names autoInstall leaves alone. */
  autoInstallIgnore?: string[];
}

/** Options of an agent run, in the server's spelling (`max_turns`, `skills`, `mcp_servers`, `allowed_tools` …). */
export type AgentOptions = Record<string, unknown>;

export interface ClientOptions {
  /** A bearer token, when the server asks for one. */
  token?: string;
  /** Another fetch (a test double, a proxy-aware one). */
  fetch?: typeof fetch;
}

const enc = encodeURIComponent;
const pathOf = (path: string) => path.replace(/^\/+|\/+$/g, "").split("/").map(enc).join("/");
const clean = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null));

function base64(data: Uint8Array): string {
  let text = "";
  for (let i = 0; i < data.length; i += 0x8000) {
    text += String.fromCharCode(...data.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

async function errorOf(r: Response): Promise<SandboxError> {
  const text = await r.text();
  try {
    const problem = JSON.parse(text) as { code?: string; detail?: string; title?: string; details?: unknown };
    return new SandboxError(problem.code ?? `http_${r.status}`, problem.detail ?? problem.title ?? r.statusText, r.status, problem.details);
  } catch {
    return new SandboxError(`http_${r.status}`, `HTTP ${r.status} ${r.statusText}`, r.status);
  }
}

/** The client of one sandbox server. */
export class SandboxClient {
  private readonly base: string;
  private readonly fetcher: typeof fetch;
  private readonly headers: Record<string, string>;

  constructor(baseUrl: string, options: ClientOptions = {}) {
    this.base = baseUrl.replace(/\/+$/, "");
    this.fetcher = options.fetch ?? fetch.bind(globalThis);
    this.headers = options.token ? { authorization: `Bearer ${options.token}` } : {};
  }

  /** @internal Sends one request; a refusal becomes a SandboxError. */
  async request(method: string, path: string, init: { json?: unknown; body?: Uint8Array; params?: Record<string, string>; accept?: string } = {}): Promise<Response> {
    const query = init.params && Object.keys(init.params).length > 0 ? "?" + new URLSearchParams(init.params).toString() : "";
    const headers: Record<string, string> = { ...this.headers };
    let body: BodyInit | undefined;
    if (init.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(init.json);
    } else if (init.body !== undefined) {
      headers["content-type"] = "application/octet-stream";
      body = init.body as unknown as BodyInit;
    }
    if (init.accept) {
      headers.accept = init.accept;
    }
    let r: Response;
    try {
      r = await this.fetcher(this.base + path + query, { method, headers, body });
    } catch (e) {
      throw new SandboxError("unreachable", String(e));
    }
    if (!r.ok) {
      throw await errorOf(r);
    }
    return r;
  }

  /** @internal */
  async json<T>(method: string, path: string, init: Parameters<SandboxClient["request"]>[2] = {}): Promise<T> {
    const r = await this.request(method, path, init);
    const text = await r.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** A new session (`python` by default; `agent` for coding agents). */
  async createSession(options: CreateSessionOptions = {}): Promise<Session> {
    const body: Record<string, unknown> = clean({
      image: options.image, name: options.name, metadata: options.metadata, env: options.env, idle_timeout_seconds: options.idleTimeoutSeconds,
      volumes: options.volumes,
    });
    if (options.memoryMb !== undefined || options.cpus !== undefined) {
      body.limits = clean({ memory_mb: options.memoryMb, cpus: options.cpus });
    }
    if (options.networkAllow) {
      body.network = { allow: options.networkAllow };
    }
    Object.assign(body, options.extra ?? {});
    return new Session(this, await this.json<SessionInfo>("POST", "/api/sessions", { json: body }));
  }

  /** A handle on an existing session. */
  async session(id: string): Promise<Session> {
    return new Session(this, await this.json<SessionInfo>("GET", `/api/sessions/${enc(id)}`));
  }

  /** Your live sessions (those whose metadata has every given key and value). */
  listSessions(metadata: Record<string, string> = {}): Promise<SessionInfo[]> {
    const params = Object.fromEntries(Object.entries(metadata).map(([k, v]) => [`metadata.${k}`, v]));
    return this.json<SessionInfo[]>("GET", "/api/sessions", { params });
  }

  listSnapshots(): Promise<Snapshot[]> {
    return this.json<Snapshot[]>("GET", "/api/snapshots");
  }

  /** An empty named volume: storage that outlives sessions (mount it with `createSession({ volumes: [{ name, path, read_only }] })`). */
  createVolume(name: string, sizeMb?: number): Promise<Volume> {
    return this.json<Volume>("POST", "/api/volumes", { json: clean({ name, size_mb: sizeMb }) });
  }

  listVolumes(): Promise<Volume[]> {
    return this.json<Volume[]>("GET", "/api/volumes");
  }

  /** Deletes a volume (`force`: even while sessions mount it). */
  async deleteVolume(name: string, force = false): Promise<void> {
    await this.request("DELETE", `/api/volumes/${encodeURIComponent(name)}`, { params: force ? { force: "true" } : {} });
  }

  /** Writes one file into a volume without a session (refused while a session mounts it read-write). */
  uploadVolumeFile(name: string, path: string, data: Uint8Array | string): Promise<Volume> {
    const body = typeof data === "string" ? new TextEncoder().encode(data) : data;
    return this.json<Volume>("PUT", `/api/volumes/${encodeURIComponent(name)}/files/${pathOf(path)}`, { body });
  }

  async downloadVolumeFile(name: string, path: string): Promise<Uint8Array> {
    const r = await this.request("GET", `/api/volumes/${encodeURIComponent(name)}/files/${pathOf(path)}`);
    return new Uint8Array(await r.arrayBuffer());
  }

  /** A whole agent job: a new session, the archive unpacked into it, the run; waits for the end unless `wait` is false. */
  runAgentJob(prompt: string, options: AgentOptions & { editableArchive?: Uint8Array; editablePath?: string; session?: Record<string, unknown>; wait?: boolean } = {}): Promise<AgentJob> {
    const { editableArchive, editablePath, session, wait = true, ...run } = options;
    const body = clean({
      run: { prompt, ...run }, session: session ?? {}, editable_path: editablePath,
      editable_archive_base64: editableArchive ? base64(editableArchive) : undefined,
    });
    return this.json<AgentJob>("POST", "/api/jobs", { json: body, params: wait ? { wait: "true" } : {} });
  }

  getAgentJob(id: string, wait = false): Promise<AgentJob> {
    return this.json<AgentJob>("GET", `/api/jobs/${enc(id)}`, { params: wait ? { wait: "true" } : {} });
  }
}

/** A handle on one session; `info` is what the server said last. */
export class Session {
  constructor(private readonly client: SandboxClient, public info: SessionInfo) {}

  get id(): string {
    return this.info.id;
  }

  private get path(): string {
    return `/api/sessions/${enc(this.info.id)}`;
  }

  async refresh(): Promise<SessionInfo> {
    return (this.info = await this.client.json<SessionInfo>("GET", this.path));
  }

  /** Replaces the metadata and/or environment (a new environment restarts the Python interpreter). */
  async update(change: { metadata?: Record<string, string>; env?: Record<string, string> }): Promise<SessionInfo> {
    return (this.info = await this.client.json<SessionInfo>("PATCH", this.path, { json: clean(change) }));
  }

  async close(): Promise<void> {
    await this.client.request("DELETE", this.path);
  }

  /** Runs code (`python` by default, stateful; `bash`; `node` where the image has it). */
  execute(code: string, options: ExecuteOptions = {}): Promise<ExecutionResult> {
    return this.client.json<ExecutionResult>("POST", `${this.path}/execute`, { json: executeBody(code, options) });
  }

  /** Runs code and yields its events as they happen: `output` … then `result`. */
  async *executeStream(code: string, options: ExecuteOptions = {}): AsyncGenerator<ExecutionEvent> {
    const r = await this.client.request("POST", `${this.path}/execute`, { json: executeBody(code, options), accept: "application/x-ndjson" });
    if (!r.body) {
      throw new SandboxError("protocol_error", "the server sent no stream");
    }
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    let pending = "";
    for (;;) {
      const { value, done } = await reader.read();
      pending += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (line) {
          const event = JSON.parse(line) as ExecutionEvent;
          if (event.type === "error" && event.error) {
            throw new SandboxError(event.error.code, event.error.message);
          }
          yield event;
        }
      }
      if (done) {
        if (pending.trim()) {
          yield JSON.parse(pending) as ExecutionEvent;
        }
        return;
      }
    }
  }

  getExecution(executionId: string, waitSeconds?: number): Promise<ExecutionResult> {
    return this.client.json("GET", `${this.path}/executions/${enc(executionId)}`, { params: waitSeconds === undefined ? {} : { wait_seconds: String(waitSeconds) } });
  }

  /** Writes a file (text as UTF-8). */
  upload(path: string, data: Uint8Array | string): Promise<FileEntry> {
    const body = typeof data === "string" ? new TextEncoder().encode(data) : data;
    return this.client.json("PUT", `${this.path}/files/${pathOf(path)}`, { body });
  }

  async download(path: string): Promise<Uint8Array> {
    const r = await this.client.request("GET", `${this.path}/files/${pathOf(path)}`);
    return new Uint8Array(await r.arrayBuffer());
  }

  async listFiles(directory = "", recursive = false): Promise<FileEntry[]> {
    const params: Record<string, string> = recursive ? { dir: directory, recursive: "true" } : { dir: directory };
    const answer = await this.client.json<FileEntry[] | { entries: FileEntry[] }>("GET", `${this.path}/files`, { params });
    return Array.isArray(answer) ? answer : answer.entries;
  }

  /** Lines of the workspace's text files matching a regular expression (or plain text with `fixed`). */
  searchCode(pattern: string, options: { path?: string; fixed?: boolean; ignoreCase?: boolean; maxMatches?: number } = {}):
    Promise<{ matches: { path: string; line: number; text: string }[]; truncated: boolean }> {
    return this.client.json("GET", `${this.path}/search`, {
      params: { pattern, path: options.path ?? "", fixed: String(options.fixed ?? false), ignore_case: String(options.ignoreCase ?? false), max_matches: String(options.maxMatches ?? 200) },
    });
  }

  async deleteFile(path: string): Promise<void> {
    await this.client.request("DELETE", `${this.path}/files/${pathOf(path)}`);
  }

  /** Unpacks a zip, tar or tar.gz into a workspace folder (checked inside the sandbox; hostile archives are refused). */
  uploadArchive(archive: Uint8Array, directory = ""): Promise<ArchiveExtraction> {
    const target = directory.replace(/^\/+|\/+$/g, "") ? `${this.path}/archive/${pathOf(directory)}` : `${this.path}/archive`;
    return this.client.json("PUT", target, { body: archive });
  }

  /** A workspace folder as a `zip` or `tar.gz`. */
  async downloadArchive(directory = "", format: "zip" | "tar.gz" = "zip"): Promise<Uint8Array> {
    const r = await this.client.request("GET", `${this.path}/editable.${format}`, { params: directory ? { path: directory } : {} });
    return new Uint8Array(await r.arrayBuffer());
  }

  /** A signed link to download (GET) or upload (PUT) a file without the API's credentials. */
  fileUrl(path: string, method: "GET" | "PUT" = "GET", expiresSeconds?: number): Promise<{ url: string; path: string; method: string; expires_at: string }> {
    return this.client.json("POST", `${this.path}/links`, { json: clean({ path, method, expires_seconds: expiresSeconds }) });
  }

  /** A background process: a shell line, or an argument vector. */
  startProcess(command: string | string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<ProcessInfo> {
    const body = clean({ cwd: options.cwd, env: options.env, ...(typeof command === "string" ? { command } : { argv: command }) });
    return this.client.json("POST", `${this.path}/processes`, { json: body });
  }

  processOutput(processId: string, cursors: { stdout?: number; stderr?: number; waitSeconds?: number } = {}): Promise<ProcessOutput> {
    return this.client.json("GET", `${this.path}/processes/${enc(processId)}/output`, {
      params: { stdout_cursor: String(cursors.stdout ?? 0), stderr_cursor: String(cursors.stderr ?? 0), wait_seconds: String(cursors.waitSeconds ?? 0) },
    });
  }

  killProcess(processId: string): Promise<ProcessInfo> {
    return this.client.json("DELETE", `${this.path}/processes/${enc(processId)}`);
  }

  async exposePort(port: number): Promise<SessionInfo> {
    return (this.info = await this.client.json<SessionInfo>("POST", `${this.path}/expose`, { json: { port } }));
  }

  /** A link that opens the exposed port's server in a browser. */
  openPreview(port: number): Promise<{ url: string; origin: string; expires_at: string }> {
    return this.client.json("POST", `${this.path}/ports/${port}/grant`);
  }

  snapshot(name?: string): Promise<Snapshot> {
    return this.client.json("POST", `${this.path}/snapshots`, { json: clean({ name }) });
  }

  async fork(count = 1): Promise<Session[]> {
    const infos = await this.client.json<SessionInfo[]>("POST", `${this.path}/fork`, { json: { count } });
    return infos.map(info => new Session(this.client, info));
  }

  /** Runs a coding agent here (image `agent`); waits for the end unless `wait` is false. */
  runAgent(prompt: string, options: AgentOptions & { wait?: boolean } = {}): Promise<AgentRun> {
    const { wait = true, ...run } = options;
    return this.client.json("POST", `${this.path}/agent-runs`, { json: { prompt, ...run }, params: wait ? { wait: "true", trajectory: "false" } : {} });
  }

  getAgentRun(runId: string): Promise<AgentRun> {
    return this.client.json("GET", `${this.path}/agent-runs/${enc(runId)}`, { params: { trajectory: "false" } });
  }

  /** What changed since before the first agent run (or since a snapshot). */
  diff(path?: string, against?: string): Promise<SessionChanges> {
    return this.client.json("GET", `${this.path}/diff${path ? "/" + pathOf(path) : ""}`, { params: against ? { against } : {} });
  }
}

function executeBody(code: string, o: ExecuteOptions): Record<string, unknown> {
  return clean({
    code, language: o.language, timeout_seconds: o.timeoutSeconds, fresh: o.fresh, wait_seconds: o.waitSeconds,
    auto_install: o.autoInstall, auto_install_ignore: o.autoInstallIgnore,
  });
}
