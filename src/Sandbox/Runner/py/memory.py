# memory.py: the session's memory limit, kept so that running out of it never costs the session.
#
# Every user process gets an address-space limit (SANDBOX_ADDRESS_LIMIT, RLIMIT_AS): one allocation larger than the
# session can hold fails at once with MemoryError, the interpreter and its variables intact. Memory that grows is the
# host's OOM killer's business in the container tier (user code first, by oom_score_adj; its count in the cgroup tells
# that it struck). Under gVisor the whole sandbox is one process to the host, and a host OOM kill ends all of it, so
# the host's limit there has headroom (ContainerSpecs.GvisorHostMemory) and the watch below keeps the session's own:
# when the sandbox's memory in use (its kernel's count, plus the workspace's files, which the host charges to it)
# passes SANDBOX_MEMORY_LIMIT, the user process holding the most is killed, and the result of what ran says why.
import threading

MEMORY_LIMIT = int(os.environ.get("SANDBOX_MEMORY_LIMIT", "0"))  # bytes: the session's limit
MEMORY_WATCH = os.environ.get("SANDBOX_MEMORY_WATCH") == "1"  # under gVisor: keep it here
ADDRESS_LIMIT = int(os.environ.get("SANDBOX_ADDRESS_LIMIT", "0"))  # bytes of address space per user process
PAGE = os.sysconf("SC_PAGE_SIZE")
MEMORY_KILLED = {}  # pid -> when the watch killed it, until its end is reported
# The watch looks only while user code runs (an execution, a background process, a terminal): memory does not grow
# otherwise, and each look costs system calls, which gVisor's ptrace platform makes dear (measured: looking every
# 100 ms cost ~2 % of a core; an idle sandbox costs ~0.05 %). The runner sets WATCH_WAKE after a request that leaves
# user code running, and RUNNING says whether anything runs.
WATCH_WAKE = threading.Event()
RUNNING = [lambda: True]
OOM_SEEN = [None]  # the cgroup's OOM kill count when last looked at (container tier)


def limit_address_space():
    if ADDRESS_LIMIT > 0:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_LIMIT, ADDRESS_LIMIT))


def oom_kills():
    """The host's OOM kills in this container's cgroup so far (cgroup v2 or v1); None where none is visible."""
    for path, key in (("/sys/fs/cgroup/memory.events", b"oom_kill"), ("/sys/fs/cgroup/memory/memory.oom_control", b"oom_kill")):
        try:
            with open(path, "rb") as f:
                for line in f:
                    name, _, value = line.partition(b" ")
                    if name == key:
                        return int(value)
        except (OSError, ValueError):
            continue
    return None


def out_of_memory(pid, rc):
    """Whether the process ended because the session ran out of memory: the watch killed it, or (container tier) it
    was SIGKILLed while the host's OOM killer struck in this cgroup."""
    if MEMORY_KILLED.pop(pid, None) is not None:
        return True
    if rc != -9:
        return False
    seen, now = OOM_SEEN[0], oom_kills()
    OOM_SEEN[0] = now
    return now is not None and seen is not None and now > seen


def memory_error(what):
    return {"type": "OutOfMemory", "message": "the session ran out of memory (its limit is %d MiB): %s"
            % (MEMORY_LIMIT >> 20, what), "traceback": None}


def memory_in_use(meminfo):
    """Bytes in use: the sandbox's memory but the page cache of files (which gVisor gives back under pressure), its
    memory-backed files (/tmp, /dev/shm) included, and the workspace's files."""
    info = {}
    for line in os.pread(meminfo, 4096, 0).split(b"\n"):
        name, _, rest = line.partition(b":")
        if name in (b"MemTotal", b"MemFree", b"Cached", b"Shmem"):
            info[name] = int(rest.split()[0]) * 1024
    st = os.statvfs(WORKDIR)
    return info[b"MemTotal"] - info[b"MemFree"] - info[b"Cached"] + info[b"Shmem"] + (st.f_blocks - st.f_bfree) * st.f_frsize


def largest_user_process():
    best, most = None, 0
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in (1, os.getpid()) or time.monotonic() - MEMORY_KILLED.get(int(name), -9.0) < 2:
            continue
        try:
            # The user's processes, and with a nested engine its containers' (root's, but not the engine's own).
            if os.stat("/proc/" + name).st_uid != UID and not (DOCKER and not docker_engine_process(int(name))):
                continue
            with open("/proc/%s/statm" % name, "rb") as f:
                rss = int(f.read().split()[1]) * PAGE
        except (OSError, ValueError, IndexError):
            continue
        if rss > most:
            best, most = int(name), rss
    return best, most


def gone_or_timeout(pid, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if proc_stat(pid)[1][0] in (b"Z", b"X"):
                return
        except (OSError, IndexError):
            return
        time.sleep(0.01)


def settle(meminfo, used_at_kill, seconds):
    """Waits until the memory in use falls under the limit after a kill; stops early if it grows instead (something
    else allocates: the next look then finds its process), or after seconds."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            used = memory_in_use(meminfo)
        except (OSError, ValueError, TypeError, IndexError, KeyError):
            return
        if used <= MEMORY_LIMIT or used > used_at_kill + (16 << 20):
            return
        time.sleep(0.02)


def watch_memory():
    meminfo = os.open("/proc/meminfo", os.O_RDONLY)
    while True:
        if not RUNNING[0]():
            WATCH_WAKE.wait()
            WATCH_WAKE.clear()
            continue
        try:
            used = memory_in_use(meminfo)
        except (OSError, ValueError, TypeError, IndexError, KeyError):
            time.sleep(1)
            continue
        if used > MEMORY_LIMIT:
            pid, rss = largest_user_process()
            # A process holding little is not what filled the session (files did): killing it would free nothing.
            if pid is not None and rss >= 8 << 20:
                now = time.monotonic()
                if len(MEMORY_KILLED) > 256:  # ends nobody reported (background processes): forget the old ones
                    for old in [k for k, at in list(MEMORY_KILLED.items()) if now - at > 60]:
                        MEMORY_KILLED.pop(old, None)
                MEMORY_KILLED[pid] = now
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
                # Its memory goes back to the sandbox's kernel only once it has ended, which takes a while for a large
                # process, and gVisor's count shows it a moment after that (seen: 0.2-0.4 s, under load): until then
                # the next look would still see too much and kill another (a nested container's CLI, the kernel).
                gone_or_timeout(pid, 3.0)
                settle(meminfo, used, 5.0)
                continue
        # Looks are cheap (two system calls) but not free under gVisor: rarer while the session is far from its limit.
        share = used / MEMORY_LIMIT
        time.sleep(0.1 if share < 0.5 else 0.02 if share < 0.8 else 0.005)


def start_memory_watch():
    OOM_SEEN[0] = oom_kills()
    if MEMORY_WATCH and MEMORY_LIMIT > 0:
        threading.Thread(target=watch_memory, name="memory-watch", daemon=True).start()
