# docker.py: the session's own Docker engine (create_session with docker: true; gVisor only).
#
# The engine asks for it with "docker_start" once the runner said hello, then polls "docker_status" until it answers.
# dockerd runs here as root, inside the session's gVisor sandbox: its containers are processes of the same sandbox,
# so they share its kernel, its memory and process watch and its network (gVisor's host network mode cannot give a
# nested container a network namespace of its own: see docs/security.md). The runtime wrapper below makes every
# nested container share the session's network namespace and /etc/hosts, where each container's name, compose service
# and aliases are written (as 127.0.0.1): compose services reach one another by name and port, and the session reaches
# them at localhost:<port> or services:<port>.
DOCKER = os.environ.get("SANDBOX_DOCKER") == "1"
DOCKER_DIR = "/run/sandbox-docker"
DOCKER_SOCKET = DOCKER_DIR + "/docker.sock"
DOCKER_HOST = "unix://" + DOCKER_SOCKET
DOCKER_LOG = DOCKER_DIR + "/dockerd.log"
DOCKER_RUNTIME = DOCKER_DIR + "/runc"
DOCKER_RUNTIME_EDITOR = DOCKER_DIR + "/runtime-edit.py"
DOCKER_HOSTS = DOCKER_DIR + "/hosts"  # the session's /etc/hosts (bound over it) and every nested container's
DOCKER_ENGINE = {"proc": None}
# The nested engine's own processes: the memory watch and the kills of user processes leave them alone.
DOCKER_INFRA = {b"dockerd", b"containerd", b"containerd-shim", b"containerd-shim-runc-v2", b"runc", b"docker-init", b"docker-proxy"}

# The runtime dockerd uses for every container: runc, after one change to the container's bundle at create (shell, so
# the other calls cost nothing extra; the edit itself in Python). Names that are not plain host names are skipped.
DOCKER_RUNTIME_TEXT = r'''#!/bin/sh
prev=""; bundle=""; create=0; last=""
for a in "$@"; do
  [ "$prev" = "--bundle" ] && bundle="$a"
  [ "$a" = "create" ] && create=1
  prev="$a"; last="$a"
done
if [ "$create" = 1 ] && [ -n "$bundle" ]; then
  "%(python)s" -I "%(edit)s" "$bundle/config.json" "$last" 2>>"%(log)s" || exit 1
fi
exec "%(runc)s" "$@"
'''
DOCKER_RUNTIME_EDIT = r'''
import fcntl, json, os, re, sys
HOSTS = "/run/sandbox-docker/hosts"
path, cid = sys.argv[1], sys.argv[2]
with open(path) as f:
    config = json.load(f)
config["linux"]["namespaces"] = [n for n in config["linux"].get("namespaces", []) if n.get("type") != "network"]
for m in config.get("mounts", []):
    if m.get("destination") == "/etc/hosts":
        m["source"] = HOSTS
names = set()
if re.fullmatch(r"[0-9a-f]{64}", cid):
    try:
        with open("/var/lib/docker/containers/%s/config.v2.json" % cid) as f:
            c = json.load(f)
        names.add(c.get("Name", "").lstrip("/"))
        names.add(((c.get("Config") or {}).get("Labels") or {}).get("com.docker.compose.service", ""))
        for net in ((c.get("NetworkSettings") or {}).get("Networks") or {}).values():
            names.update((net or {}).get("Aliases") or [])
    except (OSError, ValueError):
        pass
names = sorted(n for n in names if isinstance(n, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", n))
if names:
    with open(HOSTS, "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        known = set(w for line in f.read().splitlines() for w in line.split()[1:])
        fresh = [n for n in names if n not in known]
        if fresh:
            f.seek(0, 2)
            f.write("127.0.0.1\t%s\n" % " ".join(fresh))
tmp = path + ".sandbox"
with open(tmp, "w") as f:
    json.dump(config, f)
os.replace(tmp, path)
'''


def docker_engine_process(pid):
    """Whether pid is one of the nested engine's own processes (never user code's, never killed for memory)."""
    try:
        with open("/proc/%d/comm" % pid, "rb") as f:
            return f.read().strip() in DOCKER_INFRA
    except OSError:
        return False


def docker_contained(pid):
    """Whether pid runs in a nested container: one of its ancestors is a containerd shim."""
    for _ in range(64):
        try:
            command, fields = proc_stat(pid)
            if command.startswith(b"containerd-shim"):
                return True
            pid = int(fields[1])
        except (OSError, ValueError, IndexError):
            return False
        if pid <= 1:
            return False
    return False


def docker_answers():
    """Whether dockerd answers its API on the socket (one short request)."""
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(0.5)
    try:
        s.connect(DOCKER_SOCKET)
        s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        head = s.recv(64)
        return head.startswith(b"HTTP/1.") and head.split(b" ", 2)[1:2] == [b"200"]
    except OSError:
        return False
    finally:
        s.close()


def docker_log_tail():
    try:
        with open(DOCKER_LOG, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 2048))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def bind_hosts():
    """The session's /etc/hosts (read-only, the engine's) becomes a copy the runtime adds nested containers' names to:
    bound over it inside the sandbox (its own kernel's mount), so the session resolves them too."""
    if os.path.exists(DOCKER_HOSTS):
        return
    with open("/etc/hosts") as f:
        text = f.read()
    with open(DOCKER_HOSTS + ".tmp", "w") as f:
        f.write(text if text.endswith("\n") else text + "\n")
    os.chmod(DOCKER_HOSTS + ".tmp", 0o644)
    os.replace(DOCKER_HOSTS + ".tmp", DOCKER_HOSTS)
    mount = find_program("mount")
    if mount is None or subprocess.call([mount, "--bind", DOCKER_HOSTS, "/etc/hosts"], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) != 0:
        raise OSError(1, "cannot bind the engine's hosts file over /etc/hosts")


def find_program(name):
    for d in ("/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"):
        if os.access(os.path.join(d, name), os.X_OK):
            return os.path.join(d, name)
    return None


class NestedDocker:
    def op_docker_start(self, rid, req):
        if not DOCKER:
            out({"type": "error", "id": rid, "code": "docker_unavailable", "message": "this session was created without docker"})
            return
        p = DOCKER_ENGINE["proc"]
        if p is not None and p.poll() is None and p.pid not in EXITED:
            out({"type": "docker", "id": rid, "state": "starting"})
            return
        dockerd, runc = find_program("dockerd"), find_program("runc")
        if dockerd is None or runc is None:
            out({"type": "error", "id": rid, "code": "docker_unavailable",
                 "message": "this session's image has no Docker engine (dockerd and runc): use the agent image"})
            return
        try:
            os.makedirs(DOCKER_DIR, mode=0o755, exist_ok=True)
            for path, text, mode in ((DOCKER_RUNTIME_EDITOR, DOCKER_RUNTIME_EDIT, 0o644),
                                     (DOCKER_RUNTIME, DOCKER_RUNTIME_TEXT % {"python": sys.executable, "runc": runc, "edit": DOCKER_RUNTIME_EDITOR,
                                                                     "log": DOCKER_DIR + "/runtime.log"}, 0o755)):
                with open(path + ".tmp", "w") as f:
                    f.write(text)
                os.chmod(path + ".tmp", mode)
                os.replace(path + ".tmp", path)
            bind_hosts()
            log = os.open(DOCKER_LOG, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        except OSError as e:
            out({"type": "error", "id": rid, "code": "docker_unavailable", "message": "preparing the engine: %s" % e.strerror})
            return
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        # No iptables, forwarding or bridge: gVisor's host network mode has none of them; the runtime shares the
        # session's network with every container instead. The socket belongs to the sandbox user's group.
        args = [dockerd, "--host", DOCKER_HOST, "--group", str(GID), "--exec-root", DOCKER_DIR + "/exec",
                "--pidfile", DOCKER_DIR + "/dockerd.pid", "--data-root", "/var/lib/docker",
                "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false", "--bridge=none",
                "--add-runtime", "sandbox=" + DOCKER_RUNTIME, "--default-runtime", "sandbox", "--log-level", "warn"]
        try:
            DOCKER_ENGINE["proc"] = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                                     cwd="/", start_new_session=True, close_fds=True)
        except OSError as e:
            out({"type": "error", "id": rid, "code": "docker_unavailable", "message": "starting dockerd: %s" % e.strerror})
            return
        finally:
            os.close(log)
        out({"type": "docker", "id": rid, "state": "starting"})

    def op_docker_status(self, rid, req):
        p = DOCKER_ENGINE["proc"]
        if p is None:
            out({"type": "docker", "id": rid, "state": "stopped", "log": ""})
            return
        code = EXITED.pop(p.pid, None) if p.returncode is None else p.returncode
        if code is None:
            code = p.poll()
        elif p.returncode is None:
            p.returncode = code
        if code is not None:
            out({"type": "docker", "id": rid, "state": "exited", "exit_code": code, "log": docker_log_tail()})
        else:
            out({"type": "docker", "id": rid, "state": "running" if docker_answers() else "starting"})
