# The git helper: a short-lived container (never a session's) that is the one way git reaches a network. It runs as
# the sandbox user with the session's workspace volume mounted, reaches only the repository's host through its own
# egress proxy (which adds the operator's credentials on the way out: they never enter this container either), and
# prints one JSON line with the outcome. Its request arrives as one JSON line on stdin:
#   {"op": "clone", "url": ..., "ref": ..., "depth": 0|N, "submodules": bool, "proxy": ..., "ca": PEM|null,
#    "name": ..., "email": ...}
#   {"op": "push", "url": ..., "commit": SHA, "branch": ..., "force": bool, "proxy": ..., "ca": PEM|null}
# Clone writes into /workspace (which must be empty). Push never runs git in the session's repository: it copies the
# object files only (no configuration, no hooks, no links) into a fresh repository of its own and pushes from there.
import json, os, re, shutil, subprocess, sys

req = json.loads(sys.stdin.readline())


def done(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()
    sys.exit(0)


def classify(text):
    t = text.lower()
    if "authentication failed" in t or "could not read username" in t or "http 401" in t or " 401" in t \
            or "http 403" in t or "returned error: 403" in t or "permission denied" in t or "access denied" in t:
        return "git_auth_failed"
    if ("remote branch" in t and "not found" in t) or "couldn't find remote ref" in t or "did not match any" in t \
            or "unknown revision" in t or "not our ref" in t or "reference is not a tree" in t:
        return "git_ref_not_found"
    if "no space left on device" in t or "disk quota exceeded" in t:
        return "limit_exceeded"
    if "repository not found" in t or "not found" in t and "http" in t or "does not appear to be a git repository" in t:
        return "git_repo_not_found"
    if "not on this session's allow list" in t or "refused" in t and "proxy" in t or "could not resolve" in t \
            or "failed to connect" in t or "connection refused" in t or "timed out" in t:
        return "git_unreachable"
    return "git_failed"


os.makedirs("/tmp/home", exist_ok=True)
env = {
    "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp/home", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "/bin/false", "SSH_ASKPASS": "/bin/false", "GIT_CONFIG_NOSYSTEM": "1",
    "http_proxy": req["proxy"], "https_proxy": req["proxy"], "HTTP_PROXY": req["proxy"], "HTTPS_PROXY": req["proxy"],
    "no_proxy": "", "NO_PROXY": "",
}
settings = [("protocol.allow", "never"), ("protocol.http.allow", "always"), ("protocol.https.allow", "always"),
            ("transfer.fsckObjects", "true"), ("core.hooksPath", "/dev/null"), ("advice.detachedHead", "false"),
            ("init.defaultBranch", "main")]
if req.get("ca"):
    # The host carries a credential: the proxy answers for it with a certificate of this helper's own CA.
    with open("/tmp/ca.pem", "w") as f:
        f.write(req["ca"])
    settings.append(("http.sslCAInfo", "/tmp/ca.pem"))
env["GIT_CONFIG_COUNT"] = str(len(settings))
for i, (k, v) in enumerate(settings):
    env["GIT_CONFIG_KEY_%d" % i] = k
    env["GIT_CONFIG_VALUE_%d" % i] = v


def git(*args, cwd=None, check=True):
    p = subprocess.run(["git", *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       errors="replace")
    if check and p.returncode != 0:
        message = (p.stderr or p.stdout).strip()
        done(ok=False, code=classify(message), message=message[-2000:])
    return p


SHA = re.compile(r"^[0-9a-f]{40}$")

if req["op"] == "clone":
    dest = "/workspace"
    if os.listdir(dest):
        done(ok=False, code="invalid_argument", message="the workspace is not empty; a repository is cloned only into a new session")
    ref, depth = req.get("ref") or "", int(req.get("depth") or 0)
    args = ["clone", "--quiet", "--recurse-submodules" if req.get("submodules") else "--no-recurse-submodules"]
    if depth > 0 and not SHA.match(ref):
        args += ["--depth", str(depth)]
        if req.get("submodules"):
            args.append("--shallow-submodules")
    if ref and not SHA.match(ref):
        args += ["--branch", ref]
    git(*args, "--", req["url"], dest)
    if SHA.match(ref):
        git("checkout", "--quiet", "--detach", ref, cwd=dest)
    git("config", "user.name", req.get("name") or "Sandbox Agent", cwd=dest)
    git("config", "user.email", req.get("email") or "agent@sandbox.invalid", cwd=dest)
    with open(os.path.join(dest, ".git", "info", "exclude"), "a") as f:
        f.write("\n# kept outputs of the sandbox's executions, and the session's own folder (agent homes)\n/.outputs/\n/.sandbox/\n")
    head = git("rev-parse", "HEAD", cwd=dest).stdout.strip()
    branch = git("symbolic-ref", "--quiet", "--short", "HEAD", cwd=dest, check=False).stdout.strip() or None
    count = git("rev-list", "--count", "HEAD", cwd=dest).stdout.strip()
    done(ok=True, head=head, branch=branch, commits=int(count or 0), shallow=os.path.exists(os.path.join(dest, ".git", "shallow")))

if req["op"] == "push":
    src = "/src/.git"
    if os.path.islink(src) or not os.path.isdir(src) or os.path.islink(src + "/objects") or not os.path.isdir(src + "/objects"):
        done(ok=False, code="git_failed", message="the workspace has no git repository at /workspace/.git")
    repo = "/tmp/push.git"
    git("init", "--quiet", "--bare", repo)
    # Object files only, as data: never the session's configuration, hooks, alternates or links.
    copied = 0
    for root, dirs, files in os.walk(src + "/objects", followlinks=False):
        rel = os.path.relpath(root, src + "/objects")
        if rel == "info":
            dirs[:] = []
            continue
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
        target = os.path.join(repo, "objects", rel) if rel != "." else os.path.join(repo, "objects")
        os.makedirs(target, exist_ok=True)
        for name in files:
            path = os.path.join(root, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            shutil.copyfile(path, os.path.join(target, name), follow_symlinks=False)
            copied += 1
    if os.path.isfile(src + "/shallow") and not os.path.islink(src + "/shallow"):
        shutil.copyfile(src + "/shallow", repo + "/shallow", follow_symlinks=False)
    commit = req["commit"]
    if not SHA.match(commit):
        done(ok=False, code="invalid_argument", message="not a commit id")
    git("--git-dir", repo, "cat-file", "-e", commit + "^{commit}")
    git("--git-dir", repo, "update-ref", "refs/heads/sandbox-push", commit)
    args = ["--git-dir", repo, "push", "--porcelain"]
    if req.get("force"):
        args.append("--force")
    p = git(*args, req["url"], "refs/heads/sandbox-push:refs/heads/" + req["branch"], check=False)
    if p.returncode != 0:
        message = (p.stderr + "\n" + p.stdout).strip()
        code = "git_push_rejected" if "[rejected]" in message or "non-fast-forward" in message or "fetch first" in message else classify(message)
        done(ok=False, code=code, message=message[-2000:])
    done(ok=True, commit=commit, branch=req["branch"], output=p.stdout.strip()[-2000:])

done(ok=False, code="invalid_argument", message="unknown op")
