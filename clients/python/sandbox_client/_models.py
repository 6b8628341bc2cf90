"""What the server answers, as typed records. Each keeps the whole answer in ``raw`` for fields added later."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional


def _map(value: Any) -> Dict[str, str]:
    return {str(k): str(v) for k, v in (value or {}).items()}


@dataclass(frozen=True)
class SessionInfo:
    """A session: its id, image, state, labels and environment, limits and isolation."""

    id: str
    image: str
    status: str
    name: Optional[str]
    metadata: Dict[str, str]
    env: Dict[str, str]
    limits: Dict[str, Any]
    isolation: str
    expires_at: Optional[str]
    raw: Mapping[str, Any] = field(repr=False)

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> "SessionInfo":
        return SessionInfo(d["id"], d.get("image", ""), d.get("status", ""), d.get("name"), _map(d.get("metadata")), _map(d.get("env")),
                           dict(d.get("limits") or {}), d.get("isolation", ""), d.get("expires_at"), d)


@dataclass(frozen=True)
class ExecutionResult:
    """What an execution printed and how it ended (``status`` is ``running`` when it outlasted the wait)."""

    execution_id: str
    stdout: str
    stderr: str
    exit_code: Optional[int]
    error: Optional[Dict[str, Any]]
    timed_out: bool
    truncated: bool
    state_lost: bool
    duration_ms: float
    status: str
    images: List[Dict[str, Any]]
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def auto_installed(self) -> List[Dict[str, Any]]:
        """What ``auto_install`` installed before the code ran: ``name``, ``version``, ``manager`` …"""
        return list(self.raw.get("auto_installed") or [])

    @property
    def ok(self) -> bool:
        """Whether it finished without an error, a non-zero exit status or a time-out."""
        return self.status == "finished" and not self.error and not self.timed_out and (self.exit_code in (None, 0))

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> "ExecutionResult":
        return ExecutionResult(d.get("execution_id", ""), d.get("stdout", ""), d.get("stderr", ""), d.get("exit_code"), d.get("error"),
                               bool(d.get("timed_out")), bool(d.get("truncated")), bool(d.get("state_lost")), float(d.get("duration_ms") or 0),
                               d.get("status", "finished"), list(d.get("images") or []), d)


@dataclass(frozen=True)
class ExecutionEvent:
    """One event of a streamed execution: ``output`` (``stream``, ``text``), ``image``, ``result`` (``result``) or ``error``."""

    type: str
    stream: Optional[str] = None
    text: Optional[str] = None
    result: Optional[ExecutionResult] = None
    error: Optional[Dict[str, Any]] = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> "ExecutionEvent":
        result = d.get("result")
        return ExecutionEvent(d.get("type", ""), d.get("stream"), d.get("text"), ExecutionResult.from_json(result) if result else None, d.get("error"), d)


@dataclass(frozen=True)
class FileEntry:
    """A file or directory of a workspace."""

    name: str
    path: str
    kind: str
    size: int
    modified_at: Optional[str]

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> "FileEntry":
        return FileEntry(d.get("name", ""), d.get("path", ""), d.get("kind", ""), int(d.get("size") or 0), d.get("modified_at"))


@dataclass(frozen=True)
class ArchiveExtraction:
    """What an uploaded archive became."""

    path: str
    files: int
    directories: int
    links: int
    bytes: int

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> "ArchiveExtraction":
        return ArchiveExtraction(d.get("path", ""), int(d.get("files") or 0), int(d.get("directories") or 0), int(d.get("links") or 0),
                                 int(d.get("bytes") or 0))


@dataclass(frozen=True)
class ProcessInfo:
    """A background process of a session."""

    process_id: str
    command: str
    running: bool
    exit_code: Optional[int]
    raw: Mapping[str, Any] = field(repr=False)

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> "ProcessInfo":
        return ProcessInfo(d.get("process_id", ""), d.get("command", ""), bool(d.get("running")), d.get("exit_code"), d)


@dataclass(frozen=True)
class ProcessOutput:
    """New output of a background process since the cursors given, and the cursors to read on from."""

    process: ProcessInfo
    stdout: str
    stderr: str
    stdout_cursor: int
    stderr_cursor: int
    raw: Mapping[str, Any] = field(repr=False)

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> "ProcessOutput":
        return ProcessOutput(ProcessInfo.from_json(d.get("process") or {}), d.get("stdout", ""), d.get("stderr", ""),
                             int(d.get("stdout_cursor") or 0), int(d.get("stderr_cursor") or 0), d)


@dataclass(frozen=True)
class Snapshot:
    """A saved workspace."""

    snapshot_id: str
    name: str
    source_session_id: str
    image: str
    size_bytes: int
    files: int
    created_at: str

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> "Snapshot":
        return Snapshot(d.get("snapshot_id", ""), d.get("name", ""), d.get("source_session_id", ""), d.get("image", ""),
                        int(d.get("size_bytes") or 0), int(d.get("files") or 0), d.get("created_at", ""))


@dataclass(frozen=True)
class AgentRun:
    """A coding agent's run: status, final message, summary, the files it changed and the diff."""

    id: str
    session_id: str
    agent: str
    status: str
    final_message: Optional[str]
    summary: Optional[str]
    error: Optional[str]
    changes: List[Dict[str, Any]]
    diff: str
    cost_usd: Optional[float]
    duration_ms: float
    raw: Mapping[str, Any] = field(repr=False)

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> "AgentRun":
        return AgentRun(d.get("id", ""), d.get("session_id", ""), d.get("agent", ""), d.get("status", ""), d.get("final_message"),
                        d.get("summary"), d.get("error"), list(d.get("changes") or []), d.get("diff", ""), d.get("cost_usd"),
                        float(d.get("duration_ms") or 0), d)


@dataclass(frozen=True)
class AgentJob:
    """An agent job: its run and where its results are (``links``: run, editable_zip, diff, summary …)."""

    id: str
    session_id: str
    status: str
    run: AgentRun
    links: Dict[str, str]
    raw: Mapping[str, Any] = field(repr=False)

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> "AgentJob":
        return AgentJob(d.get("id", ""), d.get("session_id", ""), d.get("status", ""), AgentRun.from_json(d.get("run") or {}),
                        _map(d.get("links")), d)
