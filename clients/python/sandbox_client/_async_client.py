"""The asynchronous client: ``AsyncSandboxClient`` and its ``AsyncSession`` handles, the same surface with ``await``."""
from __future__ import annotations

import json
from typing import Any, AsyncIterator, Dict, List, Mapping, Optional, Sequence, Union

import httpx

from . import _calls as calls
from ._calls import Bytes, Call
from ._client import DEFAULT_TIMEOUT, _headers
from ._errors import SandboxError, error_from_response
from ._models import (AgentJob, AgentRun, ArchiveExtraction, ExecutionEvent, ExecutionResult, FileEntry, ProcessInfo, ProcessOutput,
                      SessionInfo, Snapshot)


class AsyncSandboxClient:
    """The asynchronous client of one sandbox server::

        async with AsyncSandboxClient("http://127.0.0.1:8080") as c:
            s = await c.create_session()
            print((await s.execute("print(6*7)")).stdout)
            await s.close()
    """

    def __init__(self, base_url: str, token: Optional[str] = None, timeout: float = DEFAULT_TIMEOUT,
                 http: Optional[httpx.AsyncClient] = None) -> None:
        self._http = http or httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=_headers(token), timeout=timeout)

    async def __aenter__(self) -> "AsyncSandboxClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _send(self, call: Call) -> Any:
        try:
            r = await self._http.request(call.method, call.path, json=call.json, content=call.content, params=call.params or None,
                                         headers=call.headers or None)
        except httpx.HTTPError as e:
            raise SandboxError("unreachable", f"{type(e).__name__}: {e}") from e
        if r.status_code >= 400:
            raise error_from_response(r.status_code, r.reason_phrase, r.content)
        if call.raw:
            return r.content
        return call.read(r.json() if r.content else None)

    async def create_session(self, image: Optional[str] = None, *, name: Optional[str] = None, metadata: Optional[Mapping[str, str]] = None,
                             env: Optional[Mapping[str, str]] = None, memory_mb: Optional[int] = None, cpus: Optional[float] = None,
                             network_allow: Optional[Sequence[str]] = None, idle_timeout_seconds: Optional[int] = None,
                             **extra: Any) -> "AsyncSession":
        info = await self._send(calls.create_session(image, name, metadata, env, memory_mb, cpus, network_allow, idle_timeout_seconds, extra))
        return AsyncSession(self, info)

    async def session(self, session_id: str) -> "AsyncSession":
        return AsyncSession(self, await self._send(calls.get_session(session_id)))

    async def list_sessions(self, metadata: Optional[Mapping[str, str]] = None) -> List[SessionInfo]:
        return await self._send(calls.list_sessions(metadata))

    async def list_snapshots(self) -> List[Snapshot]:
        return await self._send(calls.list_snapshots())

    async def create_volume(self, name: str, size_mb: Optional[int] = None) -> Dict[str, Any]:
        return await self._send(calls.create_volume(name, size_mb))

    async def list_volumes(self) -> List[Dict[str, Any]]:
        return await self._send(calls.list_volumes())

    async def delete_volume(self, name: str, force: bool = False) -> None:
        await self._send(calls.delete_volume(name, force))

    async def upload_volume_file(self, name: str, path: str, data: Union[Bytes, str]) -> Dict[str, Any]:
        return await self._send(calls.upload_volume_file(name, path, data.encode() if isinstance(data, str) else data))

    async def download_volume_file(self, name: str, path: str) -> bytes:
        return await self._send(calls.download_volume_file(name, path))

    async def run_agent_job(self, prompt: str, *, editable_archive: Optional[Bytes] = None, editable_path: Optional[str] = None,
                            session: Optional[Mapping[str, Any]] = None, wait: bool = True, **options: Any) -> AgentJob:
        return await self._send(calls.run_agent_job(prompt, calls.agent_options(**options), session, editable_archive, editable_path, wait))

    async def get_agent_job(self, job_id: str, wait: bool = False) -> AgentJob:
        return await self._send(calls.get_agent_job(job_id, wait))


class AsyncSession:
    """A handle on one session, for the asynchronous client."""

    def __init__(self, client: AsyncSandboxClient, info: SessionInfo) -> None:
        self._c = client
        self.info = info

    @property
    def id(self) -> str:
        return self.info.id

    async def __aenter__(self) -> "AsyncSession":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def refresh(self) -> SessionInfo:
        self.info = await self._c._send(calls.get_session(self.id))
        return self.info

    async def update(self, metadata: Optional[Mapping[str, str]] = None, env: Optional[Mapping[str, str]] = None) -> SessionInfo:
        self.info = await self._c._send(calls.update_session(self.id, metadata, env))
        return self.info

    async def close(self) -> None:
        await self._c._send(calls.close_session(self.id))

    async def execute(self, code: str, language: Optional[str] = None, *, timeout_seconds: Optional[float] = None, fresh: Optional[bool] = None,
                      wait_seconds: Optional[float] = None, auto_install: Optional[bool] = None,
                      auto_install_ignore: Optional[List[str]] = None) -> ExecutionResult:
        return await self._c._send(calls.execute(self.id, code, language, timeout_seconds, fresh, wait_seconds,
                                                       auto_install=auto_install, auto_install_ignore=auto_install_ignore))

    async def execute_stream(self, code: str, language: Optional[str] = None, *, timeout_seconds: Optional[float] = None) -> AsyncIterator[ExecutionEvent]:
        call = calls.execute(self.id, code, language, timeout_seconds, None, None, stream=True)
        async with self._c._http.stream(call.method, call.path, json=call.json, headers=call.headers) as r:
            if r.status_code >= 400:
                raise error_from_response(r.status_code, r.reason_phrase, await r.aread())
            pending = ""
            async for chunk in r.aiter_text():
                pending += chunk
                while "\n" in pending:
                    line, pending = pending.split("\n", 1)
                    if line.strip():
                        event = ExecutionEvent.from_json(json.loads(line))
                        if event.type == "error" and event.error:
                            raise SandboxError(event.error.get("code", "internal_error"), event.error.get("message", ""))
                        yield event
            if pending.strip():
                yield ExecutionEvent.from_json(json.loads(pending))

    async def get_execution(self, execution_id: str, wait_seconds: Optional[float] = None) -> ExecutionResult:
        return await self._c._send(calls.get_execution(self.id, execution_id, wait_seconds))

    async def upload(self, path: str, data: Union[Bytes, str]) -> FileEntry:
        return await self._c._send(calls.upload(self.id, path, data.encode("utf-8") if isinstance(data, str) else data))

    async def download(self, path: str) -> bytes:
        return await self._c._send(calls.download(self.id, path))

    async def list_files(self, directory: str = "", recursive: bool = False) -> List[FileEntry]:
        return await self._c._send(calls.list_files(self.id, directory, recursive))

    async def delete_file(self, path: str) -> None:
        await self._c._send(calls.delete_file(self.id, path))

    async def search_code(self, pattern: str, path: Optional[str] = None, *, fixed: bool = False, ignore_case: bool = False,
                          max_matches: int = 200) -> Dict[str, Any]:
        return await self._c._send(calls.search_code(self.id, pattern, path, fixed, ignore_case, max_matches))

    async def upload_archive(self, archive: Bytes, directory: str = "") -> ArchiveExtraction:
        return await self._c._send(calls.upload_archive(self.id, directory, archive))

    async def download_archive(self, directory: str = "", format: str = "zip") -> bytes:
        return await self._c._send(calls.download_archive(self.id, directory, format))

    async def file_url(self, path: str, method: str = "GET", expires_seconds: Optional[int] = None, single_use: Optional[bool] = None) -> Dict[str, Any]:
        return await self._c._send(calls.file_url(self.id, path, method, expires_seconds, single_use))

    async def start_process(self, command: Union[str, Sequence[str]], cwd: Optional[str] = None, env: Optional[Mapping[str, str]] = None) -> ProcessInfo:
        return await self._c._send(calls.start_process(self.id, command, cwd, env))

    async def process_output(self, process_id: str, stdout_cursor: int = 0, stderr_cursor: int = 0, wait_seconds: float = 0) -> ProcessOutput:
        return await self._c._send(calls.process_output(self.id, process_id, stdout_cursor, stderr_cursor, wait_seconds))

    async def kill_process(self, process_id: str) -> ProcessInfo:
        return await self._c._send(calls.kill_process(self.id, process_id))

    async def expose_port(self, port: int) -> SessionInfo:
        self.info = await self._c._send(calls.expose_port(self.id, port))
        return self.info

    async def open_preview(self, port: int) -> Dict[str, Any]:
        return await self._c._send(calls.open_preview(self.id, port))

    async def snapshot(self, name: Optional[str] = None) -> Snapshot:
        return await self._c._send(calls.snapshot(self.id, name))

    async def fork(self, count: int = 1) -> List["AsyncSession"]:
        return [AsyncSession(self._c, info) for info in await self._c._send(calls.fork(self.id, count))]

    async def run_agent(self, prompt: str, *, wait: bool = True, **options: Any) -> AgentRun:
        return await self._c._send(calls.run_agent(self.id, prompt, calls.agent_options(**options), wait))

    async def get_agent_run(self, run_id: str) -> AgentRun:
        return await self._c._send(calls.get_agent_run(self.id, run_id))

    async def diff(self, path: Optional[str] = None, against: Optional[str] = None) -> Dict[str, Any]:
        return await self._c._send(calls.session_diff(self.id, path, against))
