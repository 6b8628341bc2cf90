# main.py: the supervisor itself. It reads requests, hands each to the op_<name> method of its part (every request
# the engine may send is one such method; nothing else is dispatched), and multiplexes the streams of the kernel,
# executions, processes and terminals.


class Runner(Kernel, Executions, Processes, Terminals, Workspace, Archives, NestedDocker):
    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.kernel = None
        self.ctl_buf = b""
        self.active = None  # dict describing the running execution
        self.stdin_buf = b""
        self.snapshot = None  # the workspace before an agent run, for its diff
        self.procs = {}  # background processes by id (start_process)
        self.ttys = {}  # interactive terminals by id (a shell on a pseudo-terminal)
        self.hashing = {}  # large files being hashed by a child, by the read end of its pipe
        os.set_blocking(0, False)
        self.sel.register(0, selectors.EVENT_READ, "stdin")
        # The interpreter starts now, beside the engine's own set-up, not at the first execution: a session's first
        # call (and every call to a warm pool container) then finds it ready instead of paying Python's start-up
        # (~60 ms in a container, ~300 ms under gVisor, measured).
        self.start_kernel()

    def running(self):
        """Whether user code runs now (the memory watch looks only then)."""
        return self.active is not None or bool(self.ttys) or any(p["exit"] is None for p in list(self.procs.values()))

    def handle(self, req):
        op, rid = req.get("op"), req.get("id")
        handler = getattr(self, "op_" + op, None) if isinstance(op, str) and op.isidentifier() else None
        if handler is None:
            out({"type": "error", "id": rid, "code": "bad_request", "message": "unknown op"})
        else:
            handler(rid, req)
            # Only when user code runs: a wake is a thread switch, which gVisor's ptrace platform makes dear (measured,
            # runner alone under gVisor: p50 3.2 -> 2.7 ms once an execution's acknowledgement stopped waking it).
            if self.running():
                WATCH_WAKE.set()

    def op_ping(self, rid, req):
        out({"type": "pong", "id": rid, "kernel": self.kernel is not None, "busy": self.active is not None,
             "kernel_ready": self.kernel is not None and self.kernel["ready"]})

    def op_analyze(self, rid, req):
        out(analyze(rid, req.get("code", "")))

    def op_missing(self, rid, req):
        if req.get("language", "python") == "python" and USER_PYTHON != sys.executable:
            out(missing_modules(rid, req))  # the image's own Python answers, started as the sandbox user
        else:
            out(as_user(lambda r, _p: missing_modules(r, req), rid, ""))

    def op_env(self, rid, req):
        self.set_env(rid, req)

    def set_env(self, rid, req):
        """Sets the environment of user code from now on; with a CA certificate, writes a bundle of the system's CAs
        and that one where user code can read but not change it (root-owned, in the sandbox's tmpfs)."""
        global EXTRA_ENV
        env, ca = req.get("set") or {}, req.get("ca")
        if not (isinstance(env, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
                and (ca is None or isinstance(ca, str))):
            out({"type": "error", "id": rid, "code": "bad_request", "message": "set must be a string map, ca a string"})
            return
        if ca is not None:
            try:
                os.makedirs(EGRESS_DIR, mode=0o755, exist_ok=True)
                st = os.lstat(EGRESS_DIR)
                if st.st_uid != 0 or not stat.S_ISDIR(st.st_mode):
                    raise PermissionError(1, "%s is not the runner's own directory" % EGRESS_DIR)
                os.chmod(EGRESS_DIR, 0o755)
                system = ""
                if os.path.exists(SYSTEM_CA):
                    with open(SYSTEM_CA) as f:
                        system = f.read()
                for name, text in (("ca.pem", ca), ("ca-bundle.pem", system.rstrip("\n") + "\n" + ca)):
                    tmp = os.path.join(EGRESS_DIR, "." + name)
                    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
                    with os.fdopen(fd, "w") as f:
                        f.write(text)
                    os.chmod(tmp, 0o644)
                    os.replace(tmp, os.path.join(EGRESS_DIR, name))
            except OSError as e:
                out({"type": "error", "id": rid, "code": "internal_error", "message": "writing the CA bundle: %s" % e.strerror})
                return
        changed = env != EXTRA_ENV
        EXTRA_ENV = dict(env)
        if changed and self.kernel is not None and self.active is None:
            self.stop_kernel()  # an interpreter with the new environment, ready before the next execution
            self.start_kernel()
        out({"type": "env", "id": rid})

    def tick(self):
        for pid, p in list(self.procs.items()):
            if p["exit"] is None and p["open"] == 0:
                self.proc_end(pid)
        for tid, t in list(self.ttys.items()):
            if t["proc"].pid in EXITED or t["proc"].poll() is not None:
                while tid in self.ttys and self.pty_drain(tid):
                    pass
                if tid in self.ttys:
                    self.pty_end(tid)
        a = self.active
        if a is not None:
            now = time.monotonic()
            for s in a["streams"]:
                due = s.due_at()
                if due is not None and due <= now:
                    s.flush()
        if a is None or not a["cancelled"] or a["kind"] != "kernel":
            return
        if time.monotonic() - a["cancel_at"] >= INTERRUPT_GRACE:
            # The interrupt did not end it (caught, or stuck in native code): kill the whole tree.
            a["state_lost"] = True
            k = self.kernel
            self.drain(k["out"])
            self.drain(k["err"])
            self.stop_kernel()
            self.done(137, {"type": "TimeoutError", "message": "execution timed out; the Python process was "
                            "killed and its variables were lost", "traceback": None}, timed_out=True)

    def loop(self):
        while True:
            a = self.active
            timeout = None
            dues = [d for d in (s.due_at() for s in a["streams"]) if d is not None] if a is not None else []
            if dues:
                timeout = max(0.0, min(dues) - time.monotonic())
            if a is not None and a["cancelled"]:
                timeout = 0.05 if timeout is None else min(timeout, 0.05)
            if self.ttys:
                # A terminal's end is seen by polling its shell: gVisor's master side may not wake select on hang-up.
                timeout = 0.25 if timeout is None else min(timeout, 0.25)
            for key, _ in self.sel.select(timeout):
                tag = key.data
                if tag == "stdin":
                    try:
                        data = os.read(0, READ_SIZE)
                    except BlockingIOError:
                        continue
                    if not data:
                        return
                    self.stdin_buf += data
                    while b"\n" in self.stdin_buf:
                        line, self.stdin_buf = self.stdin_buf.split(b"\n", 1)
                        try:
                            req = json.loads(line)
                        except ValueError:
                            out({"type": "error", "id": None, "code": "bad_request", "message": "invalid JSON"})
                            continue
                        self.handle(req)
                elif tag in ("k_out", "k_err"):
                    if self.kernel is None:
                        continue
                    s = self.kernel["out"] if tag == "k_out" else self.kernel["err"]
                    if not self.drain(s):
                        self.sel.unregister(s.fd)
                elif tag == "k_ctl":
                    if self.kernel is not None:
                        self.on_kernel_ctl()
                elif isinstance(tag, tuple) and tag[0] == "proc":
                    self.proc_read(tag[1], tag[2])
                elif isinstance(tag, tuple) and tag[0] == "pty":
                    self.pty_drain(tag[1])
                elif isinstance(tag, tuple) and tag[0] == "hash":
                    self.hash_read(tag[1])
                elif tag in ("f_out", "f_err"):
                    a = self.active
                    if a is None or a["kind"] != "fresh":
                        continue
                    s = a["streams"][0 if tag == "f_out" else 1]
                    if not self.drain(s):
                        self.sel.unregister(s.fd)
                        a["open"] -= 1
                        if a["open"] == 0:
                            self.finish_fresh()
            self.tick()


def become_init():
    """When started as the container's first process, forks: the child goes on as the runner, and this process stays
    process 1, the sandbox's init. It reaps every orphan the kernel gives it, passes signals on to the runner, and ends
    with the runner's status (128 + signal when a signal ended it, as docker-init did). It replaces docker-init, whose
    one-second signal wait woke each idle gVisor sandbox ~20 times a second on the host (measured: 0.15 % of a core per
    idle session, against ~0 without it); this one blocks in wait() and costs nothing while nothing ends."""
    if os.getpid() != 1:
        return
    runner = os.fork()
    if runner == 0:
        return
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)  # the engine's stream is the runner's
    os.close(null)

    def forward(sig, _frame):
        try:
            os.kill(runner, sig)
        except OSError:
            pass  # the runner has just ended: wait() reports it next

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, forward)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(1)
        if pid == runner:
            code = os.waitstatus_to_exitcode(status)
            os._exit(128 - code if code < 0 else code)


if __name__ == "__main__":
    become_init()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    out({"type": "hello", "pid": os.getpid(), "python": sys.version.split()[0]})
    runner = Runner()
    # With a nested engine its containers run while nothing of the engine's asks: the memory watch always looks.
    RUNNING[0] = (lambda: True) if DOCKER else runner.running
    start_memory_watch()
    runner.loop()
