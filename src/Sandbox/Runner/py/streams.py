# streams.py: output of executions (capped, coalesced, kept whole in /workspace/.outputs when asked) and of
# background processes (a ring in memory, a log on disk).

class Stream:
    """One output pipe of a running process: decoded incrementally, capped per execution, sent in whole lines
    where possible (whole lines wait at most LINE_HOLD seconds, a partial line at most COALESCE)."""

    def __init__(self, name, fd):
        self.name, self.fd = name, fd
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.sent = 0
        self.cap = 0
        self.truncated = False
        self.exec_id = None
        self.pending = ""
        self.pending_since = None
        self.spill, self.raw, self.spill_error, self.pre = None, 0, None, bytearray()
        self.spill_name, self.spill_after, self.kept = None, 0, False
        self.tail = ""

    def reset(self, exec_id, cap, spill=None):
        """spill: (log name, bytes after which the whole stream goes to its log), or None to keep no log."""
        self.exec_id, self.cap, self.sent, self.truncated = exec_id, cap, 0, False
        self.pending, self.pending_since = "", None
        self.spill, self.raw, self.spill_error, self.pre = None, 0, None, bytearray()
        self.spill_name, self.spill_after = spill if spill else (None, 0)
        self.kept = False
        self.tail = ""

    def keep(self, data):
        """Counts the raw bytes; past the threshold, the whole stream (what came before included) goes to its log in
        the workspace, so an answer cut at a budget or the cap can be read in full."""
        if not data:
            return
        self.raw += len(data)
        if self.spill is None:
            if self.spill_name is None:
                return
            self.pre += data
            if len(self.pre) <= self.spill_after:
                return
            fd = open_spill(self.spill_name, self.name)
            self.spill_name = None
            if not isinstance(fd, int):
                self.spill_error, self.pre = fd, bytearray()
                return
            self.spill, data, self.pre = fd, bytes(self.pre), bytearray()
        try:
            if self.raw > SPILL_MAX:
                raise OSError(27, "the output log reached %d bytes" % SPILL_MAX)
            write_all(self.spill, data)
        except OSError as e:
            self.spill_error = e.strerror or str(e)
            self.close_spill()

    def close_spill(self):
        if self.spill is not None:
            close_quietly(self.spill)
            self.spill = None
            self.kept = True

    def feed(self, data, final=False):
        self.keep(data)
        text = self.decoder.decode(data, final)
        if not text or self.exec_id is None:
            return
        # The last TAIL characters, so an answer cut at the cap can still end with the output's real end.
        self.tail = (self.tail + text)[-TAIL:] if len(text) < TAIL else text[-TAIL:]
        room = self.cap - self.sent - len(self.pending)
        if room <= 0:
            self.truncated = True
            return
        if len(text) > room:
            text, self.truncated = text[:room], True
        self.pending += text
        if len(self.pending) >= CHUNK or self.truncated:
            self.flush()
        elif self.pending_since is None:
            self.pending_since = time.monotonic()

    def flush(self, hold=False):
        if self.pending and self.exec_id is not None:
            self.sent += len(self.pending)
            out({"type": "out", "id": self.exec_id, "stream": self.name, "data": self.pending}, hold)
        self.pending, self.pending_since = "", None

    def due_at(self):
        """When the pending output must go: soon for whole lines, later for a partial one (None: nothing pending)."""
        if self.pending_since is None:
            return None
        return self.pending_since + (LINE_HOLD if self.pending.endswith("\n") else COALESCE)


class Ring:
    """The last RING bytes of a background process's stream, with the count of all bytes; the whole stream goes to
    its log in the workspace."""

    def __init__(self, spill):
        self.buf, self.total, self.spill = b"", 0, spill

    def add(self, data):
        self.total += len(data)
        self.buf = (self.buf + data)[-RING:]
        if self.spill is not None:
            try:
                write_all(self.spill, data)
            except OSError:
                self.close()

    def close(self):
        if self.spill is not None:
            close_quietly(self.spill)
            self.spill = None

    def since(self, start, limit):
        """(text from byte `start` on, at most `limit` bytes; the next offset; bytes skipped because the ring no
        longer holds them)."""
        first = self.total - len(self.buf)
        start = max(0, min(start, self.total))
        skipped = max(0, first - start)
        start = max(start, first)
        chunk = self.buf[start - first:start - first + limit]
        return chunk.decode("utf-8", "replace"), start + len(chunk), skipped
