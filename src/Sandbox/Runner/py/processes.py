# processes.py: background processes (start_process): started, read, written to, listed and killed.


class Processes:
    """The proc_* requests."""

    def op_proc_start(self, rid, req):
        out(self.proc_start(rid, req))

    def op_proc_output(self, rid, req):
        out(self.proc_output(rid, req))

    def op_proc_list(self, rid, req):
        out({"type": "procs", "id": rid, "procs": [self.proc_info(pid) for pid in self.procs]})

    def op_proc_input(self, rid, req):
        out(self.proc_input(rid, req))

    def op_proc_kill(self, rid, req):
        pid = req.get("proc_id")
        if pid not in self.procs:
            out({"type": "error", "id": rid, "code": "process_not_found", "message": "no such process"})
        else:
            self.proc_end(pid, kill=True)
            out(dict(self.proc_info(pid), type="proc", id=rid))

    # -- background processes ---------------------------------------------------------------
    def proc_info(self, pid):
        p = self.procs[pid]
        rc = p["exit"] if p["exit"] is not None else self.proc_poll(p)
        return {"proc_id": pid, "pid": p["proc"].pid, "command": p["command"], "running": rc is None,
                "exit_code": None if rc is None else (rc if rc >= 0 else 128 - rc), "started": p["started"],
                "stdout_bytes": p["rings"][0].total, "stderr_bytes": p["rings"][1].total, "log": p["log"]}

    @staticmethod
    def proc_poll(p):
        """A background process's exit status, or None while it runs (even if reap_children collected it first)."""
        proc = p["proc"]
        if proc.pid in EXITED:
            proc.returncode = EXITED.pop(proc.pid)
        return proc.poll()

    def proc_start(self, rid, req):
        pid, argv, env, cwd = req.get("proc_id"), req.get("argv"), req.get("env") or {}, req.get("cwd") or ""
        limit = int(req.get("max", 16))
        if not (isinstance(pid, str) and 0 < len(pid) <= 64 and all(c.isalnum() or c in "-_" for c in pid)) or pid in self.procs:
            return {"type": "error", "id": rid, "code": "bad_request", "message": "bad or reused process id"}
        if not (isinstance(argv, list) and argv and all(isinstance(x, str) for x in argv)
                and isinstance(env, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
                and isinstance(cwd, str)):
            return {"type": "error", "id": rid, "code": "bad_request", "message": "argv must be strings, env a string map"}
        running = [p for p in self.procs.values() if p["exit"] is None]
        if len(running) >= limit:
            return {"type": "error", "id": rid, "code": "limit_exceeded",
                    "message": "this session already runs %d background processes (the most it may)" % len(running)}
        # Ended processes are forgotten oldest first once there are many.
        for old in [k for k, p in self.procs.items() if p["exit"] is not None][:max(0, len(self.procs) - 64)]:
            del self.procs[old]
        try:
            full = as_user(lambda _r, _p: resolve(cwd), rid, cwd)
            if isinstance(full, dict):
                return full
            if not os.path.isdir(full):
                return {"type": "error", "id": rid, "code": "invalid_path", "message": "cwd is not a directory in the workspace"}
        except OSError as e:
            return {"type": "error", "id": rid, "code": "invalid_path", "message": e.strerror or str(e)}
        spills = [open_spill(pid, "stdout"), open_spill(pid, "stderr")]
        if all(isinstance(fd, int) for fd in spills):
            log = ".outputs/" + pid
        else:
            for fd in spills:
                if isinstance(fd, int):
                    os.close(fd)
            spills, log = [None, None], None
        penv = user_env()
        penv.update(env)
        def start():
            demote()
            os.chdir(full)
        try:
            p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 preexec_fn=start, env=penv, cwd="/")
        except OSError as e:
            for fd in spills:
                if fd is not None:
                    os.close(fd)
            return {"type": "error", "id": rid, "code": "command_not_found" if isinstance(e, FileNotFoundError) else "bad_request",
                    "message": "%s: %s" % (argv[0][:200], e.strerror or str(e))}
        EXITED.pop(p.pid, None)  # a status left by an earlier child with this pid is not this one's
        BACKGROUND.add(p.pid)  # setsid in demote: its session id is its pid
        rings = [Ring(spills[0]), Ring(spills[1])]
        for i, f in enumerate((p.stdout, p.stderr)):
            os.set_blocking(f.fileno(), False)
            self.sel.register(f.fileno(), selectors.EVENT_READ, ("proc", pid, i))
        os.set_blocking(p.stdin.fileno(), False)
        self.procs[pid] = {"proc": p, "rings": rings, "exit": None, "open": 2, "started": time.time(),
                           "command": " ".join(argv)[:500], "log": log}
        return dict(self.proc_info(pid), type="proc", id=rid)

    def proc_read(self, pid, i):
        """Reads what is waiting on one of a process's pipes; returns whether more may come."""
        p = self.procs.get(pid)
        if p is None:
            return False
        f = (p["proc"].stdout, p["proc"].stderr)[i]
        if f.closed:
            return False
        try:
            data = os.read(f.fileno(), CHUNK)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if data:
            p["rings"][i].add(data)
            return True
        try:
            self.sel.unregister(f.fileno())
        except (KeyError, ValueError):
            pass
        f.close()
        p["open"] -= 1
        if p["open"] == 0:
            self.proc_end(pid)
        return False

    def proc_end(self, pid, kill=False):
        p = self.procs[pid]
        proc = p["proc"]
        if kill and p["exit"] is None:
            kill_process_session(proc.pid)
        if p["exit"] is None:
            try:
                if self.proc_poll(p) is None:
                    proc.wait(timeout=5 if kill else 0.5)
                p["exit"] = self.proc_poll(p)
            except subprocess.TimeoutExpired:
                if not kill:
                    return  # pipes closed but still running: the next tick looks again
                p["exit"] = -9
            BACKGROUND.discard(proc.pid)
            EXITED.pop(proc.pid, None)
            if not kill:
                kill_process_session(proc.pid)  # what it left running ends with it
        for i, f in enumerate((proc.stdout, proc.stderr)):
            try:
                self.sel.unregister(f.fileno())
            except (KeyError, ValueError):
                pass
            if not f.closed:
                try:
                    while True:
                        data = os.read(f.fileno(), CHUNK)
                        if not data:
                            break
                        p["rings"][i].add(data)
                except OSError:
                    pass
                f.close()
            p["rings"][i].close()
        if proc.stdin and not proc.stdin.closed:
            try:
                proc.stdin.close()
            except OSError:
                pass

    def proc_output(self, rid, req):
        pid = req.get("proc_id")
        if pid not in self.procs:
            return {"type": "error", "id": rid, "code": "process_not_found", "message": "no such process"}
        p = self.procs[pid]
        # What the process wrote before this question is in the answer, even if the loop has not read it yet.
        for i in (0, 1):
            for _ in range(64):
                if not self.proc_read(pid, i):
                    break
        if p["exit"] is None and p["open"] == 0:
            self.proc_end(pid)
        limit = max(1, min(int(req.get("max", 1 << 20)), 1 << 20))
        msg = dict(self.proc_info(pid), type="proc_output", id=rid)
        for i, name in enumerate(("stdout", "stderr")):
            text, nxt, skipped = p["rings"][i].since(int(req.get(name + "_from", 0)), limit)
            msg[name], msg[name + "_next"], msg[name + "_skipped"] = text, nxt, skipped
        return msg

    def proc_input(self, rid, req):
        pid, text = req.get("proc_id"), req.get("text")
        if pid not in self.procs:
            return {"type": "error", "id": rid, "code": "process_not_found", "message": "no such process"}
        p = self.procs[pid]
        if p["exit"] is not None or not isinstance(text, str):
            return {"type": "error", "id": rid, "code": "bad_request", "message": "the process has ended" if isinstance(text, str) else "text must be a string"}
        data = text.encode()
        try:
            written = os.write(p["proc"].stdin.fileno(), data) if data else 0
        except BlockingIOError:
            written = 0
        except OSError as e:
            return {"type": "error", "id": rid, "code": "bad_request", "message": "writing to its stdin: %s" % (e.strerror or e)}
        if text and bool(req.get("close")) is False and written < len(data):
            return {"type": "error", "id": rid, "code": "bad_request",
                    "message": "the process is not reading its stdin (%d of %d bytes taken)" % (written, len(data))}
        if req.get("close"):
            p["proc"].stdin.close()
        return {"type": "input", "id": rid, "written": written}
