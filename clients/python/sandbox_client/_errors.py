"""Errors: every failure the server reports is a SandboxError carrying its stable problem code."""
from __future__ import annotations

from typing import Any, Optional


class SandboxError(Exception):
    """A request the server refused or could not do. ``code`` is the server's stable problem code (``session_not_found``,
    ``limit_exceeded``, ``unsafe_archive`` …, or ``http_<status>`` when the answer was not the server's own); ``status``
    the HTTP status; ``details`` what the server added (for some codes)."""

    def __init__(self, code: str, message: str, status: Optional[int] = None, details: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.details = details


def error_from_response(status: int, reason: str, body: bytes) -> SandboxError:
    """The error an unsuccessful answer stands for (RFC 9457 problem details with a ``code``)."""
    import json

    code, message, details = f"http_{status}", f"HTTP {status} {reason}".strip(), None
    try:
        problem = json.loads(body.decode("utf-8")) if body else None
    except (ValueError, UnicodeDecodeError):
        problem = None
    if isinstance(problem, dict):
        code = problem.get("code") or code
        message = problem.get("detail") or problem.get("title") or message
        details = problem.get("details")
    return SandboxError(code, message, status, details)
