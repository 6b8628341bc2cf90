"""The REST calls both clients make, as plain descriptions (method, path, body, how to read the answer): the sync and
the async client differ only in how they send them."""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Union
from urllib.parse import quote

from ._models import (AgentJob, AgentRun, ArchiveExtraction, ExecutionResult, FileEntry, ProcessInfo, ProcessOutput, SessionInfo,
                      Snapshot)

Bytes = Union[bytes, bytearray, memoryview]


@dataclass
class Call:
    """One request: ``json`` or ``content`` as its body, ``read`` turns the answer (JSON, or bytes when ``raw``) into the result."""

    method: str
    path: str
    json: Any = None
    content: Optional[bytes] = None
    params: Dict[str, str] = field(default_factory=dict)
    read: Callable[[Any], Any] = lambda body: body
    raw: bool = False
    headers: Dict[str, str] = field(default_factory=dict)


def _seg(value: str) -> str:
    return quote(value, safe="")


def _path(path: str) -> str:
    return "/".join(quote(p, safe="") for p in path.strip("/").split("/"))


def _clean(d: Mapping[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def create_session(image: Optional[str], name: Optional[str], metadata: Optional[Mapping[str, str]], env: Optional[Mapping[str, str]],
                   memory_mb: Optional[int], cpus: Optional[float], network_allow: Optional[Sequence[str]], idle_timeout_seconds: Optional[int],
                   extra: Optional[Mapping[str, Any]]) -> Call:
    body = _clean({"image": image, "name": name, "metadata": dict(metadata) if metadata else None, "env": dict(env) if env else None,
                   "idle_timeout_seconds": idle_timeout_seconds})
    limits = _clean({"memory_mb": memory_mb, "cpus": cpus})
    if limits:
        body["limits"] = limits
    if network_allow is not None:
        body["network"] = {"allow": list(network_allow)}
    body.update(extra or {})
    return Call("POST", "/api/sessions", json=body, read=SessionInfo.from_json)


def get_session(session_id: str) -> Call:
    return Call("GET", f"/api/sessions/{_seg(session_id)}", read=SessionInfo.from_json)


def list_sessions(metadata: Optional[Mapping[str, str]]) -> Call:
    params = {f"metadata.{k}": v for k, v in (metadata or {}).items()}
    return Call("GET", "/api/sessions", params=params, read=lambda b: [SessionInfo.from_json(s) for s in b])


def update_session(session_id: str, metadata: Optional[Mapping[str, str]], env: Optional[Mapping[str, str]]) -> Call:
    return Call("PATCH", f"/api/sessions/{_seg(session_id)}", json=_clean({"metadata": metadata, "env": env}), read=SessionInfo.from_json)


def close_session(session_id: str) -> Call:
    return Call("DELETE", f"/api/sessions/{_seg(session_id)}", read=lambda _: None)


def execute(session_id: str, code: str, language: Optional[str], timeout_seconds: Optional[float], fresh: Optional[bool],
            wait_seconds: Optional[float], stream: bool = False, auto_install: Optional[bool] = None,
            auto_install_ignore: Optional[List[str]] = None) -> Call:
    body = _clean({"code": code, "language": language, "timeout_seconds": timeout_seconds, "fresh": fresh, "wait_seconds": wait_seconds,
                   "auto_install": auto_install, "auto_install_ignore": auto_install_ignore})
    headers = {"accept": "application/x-ndjson"} if stream else {}
    return Call("POST", f"/api/sessions/{_seg(session_id)}/execute", json=body, read=ExecutionResult.from_json, headers=headers)


def get_execution(session_id: str, execution_id: str, wait_seconds: Optional[float]) -> Call:
    params = {"wait_seconds": str(wait_seconds)} if wait_seconds is not None else {}
    return Call("GET", f"/api/sessions/{_seg(session_id)}/executions/{_seg(execution_id)}", params=params, read=ExecutionResult.from_json)


def upload(session_id: str, path: str, data: Bytes) -> Call:
    return Call("PUT", f"/api/sessions/{_seg(session_id)}/files/{_path(path)}", content=bytes(data), read=FileEntry.from_json,
                headers={"content-type": "application/octet-stream"})


def download(session_id: str, path: str) -> Call:
    return Call("GET", f"/api/sessions/{_seg(session_id)}/files/{_path(path)}", raw=True)


def list_files(session_id: str, directory: str, recursive: bool) -> Call:
    params = {"dir": directory}
    if recursive:
        params["recursive"] = "true"
        return Call("GET", f"/api/sessions/{_seg(session_id)}/files", params=params, read=lambda b: [FileEntry.from_json(e) for e in b["entries"]])
    return Call("GET", f"/api/sessions/{_seg(session_id)}/files", params=params, read=lambda b: [FileEntry.from_json(e) for e in b])


def search_code(session_id: str, pattern: str, path: Optional[str], fixed: bool, ignore_case: bool, max_matches: int) -> Call:
    params = {"pattern": pattern, "path": path or "", "fixed": "true" if fixed else "false", "ignore_case": "true" if ignore_case else "false",
              "max_matches": str(max_matches)}
    return Call("GET", f"/api/sessions/{_seg(session_id)}/search", params=params)


def delete_file(session_id: str, path: str) -> Call:
    return Call("DELETE", f"/api/sessions/{_seg(session_id)}/files/{_path(path)}", read=lambda _: None)


def upload_archive(session_id: str, directory: str, archive: Bytes) -> Call:
    target = f"/api/sessions/{_seg(session_id)}/archive" + (f"/{_path(directory)}" if directory.strip("/") else "")
    return Call("PUT", target, content=bytes(archive), read=ArchiveExtraction.from_json, headers={"content-type": "application/octet-stream"})


def download_archive(session_id: str, directory: str, fmt: str) -> Call:
    if fmt not in ("zip", "tar.gz"):
        raise ValueError("format is 'zip' or 'tar.gz'")
    params = {"path": directory} if directory else {}
    return Call("GET", f"/api/sessions/{_seg(session_id)}/editable.{fmt}", params=params, raw=True)


def file_url(session_id: str, path: str, method: str, expires_seconds: Optional[int], single_use: Optional[bool]) -> Call:
    body = _clean({"path": path, "method": method, "expires_seconds": expires_seconds, "single_use": single_use})
    return Call("POST", f"/api/sessions/{_seg(session_id)}/links", json=body)


def start_process(session_id: str, command: Union[str, Sequence[str]], cwd: Optional[str], env: Optional[Mapping[str, str]]) -> Call:
    body: Dict[str, Any] = _clean({"cwd": cwd, "env": dict(env) if env else None})
    if isinstance(command, str):
        body["command"] = command
    else:
        body["argv"] = list(command)
    return Call("POST", f"/api/sessions/{_seg(session_id)}/processes", json=body, read=ProcessInfo.from_json)


def process_output(session_id: str, process_id: str, stdout_cursor: int, stderr_cursor: int, wait_seconds: float) -> Call:
    params = {"stdout_cursor": str(stdout_cursor), "stderr_cursor": str(stderr_cursor), "wait_seconds": str(wait_seconds)}
    return Call("GET", f"/api/sessions/{_seg(session_id)}/processes/{_seg(process_id)}/output", params=params, read=ProcessOutput.from_json)


def kill_process(session_id: str, process_id: str) -> Call:
    return Call("DELETE", f"/api/sessions/{_seg(session_id)}/processes/{_seg(process_id)}", read=ProcessInfo.from_json)


def expose_port(session_id: str, port: int) -> Call:
    return Call("POST", f"/api/sessions/{_seg(session_id)}/expose", json={"port": port}, read=SessionInfo.from_json)


def open_preview(session_id: str, port: int) -> Call:
    return Call("POST", f"/api/sessions/{_seg(session_id)}/ports/{port}/grant")


def snapshot(session_id: str, name: Optional[str]) -> Call:
    return Call("POST", f"/api/sessions/{_seg(session_id)}/snapshots", json=_clean({"name": name}), read=Snapshot.from_json)


def list_snapshots() -> Call:
    return Call("GET", "/api/snapshots", read=lambda b: [Snapshot.from_json(s) for s in b])


def create_volume(name: str, size_mb: Optional[int]) -> Call:
    return Call("POST", "/api/volumes", json=_clean({"name": name, "size_mb": size_mb}))


def list_volumes() -> Call:
    return Call("GET", "/api/volumes")


def delete_volume(name: str, force: bool) -> Call:
    return Call("DELETE", f"/api/volumes/{_seg(name)}", params={"force": "true"} if force else {}, read=lambda _b: None)


def upload_volume_file(name: str, path: str, data: Bytes) -> Call:
    return Call("PUT", f"/api/volumes/{_seg(name)}/files/{_path(path)}", content=bytes(data), headers={"content-type": "application/octet-stream"})


def download_volume_file(name: str, path: str) -> Call:
    return Call("GET", f"/api/volumes/{_seg(name)}/files/{_path(path)}", raw=True)


def fork(session_id: str, count: int) -> Call:
    return Call("POST", f"/api/sessions/{_seg(session_id)}/fork", json={"count": count}, read=lambda b: [SessionInfo.from_json(s) for s in b])


def run_agent(session_id: str, prompt: str, options: Mapping[str, Any], wait: bool) -> Call:
    body = _clean({"prompt": prompt, **options})
    params = {"wait": "true", "trajectory": "false"} if wait else {}
    return Call("POST", f"/api/sessions/{_seg(session_id)}/agent-runs", json=body, params=params, read=AgentRun.from_json)


def get_agent_run(session_id: str, run_id: str) -> Call:
    return Call("GET", f"/api/sessions/{_seg(session_id)}/agent-runs/{_seg(run_id)}", params={"trajectory": "false"}, read=AgentRun.from_json)


def run_agent_job(prompt: str, options: Mapping[str, Any], session: Optional[Mapping[str, Any]], editable_archive: Optional[Bytes],
                  editable_path: Optional[str], wait: bool) -> Call:
    body: Dict[str, Any] = {"run": _clean({"prompt": prompt, **options}), "session": dict(session or {})}
    if editable_archive is not None:
        body["editable_archive_base64"] = base64.b64encode(bytes(editable_archive)).decode("ascii")
    if editable_path:
        body["editable_path"] = editable_path
    return Call("POST", "/api/jobs", json=body, params={"wait": "true"} if wait else {}, read=AgentJob.from_json)


def get_agent_job(job_id: str, wait: bool) -> Call:
    return Call("GET", f"/api/jobs/{_seg(job_id)}", params={"wait": "true"} if wait else {}, read=AgentJob.from_json)


def session_diff(session_id: str, path: Optional[str], against: Optional[str]) -> Call:
    target = f"/api/sessions/{_seg(session_id)}/diff" + (f"/{_path(path)}" if path else "")
    return Call("GET", target, params={"against": against} if against else {})


def agent_options(**options: Any) -> Dict[str, Any]:
    """Agent run options in the server's spelling (snake_case names as given; ``skills_archive`` bytes become base64)."""
    out = {k: v for k, v in options.items() if v is not None}
    archive = out.pop("skills_archive", None)
    if archive is not None:
        out["skills_archive_base64"] = base64.b64encode(bytes(archive)).decode("ascii")
    return out


def lines(chunks: Iterable[str]) -> Iterable[str]:
    """Whole lines of a text stream arriving in pieces."""
    pending = ""
    for chunk in chunks:
        pending += chunk
        while "\n" in pending:
            line, pending = pending.split("\n", 1)
            if line.strip():
                yield line
    if pending.strip():
        yield pending


