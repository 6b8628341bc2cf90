# Sandbox runner: the long-lived supervisor inside every session container.
#
# The engine starts it as the container's main process (its own init: main.py) with its text passed to `python3 -c`, so it
# works with any image that has python3 and needs nothing baked in. The text is the files of this folder joined in the
# order EmbeddedScript.RunnerParts names (this one first, main.py last): one program, split by what each part does.
# It speaks JSON lines on stdin/stdout with the engine over the attached stream (no docker exec per call); protocol.md
# beside this folder describes every request and answer, and RunnerProtocol.cs is the engine's half. It runs as uid 0
# holding only CAP_SETUID, CAP_SETGID and CAP_KILL; every piece of user code runs as the unprivileged sandbox user with
# no capabilities, so user code can neither kill nor trace the supervisor, and the supervisor can always stop runaway
# user processes. The engine treats everything read from here as untrusted: a process in the sandbox may lie.
#
# common.py: settings, the one writer of messages, dropping privileges, the user environment, reaping and killing.
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
    write_all(1, data)


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def close_quietly(fd):
    try:
        os.close(fd)
    except OSError:
        pass


def demote(nproc=None, address=True):
    """Becomes the sandbox user, in a session of its own, with the session's limits for user code (an agent's own CLI
    keeps the address space its runtime reserves: address=False)."""
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
    if address:
        limit_address_space()
    os.setgroups([])
    os.setgid(GID)
    os.setuid(UID)
    os.setsid()
    os.chdir(WORKDIR)


PY_PACKAGES = WORKDIR + "/.packages/python"  # where install_packages puts Python packages
# The Python that runs user code: this one, or in an image the operator allows by reference (the runner then runs on the
# engine's own Python runtime, mounted beside the image) the image's own python3, found on the user's PATH, if it has one.
USER_PYTHON = os.environ.get("SANDBOX_USER_PYTHON") or sys.executable
NO_PYTHON = "this session's image has no python3: stateful Python is unavailable here; run bash, node or a command instead"


EXTRA_ENV = {}  # set by the engine ("env" op): the egress proxy and its CA bundle of a session with a network
EGRESS_DIR = "/tmp/.sandbox"
SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"


def user_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
    env.update(EXTRA_ENV)
    env.update({"HOME": WORKDIR, "USER": "sandbox", "PWD": WORKDIR})
    env["PYTHONPATH"] = PY_PACKAGES + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if DOCKER:
        env["DOCKER_HOST"] = DOCKER_HOST  # the session's own engine (docker.py)
    return env


EXITED = {}  # exit statuses of children this reaped before their Popen could (pid -> Popen-style code)


def reap_children():
    """Collects our children that died (process 1 reaps orphans re-parented to it), keeping the exit status of
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
                # With a nested engine (docker.py), root's processes are that engine's, and its containers' (whoever
                # they run as) are theirs to stop (docker stop, compose down): never an execution's leftovers.
                if (not DOCKER or os.stat("/proc/" + p).st_uid == UID and not docker_contained(int(p))) and select(int(p)):
                    os.kill(int(p), signal.SIGKILL)
                    found = any_found = True
            except (OSError, ValueError, IndexError):
                pass
        reap_children()
        if not found:
            return any_found
        time.sleep(pause)
    return any_found


def proc_stat(pid):
    """/proc/PID/stat as (its command, the fields after it: state, ppid, pgrp, session, tty_nr, ...); OSError once the
    process is gone."""
    with open("/proc/%d/stat" % pid, "rb") as f:
        head, _, rest = f.read().rpartition(b")")
    return head.partition(b"(")[2], rest.split()


def session_of(pid):
    return int(proc_stat(pid)[1][3])


def stop_user_processes():
    """SIGSTOPs every process of the sandbox user at once: a helper that becomes the user signals all it may (kill -1
    stays inside the sandbox's pid namespace). Stopped processes cannot fork or compete for the CPU while they are
    found and killed one by one (a fork bomb under gVisor's ptrace platform would otherwise starve the runner). When no
    process is left to fork the helper (the pids limit is reached), the killing goes ahead without it. Not with a
    nested engine: its containers may run as the sandbox user too, and must not be frozen."""
    if DOCKER:
        return
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
    if DOCKER:
        kill_matching(lambda pid: True, 100, 0.005)  # the user's processes only (kill_matching), not the engine's
        return
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
