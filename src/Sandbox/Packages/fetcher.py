# Package fetcher: runs in a short-lived container on a network with registry access (never a session's), with the
# shared package cache volume at /cache. It fetches each requested package with its dependencies into the cache
# (npm install --ignore-scripts; pip install --only-binary, so nothing from a package runs here), prunes the cache to
# its size bound (least recently used first) and prints one JSON line: what is where. The engine then copies the
# results from the cache into the session with the archive API. Request: argv[1], JSON:
#   {"manager": "npm"|"pip", "packages": [{"name": "...", "version": "..."|null}], "max_cache_bytes": N,
#    "pip_index_url": "..."|null, "npm_registry": "..."|null, "find_links": "/wheels"|null}
import json, os, re, shutil, subprocess, sys, tempfile, time

req = json.loads(sys.argv[1])
CACHE = "/cache"
manager = req["manager"]
root = os.path.join(CACHE, manager)
os.makedirs(root, exist_ok=True)
os.makedirs(os.path.join(CACHE, "tmp"), exist_ok=True)


def canon(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def safe(text):
    return re.sub(r"[^A-Za-z0-9._+-]", "_", text)


def entry_dir(name, version):
    return os.path.join(root, safe(name) + "@" + safe(version))


def complete(path):
    return os.path.isfile(os.path.join(path, ".complete"))


def tail(text, n=6):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return " | ".join(lines[-n:])[-1500:]


def run(argv, env):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, timeout=600)
    return p.returncode, p.stdout


def fetch_npm(name, version, tmp):
    env = dict(os.environ, HOME="/tmp", NODE_EXTRA_CA_CERTS="/etc/ssl/certs/ca-certificates.crt",
               npm_config_cache="/tmp/npm-cache", npm_config_update_notifier="false")
    if req.get("npm_registry"):
        env["npm_config_registry"] = req["npm_registry"]
    spec = name + ("@" + version if version else "")
    rc, out = run(["npm", "install", "--prefix", tmp, "--no-audit", "--no-fund", "--ignore-scripts", "--omit=dev",
                   "--no-package-lock", "--loglevel=error", spec], env)
    if rc != 0:
        if "E404" in out or "404 Not Found" in out:
            raise RuntimeError("unknown package: %s is not in the npm registry" % spec)
        if "ETARGET" in out:
            raise RuntimeError("unknown version: no version of %s matches" % spec)
        raise RuntimeError("npm install failed: " + tail(out))
    with open(os.path.join(tmp, "node_modules", name, "package.json")) as f:
        return json.load(f)["version"]


def fetch_pip(name, version, tmp):
    env = dict(os.environ, HOME="/tmp", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_CACHE_DIR="1")
    argv = [sys.executable, "-m", "pip", "install", "--target", tmp, "--no-compile", "--only-binary=:all:",
            "--no-warn-script-location", "--quiet", "--break-system-packages"]
    argv += ["--index-url", req["pip_index_url"]] if req.get("pip_index_url") else ["--no-index"]
    if req.get("find_links"):
        argv += ["--find-links", req["find_links"]]
    argv.append(name + ("==" + version if version else ""))
    rc, out = run(argv, env)
    if rc != 0:
        if "No matching distribution" in out or "Could not find a version" in out:
            raise RuntimeError("unknown package or no wheel for this platform: %s%s" % (name, "==" + version if version else ""))
        raise RuntimeError("pip install failed: " + tail(out))
    for d in os.listdir(tmp):
        if d.endswith(".dist-info"):
            base = d[: -len(".dist-info")]
            n, _, v = base.rpartition("-")
            if canon(n) == canon(name):
                return v
    raise RuntimeError("pip installed %s but no metadata names its version" % name)


def fetch(pkg):
    name, version = pkg["name"], pkg.get("version")
    if version:
        path = entry_dir(name, version)
        if complete(path):
            os.utime(os.path.join(path, ".complete"))
            return {"name": name, "version": version, "path": path, "cached": True}
    tmp = tempfile.mkdtemp(dir=os.path.join(CACHE, "tmp"))
    try:
        resolved = (fetch_npm if manager == "npm" else fetch_pip)(name, version, tmp)
        path = entry_dir(name, resolved)
        if complete(path):
            os.utime(os.path.join(path, ".complete"))
            return {"name": name, "version": resolved, "path": path, "cached": True}
        shutil.rmtree(path, ignore_errors=True)
        content = os.path.join(tmp, "node_modules") if manager == "npm" else tmp
        os.rename(content, path)
        with open(os.path.join(path, ".complete"), "w") as f:
            json.dump({"name": name, "version": resolved, "at": time.time()}, f)
        return {"name": name, "version": resolved, "path": path, "cached": False}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def size(path):
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(d, f)).st_size
            except OSError:
                pass
    return total


def prune(keep, limit):
    entries = []
    for mgr in ("npm", "pip"):
        base = os.path.join(CACHE, mgr)
        if not os.path.isdir(base):
            continue
        for e in os.listdir(base):
            p = os.path.join(base, e)
            marker = os.path.join(p, ".complete")
            if not os.path.isfile(marker):
                shutil.rmtree(p, ignore_errors=True)  # an interrupted fetch
                continue
            entries.append((os.path.getmtime(marker), p, size(p)))
    total = sum(s for _, _, s in entries)
    for _, p, s in sorted(entries):
        if total <= limit:
            break
        if p in keep:
            continue
        shutil.rmtree(p, ignore_errors=True)
        total -= s
    return total


results = []
for pkg in req["packages"]:
    try:
        got = fetch(pkg)
        got["bytes"] = size(got["path"])
        got["ok"] = True
        results.append(got)
    except Exception as e:  # each failure is reported with its package, never swallowed
        results.append({"name": pkg["name"], "version": pkg.get("version"), "ok": False, "error": str(e)})
cache_bytes = prune({r["path"] for r in results if r.get("ok")}, int(req["max_cache_bytes"]))
sys.stdout.write(json.dumps({"results": results, "cache_bytes": cache_bytes}) + "\n")
