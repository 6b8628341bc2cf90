# git_guard.py: the read-only git policy of an agent run, as a Claude Code PreToolUse hook on its Bash tool.
#
# The engine passes this text to the agent on its command line (--settings, base64 inside the hook's command), never as
# a file the agent could change. The hook reads the tool call (JSON on stdin), finds every git invocation in the shell
# command (after ; & | && || ( $( ` and newlines, inside sh/bash -c and eval, behind env, sudo, xargs, timeout ...),
# and refuses the call (exit status 2, the reason on stderr, which the agent reads) unless each one only reads:
# status, log, diff, show, blame and the like, and branch/tag/remote/stash/config/worktree/reflog in their listing
# forms. Git's own -c and --exec-path are refused too (a pager or alias set there could run anything). What it cannot
# see: programs the agent writes and runs that call git themselves, or edits of .git/ as files.
import json, os, shlex, sys

READING = {
    "status", "log", "diff", "show", "blame", "annotate", "ls-files", "ls-tree", "rev-parse", "rev-list", "grep",
    "shortlog", "describe", "cat-file", "merge-base", "name-rev", "for-each-ref", "show-ref", "count-objects",
    "check-ignore", "check-attr", "whatchanged", "range-diff", "show-branch", "cherry", "help", "version", "var",
    "diff-tree", "diff-files", "diff-index", "verify-commit", "verify-tag",
}
BRANCH_LISTING = {"-a", "--all", "-r", "--remotes", "-l", "--list", "-v", "-vv", "--verbose", "--show-current",
                  "--contains", "--no-contains", "--merged", "--no-merged", "--points-at", "--no-color", "--color",
                  "--column", "--no-column", "-i", "--ignore-case", "--omit-empty"}
TAKES_VALUE = {"--contains", "--no-contains", "--merged", "--no-merged", "--points-at", "--sort", "--format"}
SHELLS = {"sh", "bash", "dash", "zsh", "ksh"}
SEPARATORS = {";", "&", "|", "&&", "||", "(", ")", "$(", "`", "{", "}", "!", "then", "do", "else", "elif"}


def listing(sub, args):
    """Whether a subcommand that can both list and change only lists with these arguments."""
    first = args[0] if args else None
    if sub in ("branch", "tag"):
        if "-l" in args or "--list" in args:
            return not any(a in ("-d", "-D", "--delete", "-m", "-M", "-c", "-C", "-f", "--force", "-a" if sub == "tag" else "", "-s", "-u")
                           for a in args if a)
        i = 0
        while i < len(args):
            name = args[i].split("=", 1)[0]
            if name not in BRANCH_LISTING and name not in ("--sort", "--format"):
                return False
            # An option that names a commit or a format takes the next word when it has no "=".
            i += 2 if name in TAKES_VALUE and "=" not in args[i] and i + 1 < len(args) and not args[i + 1].startswith("-") else 1
        return True
    if sub == "remote":
        return first in (None, "-v", "--verbose", "show", "get-url")
    if sub == "stash":
        return first in ("list", "show")
    if sub == "config":
        return any(a in ("--get", "--get-all", "--get-regexp", "--get-urlmatch", "--list", "-l") for a in args)
    if sub == "worktree":
        return first == "list"
    if sub == "reflog":
        return first in (None, "show")
    if sub in ("submodule", "notes"):
        return first in (None, "status", "list", "show")
    return False


def git_refusal(args):
    """Why this git invocation (its arguments after 'git') changes something, or None when it only reads."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        a = args[i]
        if a == "-c" or a.startswith(("--config-env", "--exec-path")) or a.startswith("-c"):
            return "git %s is refused (configuration given on the command line could run anything)" % a
        if a in ("-C", "--git-dir", "--work-tree", "--namespace", "--super-prefix"):
            i += 2
            continue
        if a in ("--version", "--help", "-h"):
            return None
        i += 1
    if i >= len(args):
        return None
    sub, rest = args[i], args[i + 1:]
    if sub in READING or listing(sub, rest):
        return None
    return "git %s changes the repository" % " ".join([sub] + rest)[:80]


def commands(script, depth=0):
    """The simple commands of a shell script, as word lists (a best effort: enough to find each program it runs)."""
    lexer = shlex.shlex(script.replace("\n", ";"), posix=True, punctuation_chars=";&|()<>")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    current, out = [], []
    for tok in lexer:
        while tok.startswith(("`", "$(")):
            tok = tok[1:] if tok.startswith("`") else tok[2:]
            if current:
                out.append(current)
            current = []
        tail = tok.endswith("`")
        tok = tok.rstrip("`")
        if tok in SEPARATORS or (tok and set(tok) <= set(";&|()<>")):
            if current:
                out.append(current)
            current = []
        elif tok:
            current.append(tok)
        if tail and current:
            out.append(current)
            current = []
    if current:
        out.append(current)
    found = []
    for words in out:
        found.append(words)
        if depth < 4:
            names = [os.path.basename(w) for w in words]
            for j, name in enumerate(names):
                if name in SHELLS and "-c" in words[j + 1:]:
                    k = words.index("-c", j + 1)
                    if k + 1 < len(words):
                        found.extend(commands(words[k + 1], depth + 1))
                if name == "eval":
                    found.extend(commands(" ".join(words[j + 1:]), depth + 1))
    return found


def refusal(script):
    try:
        for words in commands(script):
            for j, w in enumerate(words):
                if os.path.basename(w) == "git":
                    why = git_refusal(words[j + 1:])
                    if why:
                        return why
    except ValueError as e:
        return "the command could not be read (%s)" % e
    return None


def main():
    try:
        call = json.load(sys.stdin)
    except ValueError:
        return 0
    command = (call.get("tool_input") or {}).get("command")
    if not isinstance(command, str):
        return 0
    why = refusal(command)
    if why:
        sys.stderr.write("Refused by this session's git policy (read-only: you may inspect the repository with status, log, "
                         "diff, show and blame, but not change it; the user commits and pushes): %s.\n" % why)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
