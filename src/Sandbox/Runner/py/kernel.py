# kernel.py: the kept Python interpreter (a child process running KERNEL_SRC) that execute_code talks to.

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


class Kernel:
    """Starts, stops and listens to the kept interpreter."""

    def start_kernel(self):
        """Starts the kept interpreter; False when the image has no Python to start (self.kernel stays None)."""
        c_in_r, c_in_w = os.pipe()
        c_out_r, c_out_w = os.pipe()
        try:
            p = subprocess.Popen(
                [USER_PYTHON, "-c", KERNEL_SRC, str(c_in_r), str(c_out_w)], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(c_in_r, c_out_w), preexec_fn=demote,
                env=user_env(), cwd="/")
        except FileNotFoundError:
            for fd in (c_in_r, c_in_w, c_out_r, c_out_w):
                os.close(fd)
            self.kernel = None
            return False
        for fd in (c_in_r, c_out_w):
            os.close(fd)
        self.kernel = {"proc": p, "ctl_w": c_in_w, "ctl_r": c_out_r, "ready": False,
                       "out": Stream("stdout", p.stdout.fileno()), "err": Stream("stderr", p.stderr.fileno())}
        for fd, tag in ((p.stdout.fileno(), "k_out"), (p.stderr.fileno(), "k_err"), (c_out_r, "k_ctl")):
            os.set_blocking(fd, False)
            self.sel.register(fd, selectors.EVENT_READ, tag)
        self.ctl_buf = b""
        return True

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
            close_quietly(fd)

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
        pid = k["proc"].pid
        self.stop_kernel()
        if self.active is not None and self.active["kind"] == "kernel":
            self.active["state_lost"] = True
            error = memory_error("the Python process was stopped, and its variables and imports were lost") \
                if out_of_memory(pid, rc) else \
                {"type": "KernelDied", "message": "the Python process ended (exit status %s); variables and imports were lost" % rc,
                 "traceback": None}
            self.done(rc if rc >= 0 else 128 - rc, error, timed_out=self.active["cancelled"])
