# executions.py: one execution at a time (exec), in the kept interpreter or a fresh process; cancel, the record
# replayed to a server that attached again, and its acknowledgement.


class Executions:
    """The exec, cancel, ack, exec_state and replay requests."""

    def op_exec(self, rid, req):
        if self.active is not None:
            out({"type": "error", "id": rid, "code": "session_busy", "message": "an execution is running"})
            return
        self.start_exec(rid, req)

    def op_cancel(self, rid, req):
        a = self.active
        if a is not None and a["id"] == rid and not a["cancelled"]:
            a["cancelled"] = True
            a["cancel_at"] = time.monotonic()
            if a["kind"] == "kernel":
                try:
                    os.kill(a["pid"], signal.SIGINT)
                except OSError:
                    pass
            else:
                self.finish_fresh(killed=True)

    def op_ack(self, rid, req):
        # The server has the end of this execution: nothing to replay to a later one (no answer is sent).
        global RECORD
        if RECORD is not None and RECORD["id"] == rid and RECORD["done"]:
            RECORD = None

    def op_exec_state(self, rid, req):
        r = RECORD
        out({"type": "exec_state", "id": rid, "exec": r and r["id"],
             "running": r is not None and self.active is not None and self.active["id"] == r["id"],
             "done": bool(r and r["done"]), "started_ago": r and time.monotonic() - r["started"], "timeout": r and r["timeout"],
             "language": r and r["language"], "code_sha256": r and r["sha256"], "code_size": r and r["size"]})

    def op_replay(self, rid, req):
        # Everything the execution `rid` said so far, as it was said; what it says from now on follows live.
        r = RECORD
        if r is None or r["id"] != rid:
            out({"type": "error", "id": rid, "code": "bad_request", "message": "no such execution to replay"})
        else:
            out({"type": "replayed", "id": rid, "messages": [json.loads(d) for d in r["messages"]]})

    def start_exec(self, rid, req):
        cap = int(req.get("max_output", 1 << 20))
        lang, fresh = req.get("language", "python"), bool(req.get("fresh", False))
        a = {"id": rid, "cancelled": False, "cancel_at": None, "state_lost": False}
        spill_after = max(0, int(req.get("spill_after", cap)))
        spills = [(req["spill"], spill_after)] * 2 if isinstance(req.get("spill"), str) and lang != "argv" else [None, None]
        if lang == "python" and not fresh:
            if self.kernel is None or self.kernel["proc"].poll() is not None:
                if self.kernel is not None:
                    self.stop_kernel()
                    a["state_lost"] = True
                if not self.start_kernel():
                    out({"type": "error", "id": rid, "code": "python_unavailable", "message": NO_PYTHON})
                    return
            k = self.kernel
            k["out"].reset(rid, cap, spills[0])
            k["err"].reset(rid, cap, spills[1])
            a.update(kind="kernel", pid=k["proc"].pid, streams=(k["out"], k["err"]))
            os.write(k["ctl_w"], (json.dumps({"id": rid, "code": req.get("code", "")}) + "\n").encode())
        else:
            env = user_env()
            if lang == "argv":
                # A command given as an argument vector (an agent CLI): never through a shell. Its extra environment
                # reaches this process tree only, never the kernel or later executions.
                argv, extra = req.get("argv"), req.get("env") or {}
                if not (isinstance(argv, list) and argv and all(isinstance(x, str) for x in argv)
                        and isinstance(extra, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in extra.items())):
                    out({"type": "error", "id": rid, "code": "bad_request", "message": "argv must be strings, env a string map"})
                    return
                env.update(extra)
                home = env.get("HOME", WORKDIR)
                if home != WORKDIR:
                    as_user(lambda _r, _p: prepare_home(home), rid, home)
                a["argv"] = True
            elif lang == "node":
                argv = ["node", "-e", req.get("code", "")]
            else:
                argv = [USER_PYTHON, "-c", req.get("code", "")] if lang == "python" else \
                       ["/bin/bash", "-c", req.get("code", "")]
            try:
                p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     preexec_fn=(lambda: demote(AGENT_NPROC, address=False)) if a.get("argv") else demote, env=env, cwd=WORKDIR)
            except OSError as e:
                if lang == "python" and isinstance(e, FileNotFoundError):
                    out({"type": "error", "id": rid, "code": "python_unavailable", "message": NO_PYTHON})
                    return
                out({"type": "error", "id": rid, "code": "command_not_found" if isinstance(e, FileNotFoundError) else "bad_request",
                     "message": "%s: %s" % (argv[0][:200], e.strerror or str(e))})
                return
            EXITED.pop(p.pid, None)  # a status left by an earlier child with this pid is not this one's
            so, se = Stream("stdout", p.stdout.fileno()), Stream("stderr", p.stderr.fileno())
            so.reset(rid, cap, spills[0])
            se.reset(rid, cap, spills[1])
            for s, tag in ((so, "f_out"), (se, "f_err")):
                os.set_blocking(s.fd, False)
                self.sel.register(s.fd, selectors.EVENT_READ, tag)
            a.update(kind="fresh", proc=p, streams=(so, se), open=2)
        self.active = a
        if not a.get("argv"):
            global RECORD
            code = req.get("code", "")
            RECORD = {"id": rid, "messages": [], "bytes": 0, "done": False, "started": time.monotonic(),
                      "timeout": req.get("timeout_s"), "language": lang, "size": len(code),
                      "sha256": hashlib.sha256(code.encode("utf-8", "replace")).hexdigest()}

    def done(self, exit_code, error=None, timed_out=False):
        a, self.active = self.active, None
        so, se = a["streams"]
        for s in (so, se):
            s.feed(b"", final=True)
            s.flush(hold=True)  # written together with the end, below
        for s in (so, se):
            s.close_spill()
        out({"type": "done", "id": a["id"], "exit_code": exit_code, "error": error, "timed_out": timed_out,
             "state_lost": a["state_lost"], "truncated": so.truncated or se.truncated,
             "truncated_streams": [s.name for s in (so, se) if s.truncated],
             "bytes": {"stdout": so.raw, "stderr": se.raw}, "kept": [s.name for s in (so, se) if s.kept],
             "spill_error": so.spill_error or se.spill_error, "tails": {s.name: s.tail for s in (so, se) if s.truncated}})
        for s in (so, se):
            s.exec_id = None

    def drain(self, stream):
        while True:
            try:
                data = os.read(stream.fd, CHUNK)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not data:
                return False
            stream.feed(data)

    def finish_fresh(self, killed=False):
        a = self.active
        p = a["proc"]
        if killed:
            # Everything the command started goes; the Python interpreter stays (its variables survive a bash timeout,
            # and a killed interpreter noticed later would take the next command down with it).
            kill_user_processes(keep=self.kernel["proc"].pid if self.kernel is not None else None)
        elif a.get("argv"):
            # An agent's leftovers (servers, watchers it started) end with its run. The command closed its outputs, but
            # may still be on its way out (coreutils close stdout in an exit handler): it gets a moment to end on its
            # own first, or the kill takes it too and its status reads 137.
            try:
                p.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
            kill_process_session(p.pid)
        for s in a["streams"]:
            self.drain(s)
            try:
                self.sel.unregister(s.fd)
            except (KeyError, ValueError):
                pass
        try:
            rc = p.wait(timeout=2)
        except subprocess.TimeoutExpired:
            kill_user_processes()
            rc = p.wait()
        if p.pid in EXITED:
            # Reaped by reap_children (while killing what it left), so Popen saw no status: the real one is here.
            rc = EXITED.pop(p.pid)
        p.stdout.close()
        p.stderr.close()
        error = memory_error("the command was stopped") if out_of_memory(p.pid, rc) else None
        self.done(rc if rc >= 0 else 128 - rc, error, timed_out=a["cancelled"])
