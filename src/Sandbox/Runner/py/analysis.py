# analysis.py: Python's own parse of code for the engine's static safety check (facts, not verdicts).

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


# Node's own modules (require('fs'), import 'node:path'): never missing.
NODE_BUILTINS = {
    "assert", "async_hooks", "buffer", "child_process", "cluster", "console", "constants", "crypto", "dgram",
    "diagnostics_channel", "dns", "domain", "events", "fs", "http", "http2", "https", "inspector", "module", "net", "os",
    "path", "perf_hooks", "process", "punycode", "querystring", "readline", "repl", "stream", "string_decoder", "sys",
    "test", "timers", "tls", "trace_events", "tty", "url", "util", "v8", "vm", "wasi", "worker_threads", "zlib",
}
NODE_GLOBAL = ["/usr/lib/node_modules", "/usr/local/lib/node_modules", "/usr/share/nodejs", "/usr/lib/nodejs"]
NODE_IMPORT = None  # compiled on first use


def python_imports(code):
    """The top-level names of the absolute imports of Python code (None when it does not parse)."""
    try:
        tree = ast.parse(code, "<string>", "exec")
    except SyntaxError:
        return None
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module.split(".")[0])
    return names


def node_imports(code):
    """The package names of a script's require() and import specifiers (relative and node: ones left out)."""
    global NODE_IMPORT
    if NODE_IMPORT is None:
        import re
        NODE_IMPORT = re.compile(r"""(?:\brequire\s*\(\s*|\bimport\s*\(\s*|\bfrom\s+|\bimport\s+)(['"])([^'"\s]+)\1""")
    names = []
    for m in NODE_IMPORT.finditer(code):
        spec = m.group(2)
        if spec.startswith((".", "/", "node:")) or ":" in spec:
            continue
        parts = spec.split("/")
        names.append("/".join(parts[:2]) if spec.startswith("@") and len(parts) > 1 else parts[0])
    return names


# Run by the image's own Python when it is not the runner's: which of the names in argv it cannot import.
MISSING_SRC = r"""
import importlib.util, json, sys
names = [n for n in dict.fromkeys(sys.argv[1:]) if n not in sys.builtin_module_names and n not in getattr(sys, "stdlib_module_names", ())]
print(json.dumps([n for n in names if importlib.util.find_spec(n) is None]))
"""


def foreign_python_missing(names):
    """The missing modules as the image's own Python sees them (its version, its path); none when it has no Python."""
    try:
        r = subprocess.run([USER_PYTHON, "-c", MISSING_SRC] + names[:50], stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=20, preexec_fn=demote, env=user_env(), cwd=WORKDIR)
        found = json.loads(r.stdout.decode() or "[]")
        return [n for n in found if isinstance(n, str)] if isinstance(found, list) else []
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return []


def missing_modules(rid, req):
    """Which modules the code imports that the session cannot find: Python's standard library and what its
    interpreter's path holds (the image's packages, install_packages' folder, the workspace) are there; Node's own
    modules and packages in the workspace's or the system's node_modules are there. Looked up as the sandbox user."""
    language, code = req.get("language", "python"), req.get("code", "")
    names = python_imports(code) if language == "python" else node_imports(code)
    if names is None:
        return {"type": "missing", "id": rid, "names": []}  # Python reports the syntax error itself when the code runs
    if language == "python" and USER_PYTHON != sys.executable:
        return {"type": "missing", "id": rid, "names": foreign_python_missing(names)}
    import importlib.machinery
    path = [WORKDIR, PY_PACKAGES] + [p for p in sys.path if p]
    # Fresh lookups: the finders cache a folder's listing, and "no such folder" for one that did not exist yet (the
    # packages folder before the first install).
    for p in path:
        sys.path_importer_cache.pop(p, None)
    seen, missing = set(), []
    for name in names:
        if name in seen or not name:
            continue
        seen.add(name)
        if language == "python":
            if name in sys.builtin_module_names or name in getattr(sys, "stdlib_module_names", ()):
                continue
            if importlib.machinery.PathFinder.find_spec(name, path) is None:
                missing.append(name)
        else:
            if name in NODE_BUILTINS:
                continue
            roots = [WORKDIR + "/node_modules"] + NODE_GLOBAL
            if not any(os.path.exists(os.path.join(r, name, "package.json")) for r in roots):
                missing.append(name)
    return {"type": "missing", "id": rid, "names": missing[:50]}
