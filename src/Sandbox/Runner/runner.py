# Sandbox runner: the long-lived supervisor inside every session container.
#
# The engine starts it as the container's main process (under docker-init) with this file's text
# passed to `python3 -c`, so it works with any image that has python3 and needs nothing baked in.
# It speaks JSON lines on stdin/stdout with the engine over the attached stream (no docker exec per
# call). It runs as uid 0 holding only CAP_SETUID, CAP_SETGID and CAP_KILL; every piece of user
# code runs as the unprivileged sandbox user with no capabilities, so user code can neither kill
# nor trace the supervisor, and the supervisor can always stop runaway user processes.
#
# Host -> runner:  {"op":"ping"|"exec"|"cancel"|"analyze", "id":..., ...}
# Runner -> host:  {"type":"pong"|"out"|"image"|"done"|"facts"|"error", "id":..., ...}
# The engine treats everything read from here as untrusted: a process in the sandbox may lie.
import ast, base64, fcntl, hashlib, json, os, resource, select, selectors, signal, stat, struct, subprocess, sys, termios, time, codecs

UID = int(os.environ.get("SANDBOX_UID", "1000"))
GID = int(os.environ.get("SANDBOX_GID", "1000"))
NPROC = int(os.environ.get("SANDBOX_NPROC", "0"))  # set under gVisor only: the process limit of user code
AGENT_NPROC = int(os.environ.get("SANDBOX_AGENT_NPROC", "0")) or NPROC  # the same for an agent run (many threads)
WORKDIR = "/workspace"
CHUNK = 32 * 1024
# Reads of the host's requests and the kernel's messages: below malloc's mmap threshold, so a read allocates no fresh
# mapping (mmap/munmap per read cost milliseconds under gVisor's ptrace platform). Longer messages take several reads.
READ_SIZE = 64 * 1024
INTERRUPT_GRACE = 1.0

KERNEL_SRC = r'''
import ast, base64, builtins, io, json, os, sys, traceback, types, importlib.abc, importlib.util
# Buffered: read unbuffered, a request line costs one system call per byte (costly under gVisor, where every call
# is served by the sandbox's own kernel).
ctl_in = os.fdopen(int(sys.argv[1]), "rb")
ctl_out = os.fdopen(int(sys.argv[2]), "wb", buffering=0)
def send(msg):
    ctl_out.write((json.dumps(msg) + "\n").encode())
ns = {"__name__": "__main__", "__builtins__": builtins}
# Line-buffered so output arrives in whole lines while the code runs (flushed again when each call ends).
sys.stdout.reconfigure(line_buffering=True)
sys.stderr.reconfigure(line_buffering=True)
import signal
signal.signal(signal.SIGINT, signal.default_int_handler)
cur = [None]
def emit_figures():
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    for num in plt.get_fignums():
        buf = io.BytesIO()
        try:
            plt.figure(num).savefig(buf, format="png")
        except Exception as e:
            sys.stderr.write("could not render figure %s: %s\n" % (num, e))
            continue
        sys.stdout.flush(); sys.stderr.flush()
        send({"type": "image", "id": cur[0], "format": "png", "data": base64.b64encode(buf.getvalue()).decode()})
    plt.close("all")
BACKEND_SRC = """
from matplotlib.backends.backend_agg import FigureCanvasAgg as FigureCanvas
from matplotlib.backend_bases import FigureManagerBase as FigureManager
def show(*args, **kwargs):
    import builtins
    builtins.__sandbox_emit_figures__()
"""
class _BackendFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        return importlib.util.spec_from_loader(name, self) if name == "sandbox_mpl_backend" else None
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        exec(BACKEND_SRC, module.__dict__)
sys.meta_path.insert(0, _BackendFinder())
builtins.__sandbox_emit_figures__ = emit_figures
os.environ["MPLBACKEND"] = "module://sandbox_mpl_backend"
def run(code):
    exit_code, error = 0, None
    try:
        tree = ast.parse(code, "<string>", "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, "<string>", "exec"), ns)
        if last is not None:
            value = eval(compile(last, "<string>", "eval"), ns)
            if value is not None:
                print(repr(value))
    except SystemExit as e:
        c = e.code
        exit_code = c if isinstance(c, int) else (0 if c is None else 1)
        if c is not None and not isinstance(c, int):
            sys.stderr.write(str(c) + "\n")
    except BaseException as e:
        exit_code = 1
        tb = e.__traceback__
        # Drop this kernel's own frames so the text is what `python3 -c` prints.
        while tb is not None and tb.tb_frame.f_globals is not ns:
            tb = tb.tb_next
        text = "".join(traceback.format_exception(type(e), e, tb))
        if tb is None and not isinstance(e, SyntaxError):
            text = "".join(traceback.format_exception_only(type(e), e))
            text = "Traceback (most recent call last):\n" + text
        sys.stderr.write(text)
        error = {"type": type(e).__name__, "message": str(e), "traceback": text}
    try:
        emit_figures()
    except Exception:
        pass
    return exit_code, error
MAIN_PID = os.getpid()
send({"type": "ready"})
for line in ctl_in:
    req = json.loads(line)
    cur[0] = req["id"]
    # Packages installed into the session since the last call (install_packages) become importable.
    importlib.invalidate_caches()
    exit_code, error = run(req["code"])
    if os.getpid() != MAIN_PID:
        os._exit(exit_code if isinstance(exit_code, int) else 1)  # a fork of the code must never become a kernel
    try:
        sys.stdout.flush(); sys.stderr.flush()
    except Exception:
        pass
    send({"type": "done", "id": req["id"], "exit_code": exit_code, "error": error})
'''


RECORD = None  # the last execution's messages, replayed to a server that attached again after a restart
RECORD_MAX = 16 << 20  # bytes of messages kept (output is capped per execution well below this)


HELD = []  # messages held back to go out in one write with the next one (an execution's last output and its end)


def out(msg, hold=False):
    data = (json.dumps(msg, separators=(",", ":")) + "\n").encode()
    r = RECORD
    if r is not None and msg.get("id") == r["id"] and msg.get("type") in ("out", "image", "done"):
        if r["bytes"] + len(data) <= RECORD_MAX or msg["type"] == "done":
            r["messages"].append(data)
            r["bytes"] += len(data)
        r["done"] = r["done"] or msg["type"] == "done"
    if hold:
        HELD.append(data)
        return
    if HELD:
        HELD.append(data)
        data = b"".join(HELD)
        HELD.clear()
    write(data)


def write(data):
    view = memoryview(data)
    while view:
        n = os.write(1, view)
        view = view[n:]


def demote(nproc=None):
    nproc = NPROC if nproc is None else nproc
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        # Under memory pressure the OOM killer takes user code first, never the runner (raising needs no privilege).
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    if nproc > 0:
        # gVisor: the sandbox's own kernel counts the user's processes (the cgroup sees only gVisor's host threads).
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    os.setgroups([])
    os.setgid(GID)
    os.setuid(UID)
    os.setsid()
    os.chdir(WORKDIR)


PY_PACKAGES = WORKDIR + "/.packages/python"  # where install_packages puts Python packages


EXTRA_ENV = {}  # set by the engine ("env" op): the egress proxy and its CA bundle of a session with a network
EGRESS_DIR = "/tmp/.sandbox"
SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"


def user_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
    env.update(EXTRA_ENV)
    env.update({"HOME": WORKDIR, "USER": "sandbox", "PWD": WORKDIR})
    env["PYTHONPATH"] = PY_PACKAGES + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


EXITED = {}  # exit statuses of children this reaped before their Popen could (pid -> Popen-style code)


def reap_children():
    """Collects our children that died (docker-init reaps orphans re-parented to it), keeping the exit status of
    background processes for their owner."""
    try:
        while True:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid <= 0:
                return
            # Every child's status is kept (an execution's command reaped here before its Popen.wait would otherwise
            # report 0 for any exit status); the owner takes it out.
            EXITED[pid] = os.waitstatus_to_exitcode(status)
            while len(EXITED) > 4096:
                EXITED.pop(next(iter(EXITED)))
    except ChildProcessError:
        pass


def kill_matching(select, rounds, pause):
    """SIGKILLs, until none is left, every process but init and the runner for which select(pid) is true.
    Returns whether there was any."""
    any_found = False
    for _ in range(rounds):
        found = False
        for p in os.listdir("/proc"):
            if not p.isdigit() or int(p) in (1, os.getpid()):
                continue
            try:
                if select(int(p)):
                    os.kill(int(p), signal.SIGKILL)
                    found = any_found = True
            except (OSError, ValueError, IndexError):
                pass
        reap_children()
        if not found:
            return any_found
        time.sleep(pause)
    return any_found


def session_of(pid):
    # /proc/PID/stat after the command's ")": state, ppid, pgrp, session, tty_nr, ...
    with open("/proc/%d/stat" % pid, "rb") as f:
        return int(f.read().rsplit(b")", 1)[1].split()[3])


def stop_user_processes():
    """SIGSTOPs every process of the sandbox user at once: a helper that becomes the user signals all it may (kill -1
    stays inside the sandbox's pid namespace). Stopped processes cannot fork or compete for the CPU while they are
    found and killed one by one (a fork bomb under gVisor's ptrace platform would otherwise starve the runner). When no
    process is left to fork the helper (the pids limit is reached), the killing goes ahead without it."""
    try:
        pid = os.fork()
    except OSError:
        return
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(GID)
            os.setuid(UID)
            os.kill(-1, signal.SIGSTOP)
        except OSError:
            pass
        finally:
            os._exit(0)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


BACKGROUND = set()  # session ids (= pids) of background processes: kills of executions' leftovers spare them


def kill_user_processes(keep=None, everything=False):
    """Kills every process of the sandbox user (code, its children, anything it left behind), except `keep` and,
    unless `everything`, the background processes (start_process) and what they started."""
    protected = set() if everything else set(BACKGROUND)
    if keep is not None or protected:
        def spared(pid):
            if pid == keep:
                return True
            try:
                return session_of(pid) in protected
            except (OSError, ValueError, IndexError):
                return False
        stop_user_processes()
        try:
            return kill_matching(lambda pid: not spared(pid), 100, 0.005)
        finally:
            for p in os.listdir("/proc"):
                if p.isdigit() and int(p) not in (1, os.getpid()) and spared(int(p)):
                    try:
                        os.kill(int(p), signal.SIGCONT)
                    except OSError:
                        pass
    for _ in range(50):
        try:
            os.kill(-1, signal.SIGKILL)  # all we may signal but init and ourselves
        except ProcessLookupError:
            break
        except PermissionError:
            break
        time.sleep(0.01)
        reap_children()
        if not any(p.isdigit() and int(p) not in (1, os.getpid()) for p in os.listdir("/proc")):
            break


def set_winsize(fd, cols, rows):
    """Sets a terminal's size (the kernel tells its foreground programs with SIGWINCH)."""
    try:
        cols, rows = max(1, min(int(cols or 80), 1000)), max(1, min(int(rows or 24), 1000))
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    except (OSError, ValueError, TypeError):
        pass


def kill_process_session(sid):
    """Kills every process of the session `sid` (a command and what it started, unless it escaped with setsid)."""
    kill_matching(lambda pid: session_of(pid) == sid, 50, 0.01)


COALESCE = 0.02  # seconds a partial line may wait for the rest before it is sent anyway
# Seconds whole lines wait before they are sent: long enough for the end of a short execution to catch up with its
# output, so both leave in one write (one message through the engine's attach path instead of two, each of which wakes
# the container shim, the engine and the server), short enough that a person watching live output cannot tell.
LINE_HOLD = 0.001
RING = 256 * 1024  # bytes of each background process stream kept in memory (the log keeps all)
TAIL = 64 * 1024  # characters of each stream's end kept for an answer cut at the cap
SPILL_MAX = 1 << 30  # bytes of one stream's output log at most (the workspace's size bounds it first)
OUTPUTS = WORKDIR + "/.outputs"


def open_spill(exec_id, name):
    """Opens one stream's output log of an execution or process as the sandbox user (it is the user's file): an fd,
    or an error message."""
    if not (isinstance(exec_id, str) and 0 < len(exec_id) <= 64 and all(c.isalnum() or c in "-_" for c in exec_id)):
        return "bad execution id"
    def _open(_r, _p):
        try:
            os.mkdir(OUTPUTS, 0o700)
        except FileExistsError:
            pass
        if not stat.S_ISDIR(os.lstat(OUTPUTS).st_mode):
            raise PermissionError(1, ".outputs is not a directory")
        return os.open("%s/%s.%s" % (OUTPUTS, exec_id, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    r = as_user(_open, None, "")
    return r if isinstance(r, int) else r.get("message", "cannot open the output log")


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
            view = memoryview(data)
            while view:
                view = view[os.write(self.spill, view):]
        except OSError as e:
            self.spill_error = e.strerror or str(e)
            self.close_spill()

    def close_spill(self):
        if self.spill is not None:
            try:
                os.close(self.spill)
            except OSError:
                pass
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
                view = memoryview(data)
                while view:
                    view = view[os.write(self.spill, view):]
            except OSError:
                self.close()

    def close(self):
        if self.spill is not None:
            try:
                os.close(self.spill)
            except OSError:
                pass
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


class Runner:
    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.kernel = None
        self.ctl_buf = b""
        self.active = None  # dict describing the running execution
        self.stdin_buf = b""
        self.snapshot = None  # the workspace before an agent run, for its diff
        self.procs = {}  # background processes by id (start_process)
        self.ttys = {}  # interactive terminals by id (a shell on a pseudo-terminal)
        os.set_blocking(0, False)
        self.sel.register(0, selectors.EVENT_READ, "stdin")
        # The interpreter starts now, beside the engine's own set-up, not at the first execution: a session's first
        # call (and every call to a warm pool container) then finds it ready instead of paying Python's start-up
        # (~60 ms in a container, ~300 ms under gVisor, measured).
        self.start_kernel()

    # -- kernel ------------------------------------------------------------------------------
    def start_kernel(self):
        c_in_r, c_in_w = os.pipe()
        c_out_r, c_out_w = os.pipe()
        p = subprocess.Popen(
            [sys.executable, "-c", KERNEL_SRC, str(c_in_r), str(c_out_w)], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(c_in_r, c_out_w), preexec_fn=demote,
            env=user_env(), cwd="/")
        for fd in (c_in_r, c_out_w):
            os.close(fd)
        self.kernel = {"proc": p, "ctl_w": c_in_w, "ctl_r": c_out_r, "ready": False,
                       "out": Stream("stdout", p.stdout.fileno()), "err": Stream("stderr", p.stderr.fileno())}
        for fd, tag in ((p.stdout.fileno(), "k_out"), (p.stderr.fileno(), "k_err"), (c_out_r, "k_ctl")):
            os.set_blocking(fd, False)
            self.sel.register(fd, selectors.EVENT_READ, tag)
        self.ctl_buf = b""

    def stop_kernel(self):
        k, self.kernel = self.kernel, None
        if k is None:
            return
        for fd in (k["proc"].stdout.fileno(), k["proc"].stderr.fileno(), k["ctl_r"]):
            try:
                self.sel.unregister(fd)
            except (KeyError, ValueError):
                pass
        kill_user_processes()
        try:
            k["proc"].wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        for f in (k["proc"].stdout, k["proc"].stderr):
            f.close()
        for fd in (k["ctl_w"], k["ctl_r"]):
            try:
                os.close(fd)
            except OSError:
                pass

    # -- requests ----------------------------------------------------------------------------
    def handle(self, req):
        op, rid = req.get("op"), req.get("id")
        if op == "ping":
            out({"type": "pong", "id": rid, "kernel": self.kernel is not None, "busy": self.active is not None,
                 "kernel_ready": self.kernel is not None and self.kernel["ready"]})
        elif op == "analyze":
            out(analyze(rid, req.get("code", "")))
        elif op == "exec":
            if self.active is not None:
                out({"type": "error", "id": rid, "code": "session_busy", "message": "an execution is running"})
                return
            self.start_exec(rid, req)
        elif op == "cancel":
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
        elif op == "list":
            out(as_user(list_dir, rid, req.get("path", "")))
        elif op == "delete":
            out(as_user(delete_path, rid, req.get("path", "")))
        elif op == "hash":
            out(as_user(hash_file, rid, req.get("path", "")))
        elif op == "space":
            st = os.statvfs(WORKDIR)
            out({"type": "space", "id": rid, "free": st.f_bavail * st.f_frsize, "total": st.f_blocks * st.f_frsize})
        elif op == "rename":
            out(as_user(lambda r, p: rename_path(r, p, req.get("to", "")), rid, req.get("path", "")))
        elif op == "snapshot":
            self.snapshot = as_user(take_snapshot, rid, "")
            if self.snapshot.get("type") == "error":
                out(self.snapshot)
                self.snapshot = None
            else:
                out({"type": "snapshot", "id": rid, "files": len(self.snapshot["files"])})
        elif op == "diff":
            if self.snapshot is None:
                out({"type": "error", "id": rid, "code": "bad_request", "message": "no snapshot"})
            else:
                before, self.snapshot = self.snapshot, None
                out(as_user(lambda r, _p: diff_snapshot(r, before, int(req.get("max_chars", 1 << 20))), rid, ""))
        elif op == "env":
            self.set_env(rid, req)
        elif op == "ack":
            # The server has the end of this execution: nothing to replay to a later one (no answer is sent).
            global RECORD
            if RECORD is not None and RECORD["id"] == rid and RECORD["done"]:
                RECORD = None
        elif op == "exec_state":
            r = RECORD
            out({"type": "exec_state", "id": rid, "exec": r and r["id"],
                 "running": r is not None and self.active is not None and self.active["id"] == r["id"],
                 "done": bool(r and r["done"]), "started_ago": r and time.monotonic() - r["started"], "timeout": r and r["timeout"],
                 "language": r and r["language"], "code_sha256": r and r["sha256"], "code_size": r and r["size"]})
        elif op == "replay":
            # Everything the execution `rid` said so far, as it was said; what it says from now on follows live.
            r = RECORD
            if r is None or r["id"] != rid:
                out({"type": "error", "id": rid, "code": "bad_request", "message": "no such execution to replay"})
            else:
                out({"type": "replayed", "id": rid, "messages": [json.loads(d) for d in r["messages"]]})
        elif op == "reset":
            self.stop_kernel()
            for pid in list(self.procs):
                self.proc_end(pid, kill=True)
            for tid in list(self.ttys):
                self.pty_end(tid, kill=True)
            kill_user_processes(everything=True)
            out({"type": "reset", "id": rid})
        elif op == "proc_start":
            out(self.proc_start(rid, req))
        elif op == "proc_output":
            out(self.proc_output(rid, req))
        elif op == "proc_list":
            out({"type": "procs", "id": rid, "procs": [self.proc_info(pid) for pid in self.procs]})
        elif op == "proc_input":
            out(self.proc_input(rid, req))
        elif op == "pty_open":
            out(self.pty_open(rid, req))
        elif op == "pty_input":
            self.pty_input(req)
        elif op == "pty_resize":
            t = self.ttys.get(req.get("term_id"))
            if t is not None:
                set_winsize(t["fd"], req.get("cols"), req.get("rows"))
        elif op == "pty_close":
            if req.get("term_id") in self.ttys:
                self.pty_end(req.get("term_id"), kill=True)
        elif op == "proc_kill":
            pid = req.get("proc_id")
            if pid not in self.procs:
                out({"type": "error", "id": rid, "code": "process_not_found", "message": "no such process"})
            else:
                self.proc_end(pid, kill=True)
                out(dict(self.proc_info(pid), type="proc", id=rid))
        else:
            out({"type": "error", "id": rid, "code": "bad_request", "message": "unknown op"})

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

    # -- terminals ---------------------------------------------------------------------------
    def pty_open(self, rid, req):
        """Starts an interactive shell on a new pseudo-terminal as the sandbox user. Its output goes out as pty_out
        messages (base64) with the terminal's id; its end as pty_exit. Spared by executions' kills, like processes."""
        tid, limit = req.get("term_id"), int(req.get("max", 4))
        if not (isinstance(tid, str) and 0 < len(tid) <= 64 and all(c.isalnum() or c in "-_" for c in tid)) or tid in self.ttys:
            return {"type": "error", "id": rid, "code": "bad_request", "message": "bad or reused terminal id"}
        if len(self.ttys) >= limit:
            return {"type": "error", "id": rid, "code": "limit_exceeded", "message": "this session already has %d terminals open (the most it may)" % len(self.ttys)}
        master, slave = os.openpty()
        set_winsize(slave, req.get("cols"), req.get("rows"))
        env = user_env()
        env.update({"TERM": "xterm-256color", "COLORTERM": "truecolor", "SHELL": "/bin/bash"})
        def start():
            demote()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        try:
            p = subprocess.Popen(["/bin/bash", "-i"], stdin=slave, stdout=slave, stderr=slave, preexec_fn=start, env=env, cwd=WORKDIR)
        except OSError as e:
            os.close(master)
            return {"type": "error", "id": rid, "code": "command_not_found", "message": "bash: %s" % (e.strerror or str(e))}
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
                    with open("/proc/%s/stat" % entry) as f:
                        fields = f.read().rsplit(")", 1)[1].split()
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
                self.start_kernel()
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
                    as_user(lambda _r, _p: os.makedirs(home, mode=0o700, exist_ok=True), rid, home)
                a["argv"] = True
            elif lang == "node":
                argv = ["node", "-e", req.get("code", "")]
            else:
                argv = [sys.executable, "-c", req.get("code", "")] if lang == "python" else \
                       ["/bin/bash", "-c", req.get("code", "")]
            try:
                p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     preexec_fn=(lambda: demote(AGENT_NPROC)) if a.get("argv") else demote, env=env, cwd=WORKDIR)
            except OSError as e:
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
        self.done(rc if rc >= 0 else 128 - rc, timed_out=a["cancelled"])

    def on_kernel_ctl(self):
        k = self.kernel
        try:
            data = os.read(k["ctl_r"], READ_SIZE)
        except BlockingIOError:
            return
        if not data:
            self.kernel_died()
            return
        self.ctl_buf += data
        while b"\n" in self.ctl_buf and self.kernel is k:
            line, self.ctl_buf = self.ctl_buf.split(b"\n", 1)
            msg = json.loads(line)
            if msg["type"] == "ready":
                k["ready"] = True
            elif msg["type"] == "image" and self.active is not None:
                self.drain(k["out"])
                self.drain(k["err"])
                k["out"].flush(hold=True)
                k["err"].flush(hold=True)
                out({"type": "image", "id": self.active["id"], "format": msg["format"], "data": msg["data"]})
            elif msg["type"] == "done" and self.active is not None:
                self.drain(k["out"])
                self.drain(k["err"])
                a = self.active
                err = msg.get("error")
                if a["cancelled"] and kill_user_processes(keep=k["proc"].pid):
                    # The interrupt stopped the main code, but it had started other processes (background jobs,
                    # forks): they are killed, and the interpreter is restarted so that none of them lingers as
                    # a zombie holding a process slot. Variables are lost in that case, and the result says so.
                    self.stop_kernel()
                    a["state_lost"] = True
                self.done(msg["exit_code"], err, timed_out=a["cancelled"])

    def kernel_died(self):
        k = self.kernel
        for s in (k["out"], k["err"]):
            self.drain(s)
        rc = k["proc"].poll()
        if rc is None:
            try:
                rc = k["proc"].wait(timeout=1)
            except subprocess.TimeoutExpired:
                rc = -9
        self.stop_kernel()
        if self.active is not None and self.active["kind"] == "kernel":
            self.active["state_lost"] = True
            self.done(rc if rc >= 0 else 128 - rc,
                      {"type": "KernelDied", "message": "the Python process ended (exit status %s); "
                       "variables and imports were lost" % rc, "traceback": None},
                      timed_out=self.active["cancelled"])

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


def as_user(fn, rid, path):
    """Runs a file operation with the sandbox user's rights (the runner has no DAC override anyway)."""
    os.setegid(GID)
    os.seteuid(UID)
    try:
        return fn(rid, path)
    except OSError as e:
        return {"type": "error", "id": rid, "code": "file_not_found" if isinstance(e, FileNotFoundError) else "invalid_path",
                "message": "%s: %s" % (type(e).__name__, e.strerror or str(e))}
    finally:
        os.seteuid(0)
        os.setegid(0)


def resolve(path):
    """The real path of a workspace-relative path, refusing anything that leaves the workspace."""
    full = os.path.realpath(os.path.join(WORKDIR, path))
    if full != WORKDIR and not full.startswith(WORKDIR + "/"):
        raise PermissionError(1, "the path leaves the workspace through a symbolic link")
    return full


def list_dir(rid, path):
    full = resolve(path)
    entries = []
    with os.scandir(full) as it:
        for e in it:
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            kind = "symlink" if e.is_symlink() else "directory" if e.is_dir(follow_symlinks=False) else "file"
            entries.append({"name": e.name, "kind": kind, "size": st.st_size, "mtime": st.st_mtime})
            if len(entries) >= 10000:
                break
    entries.sort(key=lambda x: x["name"])
    return {"type": "listing", "id": rid, "entries": entries, "truncated": len(entries) >= 10000}


def delete_path(rid, path):
    parent = resolve(os.path.dirname(path))
    full = os.path.join(parent, os.path.basename(path))
    if os.path.isdir(full) and not os.path.islink(full):
        import shutil
        shutil.rmtree(full)
    else:
        os.remove(full)
    return {"type": "deleted", "id": rid}


def hash_file(rid, path):
    """SHA-256, size and modification time of a regular file (a symbolic link is not followed)."""
    parent = resolve(os.path.dirname(path))
    fd = os.open(os.path.join(parent, os.path.basename(path)), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return {"type": "error", "id": rid, "code": "invalid_path", "message": "not a regular file"}
        h = hashlib.sha256()
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            h.update(chunk)
        return {"type": "hash", "id": rid, "sha256": h.hexdigest(), "size": st.st_size, "mtime": st.st_mtime}
    finally:
        os.close(fd)


def rename_path(rid, path, to):
    """Moves a file within the workspace (replacing a file, never a directory)."""
    src = os.path.join(resolve(os.path.dirname(path)), os.path.basename(path))
    dst = os.path.join(resolve(os.path.dirname(to)), os.path.basename(to))
    if os.path.isdir(dst) and not os.path.islink(dst):
        return {"type": "error", "id": rid, "code": "invalid_path", "message": "the target is a directory"}
    os.replace(src, dst)
    return {"type": "renamed", "id": rid}


SNAP_TEXT_MAX = 1 << 20      # files up to this size keep their text for the diff
SNAP_TOTAL_MAX = 32 << 20    # text kept for one snapshot at most
SNAP_FILES_MAX = 20000
SNAP_SKIP = {".git", ".outputs"}  # version-control internals and kept execution output: noise in a review diff


def read_regular(path, limit):
    """(sha256, size, bytes or None) of a regular file opened without following a symbolic link."""
    import hashlib
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not (st.st_mode & 0o170000 == 0o100000):
            return None
        h, kept, size = hashlib.sha256(), [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            h.update(chunk)
            size += len(chunk)
            if size <= limit:
                kept.append(chunk)
        return h.hexdigest(), size, b"".join(kept) if size <= limit else None
    finally:
        os.close(fd)


def take_snapshot(rid, _path):
    """Hashes (and for small text files, contents) of every file in the workspace, as the sandbox user sees it."""
    files, budget = {}, SNAP_TOTAL_MAX
    for root, dirs, names in os.walk(WORKDIR, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in SNAP_SKIP)
        for name in sorted(names):
            full = os.path.join(root, name)
            rel = os.path.relpath(full, WORKDIR)
            try:
                if os.path.islink(full):
                    files[rel] = ("link:" + os.readlink(full), 0, None)
                    continue
                got = read_regular(full, min(SNAP_TEXT_MAX, budget))
            except OSError:
                continue
            if got is None:
                continue
            digest, size, data = got
            text = None
            if data is not None and b"\0" not in data[:8192]:
                try:
                    text = data.decode("utf-8")
                    budget -= len(data)
                except UnicodeDecodeError:
                    text = None
            files[rel] = (digest, size, text)
            if len(files) >= SNAP_FILES_MAX:
                return {"type": "snapshot", "files": files, "truncated": True}
    return {"type": "snapshot", "files": files, "truncated": False}


def diff_lines(entry):
    text = entry[2] if entry is not None else ""
    return [line if line.endswith("\n") else line + "\n" for line in text.splitlines(keepends=True)]


def diff_snapshot(rid, before, max_chars):
    """The files the run changed and a unified diff of their text, against the snapshot taken before it."""
    import difflib
    after = take_snapshot(rid, "")
    b, a = before["files"], after["files"]
    changes, parts, used, truncated = [], [], 0, before.get("truncated") or after.get("truncated")
    for path in sorted(set(b) | set(a)):
        old, new = b.get(path), a.get(path)
        if old is not None and new is not None and old[0] == new[0]:
            continue
        kind = "added" if old is None else "deleted" if new is None else "modified"
        binary = (old is not None and old[2] is None) or (new is not None and new[2] is None)
        changes.append({"path": path, "change": kind, "binary": binary, "size": new[1] if new else 0})
        if used >= max_chars:
            truncated = True
            continue
        if binary:
            text = "Binary files %s and %s differ\n" % ("a/" + path if old else "/dev/null", "b/" + path if new else "/dev/null")
        else:
            text = "".join(difflib.unified_diff(
                diff_lines(old), diff_lines(new), "a/" + path if old else "/dev/null", "b/" + path if new else "/dev/null"))
        if used + len(text) > max_chars:
            text, truncated = text[:max_chars - used], True
        parts.append(text)
        used += len(text)
    return {"type": "diff", "id": rid, "changes": changes[:SNAP_FILES_MAX], "diff": "".join(parts), "truncated": bool(truncated)}


def dotted(node, aliases):
    """The qualified name of a Name/Attribute chain, with import aliases resolved."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(aliases.get(node.id, node.id))
        return ".".join(reversed(parts))
    if isinstance(node, ast.Call):
        inner = dotted(node.func, aliases)
        if inner == "__import__" and node.args and isinstance(node.args[0], ast.Constant):
            parts.append(str(node.args[0].value))
            return ".".join(reversed(parts))
    return None


def analyze(rid, code):
    """Facts about the code for the engine's safety policy: imports, calls, dynamic tricks."""
    try:
        tree = ast.parse(code, "<string>", "exec")
    except SyntaxError as e:
        return {"type": "facts", "id": rid, "syntax_error": {"message": e.msg, "line": e.lineno or 0}, "facts": []}
    aliases, facts = {}, []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                # `import a.b` binds `a`; `import a.b as c` binds `c` to `a.b`.
                bound = a.asname or a.name.split(".")[0]
                aliases[bound] = a.name if a.asname else bound
                facts.append({"kind": "import", "name": a.name, "line": node.lineno})
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                aliases[a.asname or a.name] = node.module + "." + a.name
                facts.append({"kind": "import", "name": node.module + "." + a.name, "line": node.lineno})
                facts.append({"kind": "import", "name": node.module, "line": node.lineno})
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = dotted(node.func, aliases)
            if name:
                args = [a.value for a in node.args if isinstance(a, ast.Constant)]
                facts.append({"kind": "call", "name": name, "line": node.lineno,
                              "constant_args": all(isinstance(a, ast.Constant) for a in node.args),
                              "args": [str(a)[:200] for a in args][:4]})
        elif isinstance(node, ast.Attribute):
            name = dotted(node, aliases)
            if name:
                facts.append({"kind": "attribute", "name": name, "line": node.lineno})
        elif isinstance(node, ast.Name) and node.id in aliases:
            facts.append({"kind": "name", "name": aliases[node.id], "line": node.lineno})
    return {"type": "facts", "id": rid, "syntax_error": None, "facts": facts[:5000]}


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    out({"type": "hello", "pid": os.getpid(), "python": sys.version.split()[0]})
    Runner().loop()
