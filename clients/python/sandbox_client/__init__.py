"""Python client of the sandbox server: sessions, code execution (with streaming), files and archives, links, processes,
ports, snapshots, agent runs and jobs, in a synchronous (``SandboxClient``) and an asynchronous (``AsyncSandboxClient``)
flavour. Every refusal is a ``SandboxError`` carrying the server's problem ``code``."""
from ._async_client import AsyncSandboxClient, AsyncSession
from ._client import SandboxClient, Session
from ._errors import SandboxError
from ._models import (AgentJob, AgentRun, ArchiveExtraction, ExecutionEvent, ExecutionResult, FileEntry, ProcessInfo, ProcessOutput,
                      SessionInfo, Snapshot)

__all__ = [
    "SandboxClient", "Session", "AsyncSandboxClient", "AsyncSession", "SandboxError",
    "SessionInfo", "ExecutionResult", "ExecutionEvent", "FileEntry", "ArchiveExtraction", "ProcessInfo", "ProcessOutput",
    "Snapshot", "AgentRun", "AgentJob",
]
__version__ = "0.1.0"
