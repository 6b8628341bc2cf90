"""The synchronous client: ``SandboxClient`` and the ``Session`` handles it gives out."""
from __future__ import annotations

import json
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Union

import httpx

from . import _calls as calls
from ._calls import Bytes, Call
from ._errors import SandboxError, error_from_response
from ._models import (AgentJob, AgentRun, ArchiveExtraction, ExecutionEvent, ExecutionResult, FileEntry, ProcessInfo, ProcessOutput,
                      SessionInfo, Snapshot)

DEFAULT_TIMEOUT = 600.0


def _headers(token: Optional[str]) -> Dict[str, str]:
    headers = {"user-agent": "sandbox-client-python/0.1"}
    if token:
        headers["authorization"] = "Bearer " + token
    return headers


class SandboxClient:
    """A client of one sandbox server over its REST API. Use it as a context manager (or call ``close``)::

        with SandboxClient("http://127.0.0.1:8080") as c:
            s = c.create_session(metadata={"task": "t1"})
            print(s.execute("print(6*7)").stdout)
            s.close()
    """

    def __init__(self, base_url: str, token: Optional[str] = None, timeout: float = DEFAULT_TIMEOUT,
                 http: Optional[httpx.Client] = None) -> None:
        self._http = http or httpx.Client(base_url=base_url.rstrip("/"), headers=_headers(token), timeout=timeout)

    def __enter__(self) -> "SandboxClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Closes the HTTP connections (sessions stay open on the server until closed or idle)."""
        self._http.close()

    def _send(self, call: Call) -> Any:
        try:
            r = self._http.request(call.method, call.path, json=call.json, content=call.content, params=call.params or None,
                                   headers=call.headers or None)
        except httpx.HTTPError as e:
            raise SandboxError("unreachable", f"{type(e).__name__}: {e}") from e
        if r.status_code >= 400:
            raise error_from_response(r.status_code, r.reason_phrase, r.content)
        if call.raw:
            return r.content
        return call.read(r.json() if r.content else None)

    # Sessions ------------------------------------------------------------------------------------------------------

    def create_session(self, image: Optional[str] = None, *, name: Optional[str] = None, metadata: Optional[Mapping[str, str]] = None,
                       env: Optional[Mapping[str, str]] = None, memory_mb: Optional[int] = None, cpus: Optional[float] = None,
                       network_allow: Optional[Sequence[str]] = None, idle_timeout_seconds: Optional[int] = None,
                       **extra: Any) -> "Session":
        """A new session (``image``: ``python`` by default, ``agent`` for coding agents). ``extra`` takes any other field of the
        server's create request (``git``, ``setup``, ``context``, ``context_archives``, ``isolation`` …)."""
        info = self._send(calls.create_session(image, name, metadata, env, memory_mb, cpus, network_allow, idle_timeout_seconds, extra))
        return Session(self, info)

    def session(self, session_id: str) -> "Session":
        """A handle on an existing session."""
        return Session(self, self._send(calls.get_session(session_id)))

    def list_sessions(self, metadata: Optional[Mapping[str, str]] = None) -> List[SessionInfo]:
        """Your live sessions (those whose metadata has every given key and value)."""
        return self._send(calls.list_sessions(metadata))

    def list_snapshots(self) -> List[Snapshot]:
        """Your saved workspaces."""
        return self._send(calls.list_snapshots())

    # Volumes: storage that outlives sessions (mount with create_session(volumes=[{"name", "path", "read_only"}])) --

    def create_volume(self, name: str, size_mb: Optional[int] = None) -> Dict[str, Any]:
        """An empty named volume (its record: ``name``, ``size_mb``, ``used_bytes``, ``mounts`` …)."""
        return self._send(calls.create_volume(name, size_mb))

    def list_volumes(self) -> List[Dict[str, Any]]:
        """Your volumes."""
        return self._send(calls.list_volumes())

    def delete_volume(self, name: str, force: bool = False) -> None:
        """Deletes a volume (``force``: even while sessions mount it)."""
        self._send(calls.delete_volume(name, force))

    def upload_volume_file(self, name: str, path: str, data: Union[Bytes, str]) -> Dict[str, Any]:
        """Writes one file into a volume without a session (refused while a session mounts it read-write)."""
        return self._send(calls.upload_volume_file(name, path, data.encode() if isinstance(data, str) else data))

    def download_volume_file(self, name: str, path: str) -> bytes:
        """One file of a volume's saved content."""
        return self._send(calls.download_volume_file(name, path))

    # Agent jobs ----------------------------------------------------------------------------------------------------

    def run_agent_job(self, prompt: str, *, editable_archive: Optional[Bytes] = None, editable_path: Optional[str] = None,
                      session: Optional[Mapping[str, Any]] = None, wait: bool = True, **options: Any) -> AgentJob:
        """A whole agent job: a new session (``session``: the create request's fields), the archive unpacked into it, the run
        (``options``: agent, model, max_turns, skills, skills_archive (bytes), mcp_servers, allowed_tools …). Waits for the
        end unless ``wait`` is false."""
        return self._send(calls.run_agent_job(prompt, calls.agent_options(**options), session, editable_archive, editable_path, wait))

    def get_agent_job(self, job_id: str, wait: bool = False) -> AgentJob:
        """A job by its id (waiting for its end with ``wait``)."""
        return self._send(calls.get_agent_job(job_id, wait))


class Session:
    """A handle on one session. Everything a session can do, as methods; ``info`` is what the server said last."""

    def __init__(self, client: SandboxClient, info: SessionInfo) -> None:
        self._c = client
        self.info = info

    @property
    def id(self) -> str:
        return self.info.id

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def refresh(self) -> SessionInfo:
        self.info = self._c._send(calls.get_session(self.id))
        return self.info

    def update(self, metadata: Optional[Mapping[str, str]] = None, env: Optional[Mapping[str, str]] = None) -> SessionInfo:
        """Replaces the metadata and/or environment (None leaves one); a new environment restarts the Python interpreter."""
        self.info = self._c._send(calls.update_session(self.id, metadata, env))
        return self.info

    def close(self) -> None:
        """Closes the session: its container and files are gone."""
        self._c._send(calls.close_session(self.id))

    # Code ----------------------------------------------------------------------------------------------------------

    def execute(self, code: str, language: Optional[str] = None, *, timeout_seconds: Optional[float] = None, fresh: Optional[bool] = None,
                wait_seconds: Optional[float] = None, auto_install: Optional[bool] = None,
                auto_install_ignore: Optional[List[str]] = None) -> ExecutionResult:
        """Runs code (``python`` by default, stateful; ``bash``; ``node`` where the image has it) and returns its result."""
        return self._c._send(calls.execute(self.id, code, language, timeout_seconds, fresh, wait_seconds,
                                                       auto_install=auto_install, auto_install_ignore=auto_install_ignore))

    def execute_stream(self, code: str, language: Optional[str] = None, *, timeout_seconds: Optional[float] = None) -> Iterator[ExecutionEvent]:
        """Runs code and yields its events as they happen: ``output`` (stream, text) … then ``result``."""
        call = calls.execute(self.id, code, language, timeout_seconds, None, None, stream=True)
        with self._c._http.stream(call.method, call.path, json=call.json, headers=call.headers) as r:
            if r.status_code >= 400:
                raise error_from_response(r.status_code, r.reason_phrase, r.read())
            for line in calls.lines(r.iter_text()):
                event = ExecutionEvent.from_json(json.loads(line))
                if event.type == "error" and event.error:
                    raise SandboxError(event.error.get("code", "internal_error"), event.error.get("message", ""))
                yield event

    def get_execution(self, execution_id: str, wait_seconds: Optional[float] = None) -> ExecutionResult:
        return self._c._send(calls.get_execution(self.id, execution_id, wait_seconds))

    # Files ---------------------------------------------------------------------------------------------------------

    def upload(self, path: str, data: Union[Bytes, str]) -> FileEntry:
        """Writes a file (text is written as UTF-8)."""
        return self._c._send(calls.upload(self.id, path, data.encode("utf-8") if isinstance(data, str) else data))

    def download(self, path: str) -> bytes:
        return self._c._send(calls.download(self.id, path))

    def list_files(self, directory: str = "", recursive: bool = False) -> List[FileEntry]:
        return self._c._send(calls.list_files(self.id, directory, recursive))

    def delete_file(self, path: str) -> None:
        self._c._send(calls.delete_file(self.id, path))

    def search_code(self, pattern: str, path: Optional[str] = None, *, fixed: bool = False, ignore_case: bool = False,
                    max_matches: int = 200) -> Dict[str, Any]:
        """Lines of the workspace's text files matching a regular expression (or plain text with ``fixed``):
        ``{"matches": [{"path", "line", "text"}], "truncated"}``."""
        return self._c._send(calls.search_code(self.id, pattern, path, fixed, ignore_case, max_matches))

    def upload_archive(self, archive: Bytes, directory: str = "") -> ArchiveExtraction:
        """Unpacks a zip, tar or tar.gz into a workspace folder (checked inside the sandbox; hostile archives are refused)."""
        return self._c._send(calls.upload_archive(self.id, directory, archive))

    def download_archive(self, directory: str = "", format: str = "zip") -> bytes:
        """A workspace folder as a ``zip`` or ``tar.gz``."""
        return self._c._send(calls.download_archive(self.id, directory, format))

    def file_url(self, path: str, method: str = "GET", expires_seconds: Optional[int] = None, single_use: Optional[bool] = None) -> Dict[str, Any]:
        """A signed link to download (GET) or upload (PUT) a file of any size without the API's credentials."""
        return self._c._send(calls.file_url(self.id, path, method, expires_seconds, single_use))

    # Processes and ports -------------------------------------------------------------------------------------------

    def start_process(self, command: Union[str, Sequence[str]], cwd: Optional[str] = None, env: Optional[Mapping[str, str]] = None) -> ProcessInfo:
        """A background process (a shell line, or an argument vector)."""
        return self._c._send(calls.start_process(self.id, command, cwd, env))

    def process_output(self, process_id: str, stdout_cursor: int = 0, stderr_cursor: int = 0, wait_seconds: float = 0) -> ProcessOutput:
        return self._c._send(calls.process_output(self.id, process_id, stdout_cursor, stderr_cursor, wait_seconds))

    def kill_process(self, process_id: str) -> ProcessInfo:
        return self._c._send(calls.kill_process(self.id, process_id))

    def expose_port(self, port: int) -> SessionInfo:
        self.info = self._c._send(calls.expose_port(self.id, port))
        return self.info

    def open_preview(self, port: int) -> Dict[str, Any]:
        """A link that opens the exposed port's server in a browser."""
        return self._c._send(calls.open_preview(self.id, port))

    # Snapshots -----------------------------------------------------------------------------------------------------

    def snapshot(self, name: Optional[str] = None) -> Snapshot:
        return self._c._send(calls.snapshot(self.id, name))

    def fork(self, count: int = 1) -> List["Session"]:
        return [Session(self._c, info) for info in self._c._send(calls.fork(self.id, count))]

    # Agents --------------------------------------------------------------------------------------------------------

    def run_agent(self, prompt: str, *, wait: bool = True, **options: Any) -> AgentRun:
        """Runs a coding agent in this session (image ``agent``); ``options`` as the server's run request (agent, model,
        max_turns, timeout_seconds, skills, skills_archive (bytes), mcp_servers, allowed_tools, continue …)."""
        return self._c._send(calls.run_agent(self.id, prompt, calls.agent_options(**options), wait))

    def get_agent_run(self, run_id: str) -> AgentRun:
        return self._c._send(calls.get_agent_run(self.id, run_id))

    def diff(self, path: Optional[str] = None, against: Optional[str] = None) -> Dict[str, Any]:
        """What changed since before the first agent run (or since a snapshot): files, unified diff, counts."""
        return self._c._send(calls.session_diff(self.id, path, against))
