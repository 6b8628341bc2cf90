# archives.py: a caller's archive (tar, tar.gz, zip) unpacked into the workspace as the sandbox user, safely.

ARCHIVE_STAGING = SANDBOX_DIR + "/staging"


class ArchiveRefused(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


def member_path(name):
    """The archive member's path as workspace-relative parts, or refused: absolute names, drive letters, '..', NUL."""
    if not isinstance(name, str) or "\0" in name or "\\" in name:
        raise ArchiveRefused("unsafe_archive", "entry %r: backslashes and NUL are not allowed in names" % name[:200])
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ArchiveRefused("unsafe_archive", "entry %r has an absolute name" % name[:200])
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ArchiveRefused("unsafe_archive", "entry %r climbs out with '..'" % name[:200])
    if not parts:
        return None
    if len("/".join(parts)) > 4000 or any(len(p.encode()) > 255 for p in parts):
        raise ArchiveRefused("unsafe_archive", "entry %r: name too long" % name[:200])
    return parts


def link_stays_inside(parts, target):
    """Whether a symbolic link at `parts` pointing to `target` resolves inside the archive's root."""
    if not target or target.startswith("/") or "\0" in target or "\\" in target:
        return False
    depth = len(parts) - 1
    for p in target.split("/"):
        if p in ("", "."):
            continue
        depth = depth - 1 if p == ".." else depth + 1
        if depth < 0:
            return False
    return True


def bounded(found, declared, max_entries, max_bytes):
    """Refuses as soon as the members read so far are too many or declare too many bytes (before the rest is read)."""
    if len(found) > max_entries:
        raise ArchiveRefused("limit_exceeded", "the archive has more than the %d entries allowed" % max_entries)
    if declared > max_bytes:
        raise ArchiveRefused("limit_exceeded", "the archive expands to at least %d bytes, more than the %d allowed" % (declared, max_bytes))


def read_members(path, max_entries, max_bytes):
    """(kind, members) of an archive: each member (parts, type, size, link, source) with type file|dir|symlink|hardlink;
    everything else (devices, fifos) is refused, and so are more entries or declared bytes than allowed."""
    import tarfile, zipfile
    if zipfile.is_zipfile(path):
        z = zipfile.ZipFile(path)
        found, declared = [], 0
        for info in z.infolist():
            parts = member_path(info.filename)
            if parts is None:
                continue
            mode = (info.external_attr >> 16) & 0o170000
            if info.is_dir():
                found.append((parts, "dir", 0, None, info))
            elif mode == 0o120000:
                found.append((parts, "symlink", 0, z.read(info)[:4096].decode("utf-8", "replace"), info))
            elif mode in (0, 0o100000):
                found.append((parts, "file", info.file_size, None, info))
            else:
                raise ArchiveRefused("unsafe_archive", "entry %r is not a file, directory or link" % info.filename[:200])
            declared += found[-1][2]
            bounded(found, declared, max_entries, max_bytes)
        return ("zip", z), found
    try:
        t = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError, EOFError):
        raise ArchiveRefused("invalid_archive", "this is not a zip, tar or compressed tar archive")
    found, declared = [], 0
    for m in t:
        parts = member_path(m.name)
        if parts is None:
            continue
        if m.isdir():
            found.append((parts, "dir", 0, None, m))
        elif m.isreg():
            found.append((parts, "file", m.size, None, m))
        elif m.issym():
            found.append((parts, "symlink", 0, m.linkname, m))
        elif m.islnk():
            found.append((parts, "hardlink", 0, m.linkname, m))
        else:
            raise ArchiveRefused("unsafe_archive", "entry %r is a device, fifo or other special file" % m.name[:200])
        declared += found[-1][2]
        bounded(found, declared, max_entries, max_bytes)
    return ("tar", t), found


def unpack_into(staging, opened, members, max_entries, max_bytes):
    """Writes every member under `staging`, checking as it goes what headers could lie about (actual sizes)."""
    kind, archive = opened
    if len(members) > max_entries:
        raise ArchiveRefused("limit_exceeded", "the archive has %d entries, more than the %d allowed" % (len(members), max_entries))
    declared = sum(m[2] for m in members)
    if declared > max_bytes:
        raise ArchiveRefused("limit_exceeded", "the archive expands to %d bytes, more than the %d allowed" % (declared, max_bytes))
    files = {}
    written = 0
    counts = {"files": 0, "dirs": 0, "links": 0}
    dirs = set()
    for parts, typ, size, link, source in members:
        dirs.update(tuple(parts[:i]) for i in range(1, len(parts)))
        target = os.path.join(staging, *parts)
        parent = os.path.dirname(target)
        os.makedirs(parent, exist_ok=True)
        if os.path.islink(parent) or not os.path.realpath(parent).startswith(staging + "/") and os.path.realpath(parent) != staging:
            raise ArchiveRefused("unsafe_archive", "entry %r would be written through a link" % "/".join(parts)[:200])
        if typ == "dir":
            if os.path.lexists(target) and not os.path.isdir(target):
                raise ArchiveRefused("unsafe_archive", "entry %r is both a file and a directory" % "/".join(parts)[:200])
            os.makedirs(target, exist_ok=True)
            dirs.add(tuple(parts))
            continue
        if os.path.lexists(target):
            if os.path.isdir(target) and not os.path.islink(target):
                raise ArchiveRefused("unsafe_archive", "entry %r is both a file and a directory" % "/".join(parts)[:200])
            os.remove(target)
        if typ == "symlink":
            if not link_stays_inside(parts, link):
                raise ArchiveRefused("unsafe_archive", "link %r points outside the archive (%r)" % ("/".join(parts)[:200], (link or "")[:200]))
            os.symlink(link, target)
            counts["links"] += 1
            continue
        if typ == "hardlink":
            # A hard link is a copy of an earlier regular file of the same archive; anything else is refused.
            other = member_path(link)
            source_path = files.get("/".join(other)) if other else None
            if source_path is None:
                raise ArchiveRefused("unsafe_archive", "hard link %r does not point at an earlier file of the archive" % "/".join(parts)[:200])
            size = os.path.getsize(source_path)
            if written + size > max_bytes:
                raise ArchiveRefused("limit_exceeded", "the archive expands to more than the %d bytes allowed" % max_bytes)
            import shutil
            shutil.copyfile(source_path, target, follow_symlinks=False)
            written += size
            files["/".join(parts)] = target
            counts["files"] += 1
            continue
        stream = archive.open(source) if kind == "zip" else archive.extractfile(source)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "wb") as f, stream:
            while True:
                chunk = stream.read(1 << 20)
                if not chunk:
                    break
                written += len(chunk)
                if written > max_bytes:
                    raise ArchiveRefused("limit_exceeded", "the archive expands to more than the %d bytes allowed" % max_bytes)
                f.write(chunk)
        mode = getattr(source, "mode", None) if kind == "tar" else (source.external_attr >> 16) & 0o777
        if mode and mode & 0o100:
            os.chmod(target, 0o755)
        files["/".join(parts)] = target
        counts["files"] += 1
    counts["bytes"] = written
    counts["dirs"] = len(dirs)
    return counts


def move_into(staging, dest):
    """Moves what was unpacked into `dest`: directories merge, a file replaces a file of the same name."""
    for name in os.listdir(staging):
        src, dst = os.path.join(staging, name), os.path.join(dest, name)
        if os.path.isdir(src) and not os.path.islink(src) and os.path.isdir(dst) and not os.path.islink(dst):
            move_into(src, dst)
            continue
        if os.path.lexists(dst):
            if os.path.isdir(dst) and not os.path.islink(dst):
                import shutil
                shutil.rmtree(dst)
            else:
                os.remove(dst)
        os.rename(src, dst)


def extract_archive(rid, archive_path, dest, max_entries, max_bytes):
    """Unpacks an archive in the workspace into `dest` (created if missing) as the sandbox user: everything is checked
    and written into a staging folder first, then moved into place, so a refused or failed archive leaves nothing."""
    import errno, shutil, tempfile
    staging = None
    try:
        archive_full = os.path.join(resolve(os.path.dirname(archive_path)), os.path.basename(archive_path))
        dest_parts = member_path(dest) if dest else []
        if dest_parts is None:
            dest_parts = []
        if dest_parts and dest_parts[0] in (".git", ".sandbox"):
            raise ArchiveRefused("invalid_path", "an archive is not unpacked into .git or .sandbox")
        os.makedirs(ARCHIVE_STAGING, mode=0o700, exist_ok=True)
        staging = tempfile.mkdtemp(dir=ARCHIVE_STAGING)
        opened, members = read_members(archive_full, max_entries, max_bytes)
        try:
            counts = unpack_into(staging, opened, members, max_entries, max_bytes)
        finally:
            opened[1].close()
        target = os.path.join(WORKDIR, *dest_parts)
        os.makedirs(target, exist_ok=True)
        if resolve(os.path.relpath(target, WORKDIR)) != os.path.realpath(target) or os.path.islink(target):
            raise ArchiveRefused("invalid_path", "the target folder leaves the workspace through a link")
        move_into(staging, target)
        counts.update(type="extracted", id=rid, path="/".join(dest_parts))
        return counts
    except ArchiveRefused as e:
        return {"type": "error", "id": rid, "code": e.code, "message": e.message}
    except OSError as e:
        code = "workspace_full" if e.errno in (errno.ENOSPC, errno.EDQUOT) else "invalid_path" if isinstance(e, PermissionError) else "invalid_archive"
        return {"type": "error", "id": rid, "code": code, "message": "%s: %s" % (type(e).__name__, e.strerror or str(e))}
    except Exception as e:  # zipfile, tarfile and zlib errors on a corrupt archive
        return {"type": "error", "id": rid, "code": "invalid_archive", "message": "%s: %s" % (type(e).__name__, str(e)[:300])}
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        try:
            os.remove(os.path.join(WORKDIR, archive_path))
        except OSError:
            pass


SKILL_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def skill_front_matter(path):
    """(name, description) from a SKILL.md's front matter (the `---` block at its top); missing ones are None."""
    found = {}
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            text = f.read(64 << 10).decode("utf-8", "replace")
    except OSError:
        return None, None
    lines = text.splitlines()
    if lines and lines[0].strip() == "---":
        for line in lines[1:200]:
            if line.strip() == "---":
                break
            key, sep, value = line.partition(":")
            if sep and key.strip() in ("name", "description"):
                found[key.strip()] = value.strip().strip("\"'")[:1024]
    return found.get("name"), found.get("description")


def is_skill_name(name):
    return isinstance(name, str) and 0 < len(name) <= 64 and name[0] not in ".-" and set(name) <= SKILL_NAME_CHARS


def install_skills(rid, archive_path, dest, max_entries, max_bytes):
    """Unpacks an archive of skills (folders with a SKILL.md at the top or in a top `skills/` folder, or one skill whose
    SKILL.md is at the root, named by its front matter) into the skills folder `dest` (workspace-relative, in the
    agent's home), as the sandbox user: each skill replaces a skill of the same name. A refused archive, or one without
    a skill, writes nothing."""
    import shutil, tempfile
    staging = None
    try:
        archive_full = os.path.join(resolve(os.path.dirname(archive_path)), os.path.basename(archive_path))
        parts = member_path(dest)
        if not parts or parts[:2] != [".sandbox", "home"]:
            raise ArchiveRefused("invalid_path", "skills go into the agent's home only")
        os.makedirs(ARCHIVE_STAGING, mode=0o700, exist_ok=True)
        staging = tempfile.mkdtemp(dir=ARCHIVE_STAGING)
        opened, members = read_members(archive_full, max_entries, max_bytes)
        try:
            unpack_into(staging, opened, members, max_entries, max_bytes)
        finally:
            opened[1].close()
        skills = []
        if os.path.isfile(os.path.join(staging, "SKILL.md")):
            name, description = skill_front_matter(os.path.join(staging, "SKILL.md"))
            if not is_skill_name(name):
                raise ArchiveRefused("invalid_archive", "the SKILL.md at the archive's root needs a front matter 'name' (letters, digits, . _ -)")
            single = tempfile.mkdtemp(dir=ARCHIVE_STAGING)
            os.rename(staging, os.path.join(single, name))
            staging = single
        source = staging
        nested = os.path.join(staging, "skills")
        if os.path.isdir(nested) and not os.path.islink(nested) and not any(
                os.path.isfile(os.path.join(staging, n, "SKILL.md")) for n in os.listdir(staging)):
            source = nested  # a repository that keeps its skills in a skills/ folder
        for name in sorted(os.listdir(source)):
            folder = os.path.join(source, name)
            if os.path.isdir(folder) and not os.path.islink(folder) and os.path.isfile(os.path.join(folder, "SKILL.md")):
                if not is_skill_name(name):
                    raise ArchiveRefused("invalid_archive", "skill folder %r: use letters, digits, . _ - (at most 64)" % name[:100])
                _own, description = skill_front_matter(os.path.join(folder, "SKILL.md"))
                skills.append({"name": name, "description": description or ""})
        if not skills:
            raise ArchiveRefused("invalid_archive", "the archive has no skill: a skill is a folder with a SKILL.md")
        target = os.path.join(WORKDIR, *parts)
        os.makedirs(target, mode=0o700, exist_ok=True)
        if resolve(os.path.relpath(target, WORKDIR)) != os.path.realpath(target) or os.path.islink(target):
            raise ArchiveRefused("invalid_path", "the skills folder leaves the workspace through a link")
        for skill in skills:
            dst = os.path.join(target, skill["name"])
            if os.path.lexists(dst):
                if os.path.isdir(dst) and not os.path.islink(dst):
                    shutil.rmtree(dst)
                else:
                    os.remove(dst)
            os.rename(os.path.join(source, skill["name"]), dst)
        return {"type": "skills", "id": rid, "skills": skills}
    except ArchiveRefused as e:
        return {"type": "error", "id": rid, "code": e.code, "message": e.message}
    except OSError as e:
        return {"type": "error", "id": rid, "code": "invalid_archive", "message": "%s: %s" % (type(e).__name__, e.strerror or str(e))}
    except Exception as e:
        return {"type": "error", "id": rid, "code": "invalid_archive", "message": "%s: %s" % (type(e).__name__, str(e)[:300])}
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        try:
            os.remove(os.path.join(WORKDIR, archive_path))
        except OSError:
            pass


CONTEXT_ROOT = "/context"


def extract_context(rid, archive_path, name, max_entries, max_bytes):
    """Unpacks a caller's context archive into /context/<name> as root (the runner's user, in a child): the folder and
    everything in it belong to root, so the sandbox user reads it and cannot change it. The archive (written into the
    workspace as the sandbox user) is opened without following a link; checks and staging are those of `extract`,
    with the staging folder inside /context so that the move stays on its file system."""
    import shutil, tempfile
    staging, fd = None, None
    try:
        if not is_skill_name(name):
            raise ArchiveRefused("invalid_path", "a context name is letters, digits, . _ - (at most 64)")
        target = os.path.join(CONTEXT_ROOT, name)
        if os.path.lexists(target):
            raise ArchiveRefused("invalid_path", "/context/%s exists already" % name)
        parent = resolve(os.path.dirname(archive_path))
        fd = os.open(os.path.join(parent, os.path.basename(archive_path)), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        if not (os.fstat(fd).st_mode & 0o170000 == 0o100000):
            raise ArchiveRefused("invalid_archive", "the uploaded archive is not a regular file")
        staging = tempfile.mkdtemp(dir=CONTEXT_ROOT, prefix=".staging-")
        opened, members = read_members("/proc/self/fd/%d" % fd, max_entries, max_bytes)
        try:
            counts = unpack_into(staging, opened, members, max_entries, max_bytes)
        finally:
            opened[1].close()
        os.chmod(staging, 0o755)
        os.rename(staging, target)
        staging = None
        counts.update(type="extracted", id=rid, path=target)
        return counts
    except ArchiveRefused as e:
        return {"type": "error", "id": rid, "code": e.code, "message": e.message}
    except OSError as e:
        import errno
        code = "workspace_full" if e.errno in (errno.ENOSPC, errno.EDQUOT) else "invalid_archive"
        return {"type": "error", "id": rid, "code": code, "message": "%s: %s" % (type(e).__name__, e.strerror or str(e))}
    except Exception as e:
        return {"type": "error", "id": rid, "code": "invalid_archive", "message": "%s: %s" % (type(e).__name__, str(e)[:300])}
    finally:
        if fd is not None:
            os.close(fd)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        # The archive is in the sandbox user's folder, which root (without a DAC override) cannot change: as the user.
        as_user(lambda _r, _p: os.remove(os.path.join(WORKDIR, archive_path)), rid, "")


class Archives:
    """The extract, extract_context and install_skills requests."""

    def op_extract(self, rid, req):
        archive, dest = req.get("archive", ""), req.get("dest", "")
        max_entries, max_bytes = int(req.get("max_entries", 10000)), int(req.get("max_bytes", 1 << 30))
        # Unpacking may take long: a child does it, as the sandbox user, so the runner goes on answering meanwhile.
        self.answer_from_child(rid, lambda: extract_archive(rid, archive, dest, max_entries, max_bytes), "unpacking the archive", as_user_fully=True)

    def op_install_skills(self, rid, req):
        archive, dest = req.get("archive", ""), req.get("dest", "")
        max_entries, max_bytes = int(req.get("max_entries", 10000)), int(req.get("max_bytes", 1 << 30))
        self.answer_from_child(rid, lambda: install_skills(rid, archive, dest, max_entries, max_bytes), "installing skills", as_user_fully=True)

    def op_extract_context(self, rid, req):
        archive, name = req.get("archive", ""), req.get("name", "")
        max_entries, max_bytes = int(req.get("max_entries", 10000)), int(req.get("max_bytes", 1 << 30))
        # As root (the folder must not be the sandbox user's), in a child so the runner goes on answering.
        self.answer_from_child(rid, lambda: extract_context(rid, archive, name, max_entries, max_bytes), "unpacking the context archive")
