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
