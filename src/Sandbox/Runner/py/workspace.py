# workspace.py: file operations with the sandbox user's rights, and the snapshot and diff of an agent run.

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


TREE_MAX = 10000
TREE_OPAQUE = {".git"}  # listed, not descended into: a repository's internals are thousands of files nobody browses


def list_tree(rid, path):
    """Every entry under a workspace directory (relative names, no links followed), bounded; the session's own
    .sandbox folder is left out, .git is listed but not descended into."""
    full = resolve(path)
    entries, truncated = [], False
    for root, dirs, names in os.walk(full, followlinks=False):
        rel_root = os.path.relpath(root, full)
        if rel_root == ".":
            rel_root = ""
            if full == WORKDIR:
                dirs[:] = [d for d in dirs if d != ".sandbox"]
        for name in sorted(dirs) + sorted(names):
            p = os.path.join(root, name)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            kind = "symlink" if stat.S_ISLNK(st.st_mode) else "directory" if stat.S_ISDIR(st.st_mode) else "file"
            entries.append({"name": (rel_root + "/" if rel_root else "") + name, "kind": kind, "size": st.st_size, "mtime": st.st_mtime})
            if len(entries) >= TREE_MAX:
                truncated = True
                break
        dirs[:] = sorted(d for d in dirs if d not in TREE_OPAQUE)
        if truncated:
            break
    entries.sort(key=lambda x: x["name"])
    return {"type": "listing", "id": rid, "entries": entries, "truncated": truncated}


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


HASH_INLINE_MAX = 8 << 20  # files up to this size are hashed at once; larger ones by a child, off the request loop


def regular_size(rid, path):
    """The size of a regular file (a symbolic link is not followed), or an error answer."""
    parent = resolve(os.path.dirname(path))
    st = os.lstat(os.path.join(parent, os.path.basename(path)))
    if not stat.S_ISREG(st.st_mode):
        return {"type": "error", "id": rid, "code": "invalid_path", "message": "not a regular file"}
    return st.st_size


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
SNAP_SKIP = {".git", ".outputs", ".sandbox"}  # version-control internals, kept execution output, the agents' home: noise in a review diff
SANDBOX_DIR = WORKDIR + "/.sandbox"  # the session's own files in its workspace (an agent's home): never a change of the user's


def prepare_home(home):
    """Makes a program's home (as the sandbox user). A home kept in the workspace (so snapshots, forks and restarts
    keep an agent's conversations) tells git to ignore the folder that holds it, in any repository the agent makes."""
    os.makedirs(home, mode=0o700, exist_ok=True)
    if home.startswith(SANDBOX_DIR + "/"):
        ignore = os.path.join(home, ".config", "git", "ignore")
        if not os.path.lexists(ignore):
            os.makedirs(os.path.dirname(ignore), mode=0o700, exist_ok=True)
            fd = os.open(ignore, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write("# the sandbox session's own folder (agent homes): never part of your work\n/.sandbox/\n.sandbox/\n")


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


def diff_snapshot(rid, before, max_chars, prefix=""):
    """The files the run changed and a unified diff of their text, against the snapshot taken before it (only those at
    or under `prefix`, when given)."""
    import difflib
    after = take_snapshot(rid, "")
    b, a = before["files"], after["files"]
    changes, parts, used, truncated = [], [], 0, before.get("truncated") or after.get("truncated")
    for path in sorted(set(b) | set(a)):
        if prefix and path != prefix and not path.startswith(prefix + "/"):
            continue
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


def commits_since(rid, since, most):
    """The workspace repository's HEAD and the commits on it since `since` (oldest first, with the files each changed);
    no repository: head null. Runs as the sandbox user, in a child."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": WORKDIR, "LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0",
           "GIT_TERMINAL_PROMPT": "0", "GIT_CEILING_DIRECTORIES": "/"}
    def git(*args):
        return subprocess.run(["git", "-c", "core.fsmonitor=false", "-c", "safe.directory=*"] + list(args), cwd=WORKDIR, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    head = git("rev-parse", "--verify", "-q", "HEAD")
    if head.returncode != 0:
        return {"type": "commits", "id": rid, "head": None, "commits": []}
    head = head.stdout.decode().strip()
    found = []
    if isinstance(since, str) and since and since != head and all(c in "0123456789abcdef" for c in since) and len(since) <= 64:
        log = git("log", "--no-renames", "--name-only", "--format=%x1e%H%x1f%s", "-n", str(max(1, min(most, 500))), since + "..HEAD")
        for entry in log.stdout.decode("utf-8", "replace").split("\x1e")[1:]:
            first, _, files = entry.partition("\n")
            cid, _, subject = first.partition("\x1f")
            found.append({"id": cid, "subject": subject[:500], "files": [f for f in files.split("\n") if f][:200]})
        found.reverse()
    return {"type": "commits", "id": rid, "head": head, "commits": found}


BASELINE = SANDBOX_DIR + "/baseline.json"  # the workspace as it was before the session's first agent run


def keep_baseline(rid, snapshot):
    """Writes the snapshot as the session's baseline unless there is one already (as the sandbox user)."""
    if os.path.lexists(BASELINE):
        return None
    os.makedirs(SANDBOX_DIR, mode=0o700, exist_ok=True)
    tmp = BASELINE + ".%d.tmp" % os.getpid()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"files": snapshot["files"], "truncated": snapshot["truncated"]}, f)
    os.replace(tmp, BASELINE)
    return None


def diff_baseline(rid, prefix, max_chars, baseline=""):
    """The workspace against its baseline (before the first agent run), or against another baseline file the engine
    wrote under .sandbox/ (a named snapshot's), as `diff_snapshot` answers."""
    path = BASELINE
    if baseline:
        parts = baseline.split("/")
        if parts[0] != ".sandbox" or any(p in ("", ".", "..") for p in parts):
            return {"type": "error", "id": rid, "code": "bad_request", "message": "a baseline is a file under .sandbox/"}
        path = os.path.join(resolve(os.path.dirname(baseline)), parts[-1])
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return {"type": "error", "id": rid, "code": "no_baseline", "message": "no agent has run in this session yet"}
    with os.fdopen(fd) as f:
        before = json.load(f)
    return diff_snapshot(rid, before, max_chars, prefix)


class Workspace:
    """The list, delete, hash, commits, rename, space, snapshot and diff requests."""

    def op_list(self, rid, req):
        out(as_user(list_tree if req.get("recursive") else list_dir, rid, req.get("path", "")))

    def op_delete(self, rid, req):
        out(as_user(delete_path, rid, req.get("path", "")))

    def op_hash(self, rid, req):
        path = req.get("path", "")
        size = as_user(regular_size, rid, path)
        if not isinstance(size, int) or size <= HASH_INLINE_MAX:
            out(size if isinstance(size, dict) else as_user(hash_file, rid, path))
            return
        # A large file is hashed by a child of its own, so the runner goes on answering (executions, terminals, other
        # files) meanwhile; its answer is sent when the child's pipe closes.
        self.answer_from_child(rid, lambda: as_user(hash_file, rid, path), "hashing")

    def op_commits(self, rid, req):
        # git runs in a child (as the sandbox user), so an agent's output and terminals go on meanwhile.
        since, most = req.get("since"), int(req.get("max", 50))
        self.answer_from_child(rid, lambda: commits_since(rid, since, most), "reading the commits", as_user_fully=True)

    def answer_from_child(self, rid, work, what, as_user_fully=False):
        """Runs work() in a child of its own and sends what it returns when the child's pipe closes (at most 1 MiB)."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(r)
                os.setsid()  # a session of its own, spared like a background process when an execution is stopped
                if as_user_fully:
                    os.setgroups([])
                    os.setgid(GID)
                    os.setuid(UID)
                msg = work()
            except BaseException:
                msg = {"type": "error", "id": rid, "code": "internal_error", "message": what + " failed"}
            try:
                write_all(w, json.dumps(msg).encode())
            finally:
                os._exit(0)
        os.close(w)
        os.set_blocking(r, False)
        BACKGROUND.add(pid)
        self.hashing[r] = {"rid": rid, "pid": pid, "buf": b"", "what": what}
        self.sel.register(r, selectors.EVENT_READ, ("hash", r))

    def hash_read(self, fd):
        h = self.hashing[fd]
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        if data and len(h["buf"]) < 1 << 20:
            h["buf"] += data
            return
        self.sel.unregister(fd)
        os.close(fd)
        del self.hashing[fd]
        BACKGROUND.discard(h["pid"])
        reap_children()
        try:
            msg = json.loads(h["buf"])
        except ValueError:
            msg = None
        if not isinstance(msg, dict) or msg.get("id") != h["rid"]:
            msg = {"type": "error", "id": h["rid"], "code": "internal_error", "message": h["what"] + " was interrupted"}
        out(msg)

    def op_rename(self, rid, req):
        out(as_user(lambda r, p: rename_path(r, p, req.get("to", "")), rid, req.get("path", "")))

    def op_space(self, rid, req):
        st = os.statvfs(WORKDIR)
        out({"type": "space", "id": rid, "free": st.f_bavail * st.f_frsize, "total": st.f_blocks * st.f_frsize})

    def op_snapshot(self, rid, req):
        self.snapshot = as_user(take_snapshot, rid, "")
        if self.snapshot.get("type") == "error":
            out(self.snapshot)
            self.snapshot = None
        else:
            if req.get("baseline"):
                snapshot = self.snapshot
                failed = as_user(lambda r, _p: keep_baseline(r, snapshot), rid, "")
                if failed is not None:
                    out(failed)
                    return
            out({"type": "snapshot", "id": rid, "files": len(self.snapshot["files"])})

    def op_session_diff(self, rid, req):
        prefix, most, baseline = req.get("path", "") or "", int(req.get("max_chars", 1 << 20)), req.get("baseline") or ""
        out(as_user(lambda r, _p: diff_baseline(r, prefix, most, baseline), rid, ""))

    def op_diff(self, rid, req):
        if self.snapshot is None:
            out({"type": "error", "id": rid, "code": "bad_request", "message": "no snapshot"})
        else:
            before, self.snapshot = self.snapshot, None
            out(as_user(lambda r, _p: diff_snapshot(r, before, int(req.get("max_chars", 1 << 20))), rid, ""))
