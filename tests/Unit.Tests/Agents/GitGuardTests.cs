using System.Diagnostics;
using System.Text.Json;
using Sandbox.Agents;

namespace Sandbox.Unit.Tests.Agents;

/// <summary>The read-only git policy's hook (git_guard.py, run by python3 as Claude Code runs it): what it lets through
/// and what it refuses, including git hidden behind shells, substitutions, wrappers and newlines.</summary>
public sealed class GitGuardTests
{
    private static readonly string[] Reading =
    [
        "git status", "git log --oneline -5", "git diff HEAD~1", "cd src && git show HEAD:README.md", "git blame a.py", "git --no-pager log",
        "git branch", "git branch -a --contains HEAD", "git tag", "git tag -l 'v*'", "git remote -v", "git stash list", "git config --get user.name",
        "git reflog", "git log | head; git status", "grep -r 'git commit' .", "echo done", "python3 -c 'print(1)'", "git -C /workspace status",
    ];

    private static readonly string[] Changing =
    [
        "git commit -am x", "git add . && git commit -m y", "ls\ngit push", "echo $(git commit -m a)", "echo `git reset --hard`",
        "bash -c 'git commit -m x'", "sh -c \"cd /w && git push origin main\"", "eval git tag v1", "env A=1 git checkout -b z",
        "git -C /workspace commit", "git -c core.pager=sh log", "git branch newb", "git branch -D old", "git tag v2", "git remote add o u",
        "git stash", "git config user.name x", "xargs git rm", "/usr/bin/git commit", "timeout 5 git pull", "git rebase -i HEAD~2",
        "(git commit -m x)", "if true; then git merge b; fi", "git worktree add ../x", "git reflog expire --all", "git switch -c x",
    ];

    [Fact]
    public void Reading_commands_pass_and_every_change_is_refused_with_its_reason()
    {
        var verdicts = Refusals([.. Reading, .. Changing]);
        Assert.All(Reading, c => Assert.True(verdicts[c] is null, $"'{c}' was refused: {verdicts[c]}"));
        Assert.All(Changing, c => Assert.False(verdicts[c] is null, $"'{c}' was let through"));
    }

    [Fact]
    public void As_a_hook_a_refusal_is_exit_status_2_with_the_reason_for_the_agent()
    {
        var (code, stderr) = RunHook(new { tool_name = "Bash", tool_input = new { command = "git commit -am wip" } });
        Assert.Equal(2, code);
        Assert.Contains("git policy", stderr, StringComparison.Ordinal);
        Assert.Contains("commit", stderr, StringComparison.Ordinal);
        Assert.Equal(0, RunHook(new { tool_name = "Bash", tool_input = new { command = "git log -3" } }).Code);
        Assert.Equal(0, RunHook(new { tool_name = "Read", tool_input = new { file_path = "/workspace/a.py" } }).Code);
    }

    /// <summary>The guard's verdict on each command: null when it only reads, else the reason.</summary>
    private static Dictionary<string, string?> Refusals(string[] commands)
    {
        const string driver = "import json, sys\nguard = sys.stdin.readline()\nns = {'__name__': 'guard'}\nexec(json.loads(guard), ns)\n" +
                              "print(json.dumps({c: ns['refusal'](c) for c in json.loads(sys.stdin.readline())}))\n";
        var (code, stdout, stderr) = Python(["-c", driver], JsonSerializer.Serialize(EmbeddedScript.GitGuard.Value) + "\n" + JsonSerializer.Serialize(commands) + "\n");
        Assert.True(code == 0, stderr);
        return JsonSerializer.Deserialize<Dictionary<string, string?>>(stdout)!;
    }

    private static (int Code, string Stderr) RunHook(object call)
    {
        var (code, _, stderr) = Python(["-c", EmbeddedScript.GitGuard.Value], JsonSerializer.Serialize(call));
        return (code, stderr);
    }

    private static (int Code, string Stdout, string Stderr) Python(string[] args, string stdin)
    {
        var start = new ProcessStartInfo("python3") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        using var p = Process.Start(start)!;
        p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(30_000), "python3 did not finish");
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
