# terminals.py: interactive terminals, a shell on a pseudo-terminal each.


class Terminals:
    """The pty_* requests."""

    def op_pty_open(self, rid, req):
        out(self.pty_open(rid, req))

    def op_pty_input(self, rid, req):
        self.pty_input(req)

    def op_pty_resize(self, rid, req):
        t = self.ttys.get(req.get("term_id"))
        if t is not None:
            set_winsize(t["fd"], req.get("cols"), req.get("rows"))

    def op_pty_close(self, rid, req):
        if req.get("term_id") in self.ttys:
            self.pty_end(req.get("term_id"), kill=True)

    # -- terminals ---------------------------------------------------------------------------
    def pty_open(self, rid, req):
        """Starts an interactive shell (or, with argv, that program: an agent's own interface) on a new pseudo-terminal
        as the sandbox user. Its output goes out as pty_out messages (base64) with the terminal's id; its end as
        pty_exit. Spared by executions' kills, like processes."""
        tid, limit = req.get("term_id"), int(req.get("max", 4))
        if not (isinstance(tid, str) and 0 < len(tid) <= 64 and all(c.isalnum() or c in "-_" for c in tid)) or tid in self.ttys:
            return {"type": "error", "id": rid, "code": "bad_request", "message": "bad or reused terminal id"}
        if len(self.ttys) >= limit:
            return {"type": "error", "id": rid, "code": "limit_exceeded", "message": "this session already has %d terminals open (the most it may)" % len(self.ttys)}
        argv, extra, files = req.get("argv"), req.get("env") or {}, req.get("files") or {}
        program = argv is not None
        if program and not (isinstance(argv, list) and argv and all(isinstance(x, str) and x for x in argv)):
            return {"type": "error", "id": rid, "code": "bad_request", "message": "argv must be non-empty strings"}
        if not (isinstance(extra, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in extra.items())
                and isinstance(files, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())):
            return {"type": "error", "id": rid, "code": "bad_request", "message": "env and files must be string maps"}
        env = user_env()
        env.update({"TERM": "xterm-256color", "COLORTERM": "truecolor", "SHELL": "/bin/bash"})
        env.update(extra)
        if files:
            failed = as_user(lambda _r, home: home_files(home, files), rid, env.get("HOME", WORKDIR))
            if isinstance(failed, dict):
                return failed
        master, slave = os.openpty()
        set_winsize(slave, req.get("cols"), req.get("rows"))
        def start():
            # An agent's own program keeps the address space its runtime reserves, as in an agent run.
            demote(AGENT_NPROC, address=False) if program else demote()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        try:
            p = subprocess.Popen(argv if program else ["/bin/bash", "-i"], stdin=slave, stdout=slave, stderr=slave, preexec_fn=start, env=env, cwd=WORKDIR)
        except OSError as e:
            os.close(master)
            return {"type": "error", "id": rid, "code": "command_not_found",
                    "message": "%s: %s" % ((argv[0] if program else "bash")[:200], e.strerror or str(e))}
        finally:
            os.close(slave)
        EXITED.pop(p.pid, None)
        BACKGROUND.add(p.pid)  # setsid in demote: executions' kills spare its session
        os.set_blocking(master, False)
        self.sel.register(master, selectors.EVENT_READ, ("pty", tid))
        self.ttys[tid] = {"proc": p, "fd": master}
        return {"type": "pty", "id": rid, "term_id": tid, "pid": p.pid}

    def pty_drain(self, tid):
        """Sends what waits on a terminal; returns whether there was something (its end, EIO or EOF, ends it)."""
        t = self.ttys.get(tid)
        if t is None:
            return False
        try:
            data = os.read(t["fd"], CHUNK)
        except BlockingIOError:
            return False
        except OSError:
            data = b""  # EIO: the shell and everything on its terminal are gone
        if data:
            out({"type": "pty_out", "id": tid, "data": base64.b64encode(data).decode("ascii")})
            return True
        self.pty_end(tid)
        return False

    def pty_input(self, req):
        t = self.ttys.get(req.get("term_id"))
        data = req.get("data")
        if t is None or not isinstance(data, str):
            return
        deadline = time.monotonic() + 5
        for i, part in enumerate(data.encode("utf-8", "replace").split(b"\x03")):
            if i > 0 and not (NPROC > 0 and self.pty_interrupt(t["fd"], t["proc"].pid)):
                part = b"\x03" + part
            while part and time.monotonic() < deadline:
                try:
                    part = part[os.write(t["fd"], part):]
                except BlockingIOError:
                    select.select([], [t["fd"]], [], 0.5)
                except OSError:
                    return

    @staticmethod
    def pty_interrupt(fd, shell):
        """Ctrl-C under gVisor, whose terminal (release 2022-12) turns the byte into SIGINT only once the foreground
        program reads its input: the signal is sent here instead, as the line discipline would (when ISIG is on; a
        program in raw mode gets the byte). Returns whether it was sent."""
        try:
            if not termios.tcgetattr(fd)[3] & termios.ISIG:
                return False
            # The foreground job: gVisor reports no tpgid and answers no TIOCGPGRP on the master, so it is taken as the
            # newest process group of the shell's session other than the shell's own (the shell itself at its prompt).
            groups = {}
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    fields = proc_stat(int(entry))[1]
                except OSError:
                    continue
                pgrp, sid, started = int(fields[2]), int(fields[3]), int(fields[19])
                if sid == shell:
                    groups[pgrp] = max(groups.get(pgrp, 0), started)
            jobs = [g for g in groups if g != shell]
            os.killpg(max(jobs, key=lambda g: groups[g]) if jobs else shell, signal.SIGINT)
            return True
        except (OSError, ValueError, IndexError):
            return False

    def pty_end(self, tid, kill=False):
        t = self.ttys.pop(tid)
        p = t["proc"]
        if kill:
            kill_process_session(p.pid)
        try:
            self.sel.unregister(t["fd"])
        except (KeyError, ValueError):
            pass
        os.close(t["fd"])
        try:
            rc = p.wait(timeout=2)
        except subprocess.TimeoutExpired:
            kill_process_session(p.pid)
            rc = p.wait()
        if p.pid in EXITED:
            rc = EXITED.pop(p.pid)
        BACKGROUND.discard(p.pid)
        kill_process_session(p.pid)  # what it left running ends with it
        out({"type": "pty_exit", "id": tid, "exit_code": rc if rc >= 0 else 128 - rc})


def home_files(home, files):
    """Writes a program's set-up files into its home as the sandbox user: names are relative and stay inside the home,
    nothing is followed through a link. A file that is there already is kept, except that a JSON object given for a
    JSON object file is merged into it (the program's own entries stay; the given ones are set)."""
    prepare_home(home)
    for name, text in files.items():
        parts = name.split("/")
        if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise PermissionError(1, "bad home file name %r" % name[:100])
        path = os.path.join(home, name)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            fd = None
        if fd is not None:
            with os.fdopen(fd, "rb") as f:
                current = f.read(8 << 20)
            try:
                mine, given = json.loads(current), json.loads(text)
            except ValueError:
                continue
            if not (isinstance(mine, dict) and isinstance(given, dict)):
                continue
            text = json.dumps(merge_json(mine, given))
        tmp = os.path.join(os.path.dirname(path), ".%s.%d.tmp" % (parts[-1], os.getpid()))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    return None


def merge_json(mine, given):
    for k, v in given.items():
        mine[k] = merge_json(mine[k], v) if isinstance(v, dict) and isinstance(mine.get(k), dict) else v
    return mine