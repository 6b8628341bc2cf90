using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Sandbox.Testing;

namespace Sandbox.Cli.Tests;

/// <summary>The installed <c>sandbox</c> tool against a real server, in a local repository whose remote (a bare
/// repository on this disk) the server can never reach: spawn Claude Code with a prompt, review its change, check
/// fails, commit, push lands the branch in the bare repository, check passes, attach through a pseudo-terminal (detach,
/// reattach sees the replay), purge leaves nothing.</summary>
public sealed class CliWorkflowTests(CliFixture fixture) : IClassFixture<CliFixture>, IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sandbox-cli-repo-").FullName;

    private string Repo => Path.Combine(_root, "app");

    private string Bare => Path.Combine(_root, "origin.git");

    [Fact]
    public async Task A_task_is_spawned_from_a_local_repository_reviewed_committed_pushed_checked_attached_and_purged()
    {
        Git(_root, "init", "--quiet", "--bare", Bare);
        Directory.CreateDirectory(Repo);
        Git(Repo, "init", "--quiet", "-b", "main");
        File.WriteAllText(Path.Combine(Repo, "app.py"), "print('app')\n");
        Git(Repo, "add", "app.py");
        Git(Repo, "commit", "--quiet", "-m", "First");
        Git(Repo, "remote", "add", "origin", Bare);
        Git(Repo, "push", "--quiet", "origin", "main");

        // Usage errors and missing tasks have exit codes of their own.
        Assert.Equal(2, (await Sandbox("spawn", "gemini", "t1")).ExitCode);
        var missing = await Sandbox("t9", "review", "--json");
        Assert.Equal(3, missing.ExitCode);
        Assert.Equal("task_not_found", JsonDocument.Parse(missing.Stdout).RootElement.GetProperty("error").GetProperty("code").GetString());
        var config = await Sandbox("config", "--json");
        Assert.Equal("SANDBOX_URL", JsonDocument.Parse(config.Stdout).RootElement.GetProperty("url_source").GetString());

        var spawn = await Sandbox("spawn", "claude", "t1", "--prompt", "Write feature.txt please (CLI-PROMPT-1)", "--json");
        Assert.True(spawn.ExitCode == 0, spawn.ToString());
        var spawned = JsonDocument.Parse(spawn.Stdout).RootElement;
        var sessionId = spawned.GetProperty("session_id").GetString()!;
        Assert.Equal("t1", spawned.GetProperty("branch").GetString());
        Assert.Equal(Git(Repo, "rev-parse", "main").Trim(), spawned.GetProperty("base_commit").GetString());
        var duplicate = await Sandbox("spawn", "claude", "t1", "--json");
        Assert.Equal(1, duplicate.ExitCode);
        Assert.Equal("name_taken", JsonDocument.Parse(duplicate.Stdout).RootElement.GetProperty("error").GetProperty("code").GetString());
        // --docker-image asks for a Docker engine of the task's own with that image: the server checks the image.
        var docker = await Sandbox("spawn", "shell", "t-docker", "--docker-image", "not-allowed:latest", "--json");
        Assert.Equal(1, docker.ExitCode);
        Assert.Equal("forbidden", JsonDocument.Parse(docker.Stdout).RootElement.GetProperty("error").GetProperty("code").GetString());

        // The agent works on the prompt unattended; its change shows in review.
        var deadline = DateTime.UtcNow.AddMinutes(3);
        string review;
        while (true)
        {
            review = (await Sandbox("t1", "review")).Stdout;
            // The agent writes while we look: wait for a review that has seen the file everywhere (status and diff).
            if (review.Contains("1 uncommitted change", StringComparison.Ordinal) && review.Contains("+written by the agent", StringComparison.Ordinal)
                || DateTime.UtcNow > deadline)
            {
                break;
            }
            await Task.Delay(2000);
        }
        Assert.Contains(fixture.Model.Requests, r => r.Body.Contains("CLI-PROMPT-1", StringComparison.Ordinal));
        Assert.True(review.Contains("+written by the agent", StringComparison.Ordinal) && review.Contains("1 uncommitted change", StringComparison.Ordinal), review);

        Assert.Equal(4, (await Sandbox("t1", "check")).ExitCode);
        var commit = await Sandbox("t1", "commit", "-m", "Add feature", "--json");
        Assert.True(commit.ExitCode == 0, commit.ToString());
        Assert.Equal(4, (await Sandbox("t1", "check")).ExitCode);
        var push = await Sandbox("t1", "push");
        Assert.True(push.ExitCode == 0, push.ToString());
        Assert.Equal("Add feature", Git(_root, "--git-dir", Bare, "log", "-1", "--format=%s", "t1").Trim());
        Assert.Equal("written by the agent\n", Git(_root, "--git-dir", Bare, "show", "t1:feature.txt"));
        var check = await Sandbox("t1", "check", "--json");
        Assert.True(check.ExitCode == 0, check.ToString());
        Assert.True(JsonDocument.Parse(check.Stdout).RootElement.GetProperty("clean").GetBoolean());

        // The base moves on: check says so, update rebases the task onto it, a forced push lands the rebased branch.
        File.WriteAllText(Path.Combine(Repo, "README.md"), "app\n");
        Git(Repo, "add", "README.md");
        Git(Repo, "commit", "--quiet", "-m", "Add README");
        Git(Repo, "push", "--quiet", "origin", "main");
        var behind = await Sandbox("t1", "check", "--json");
        Assert.Equal(4, behind.ExitCode);
        Assert.True(JsonDocument.Parse(behind.Stdout).RootElement.GetProperty("behind_base").GetBoolean(), behind.ToString());
        var update = await Sandbox("t1", "update");
        Assert.True(update.ExitCode == 0, update.ToString());
        Assert.Equal(0, (await Sandbox("t1", "push", "--force")).ExitCode);
        Assert.Equal(0, (await Sandbox("t1", "check")).ExitCode);
        Assert.Equal("Add README", Git(_root, "--git-dir", Bare, "log", "-1", "--format=%s", "t1~1").Trim());

        // Attach through a pseudo-terminal: the finished screen comes from the replay; Ctrl-P Ctrl-Q (typed as two keys)
        // detaches and the agent goes on; a second attach sees the same screen.
        for (var i = 0; i < 2; i++)
        {
            var attach = await Run("python3", [Path.Combine(AppContext.BaseDirectory, "pty_drive.py"), "CLIDONE8812", "--", fixture.Tool, "t1", "attach"]);
            Assert.True(attach.Stdout.TrimEnd().EndsWith("EXIT 0", StringComparison.Ordinal), attach.ToString());
            Assert.Contains("detached from terminal", attach.Stdout, StringComparison.Ordinal);
        }
        // A restart makes a new session with the same name, files, branch and the agent's conversation, which the agent
        // resumes: the earlier exchange is on its screen again. The agent's home never shows as a change.
        var restart = await Sandbox("t1", "restart", "--json");
        Assert.True(restart.ExitCode == 0, restart.ToString());
        var restarted = JsonDocument.Parse(restart.Stdout).RootElement;
        Assert.NotEqual(sessionId, restarted.GetProperty("session_id").GetString());
        Assert.Equal("claude-code", restarted.GetProperty("agent").GetString());
        using (var http = fixture.CreateHttpClient())
        {
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"api/sessions/{sessionId}")).StatusCode);
        }
        sessionId = restarted.GetProperty("session_id").GetString()!;
        var reviewed = JsonDocument.Parse((await Sandbox("t1", "review", "--json")).Stdout).RootElement.GetProperty("review");
        Assert.Equal("t1", reviewed.GetProperty("branch").GetString());
        Assert.Empty(reviewed.GetProperty("uncommitted").EnumerateArray());
        var resumed = await Run("python3", [Path.Combine(AppContext.BaseDirectory, "pty_drive.py"), "CLIDONE8812", "--", fixture.Tool, "t1", "attach"]);
        Assert.True(resumed.Stdout.TrimEnd().EndsWith("EXIT 0", StringComparison.Ordinal), resumed.ToString());

        var list = await Sandbox("list", "--status", "--json");
        var row = Assert.Single(JsonDocument.Parse(list.Stdout).RootElement.EnumerateArray(), r => r.GetProperty("task").GetString() == "t1");
        Assert.Equal("claude-code", row.GetProperty("running").GetString());

        // logs prints the agent's screen (escape sequences stripped when piped); preview starts a server and links it;
        // stop ends what runs and keeps the task.
        var logs = await Sandbox("t1", "logs", "--tail", "200");
        Assert.True(logs.ExitCode == 0 && logs.Stdout.Contains("CLIDONE8812", StringComparison.Ordinal) && !logs.Stdout.Contains('\u001b', StringComparison.Ordinal), logs.ToString());
        var preview = await Sandbox("t1", "preview", "--port", "8000", "--cmd", "python3 -m http.server 8000", "--json");
        Assert.True(preview.ExitCode == 0, preview.ToString());
        Assert.StartsWith("http", JsonDocument.Parse(preview.Stdout).RootElement.GetProperty("preview").GetProperty("url").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, (await Sandbox("stop", "t1")).ExitCode);
        var info = JsonDocument.Parse((await Sandbox("t1", "info", "--json")).Stdout).RootElement;
        Assert.DoesNotContain(info.GetProperty("terminals").EnumerateArray(), t => t.GetProperty("running").GetBoolean());

        Assert.Equal(0, (await Sandbox("purge", "t1")).ExitCode);
        Assert.DoesNotContain(JsonDocument.Parse((await Sandbox("list", "--all", "--json")).Stdout).RootElement.EnumerateArray(),
            r => r.GetProperty("session_id").GetString() == sessionId);
        using var client = fixture.CreateHttpClient();
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"api/sessions/{sessionId}")).StatusCode);
        Assert.NotEqual(0, Process(Repo, "git", "rev-parse", "--verify", "--quiet", "refs/sandbox/t1").ExitCode);
    }

    [Fact]
    public async Task A_one_shot_run_outside_a_repository_prints_the_answer_and_the_diff_and_leaves_no_session()
    {
        Directory.CreateDirectory(Repo);
        var before = (await Sandbox("list", "--all", "--json")).Stdout;
        var run = await Sandbox("run", "--agent", "claude", "Write feature.txt (CLI-RUN-2)");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("succeeded", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("CLIDONE8812", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("+written by the agent", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("Not in a git repository", run.Stderr, StringComparison.Ordinal);
        Assert.Equal(JsonDocument.Parse(before).RootElement.GetArrayLength(), JsonDocument.Parse((await Sandbox("list", "--all", "--json")).Stdout).RootElement.GetArrayLength());
    }

    [Fact]
    public async Task Volumes_are_created_listed_and_deleted()
    {
        Directory.CreateDirectory(Repo);
        var name = "cli-" + Guid.NewGuid().ToString("N")[..8];
        var created = await Sandbox("volume", "create", name, "--size", "8");
        Assert.True(created.ExitCode == 0, created.ToString());
        Assert.Contains($"Volume {name} created (8 MiB)", created.Stdout, StringComparison.Ordinal);
        var listed = JsonDocument.Parse((await Sandbox("volume", "list", "--json")).Stdout).RootElement;
        Assert.Contains(listed.EnumerateArray(), v => v.GetProperty("name").GetString() == name && v.GetProperty("size_mb").GetInt32() == 8);
        Assert.Equal(0, (await Sandbox("volume", "delete", name)).ExitCode);
        var again = await Sandbox("volume", "delete", name);
        Assert.NotEqual(0, again.ExitCode);
        Assert.Contains("volume_not_found", again.Stderr + again.Stdout, StringComparison.Ordinal);
    }

    private sealed record Outcome(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit {ExitCode}\nstdout: {Stdout}\nstderr: {Stderr}";
    }

    private Task<Outcome> Sandbox(params string[] args) => Run(fixture.Tool, args);

    private async Task<Outcome> Run(string file, string[] args)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = Repo, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        start.Environment["SANDBOX_URL"] = fixture.BaseAddress.ToString();
        start.Environment["XDG_CONFIG_HOME"] = Path.Combine(_root, "config");
        start.Environment["NO_COLOR"] = "1";
        using var p = System.Diagnostics.Process.Start(start)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        try
        {
            await p.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish: {await stdout}\n{await stderr}");
        }
        return new Outcome(p.ExitCode, await stdout, await stderr);
    }

    private static string Git(string directory, params string[] args)
    {
        var (code, stdout, stderr) = Process(directory, "git", args);
        Assert.True(code == 0, $"git {string.Join(' ', args)}: {stderr}");
        return stdout;
    }

    private static (int ExitCode, string Stdout, string Stderr) Process(string directory, string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        start.Environment["GIT_AUTHOR_NAME"] = start.Environment["GIT_COMMITTER_NAME"] = "Dev";
        start.Environment["GIT_AUTHOR_EMAIL"] = start.Environment["GIT_COMMITTER_EMAIL"] = "dev@example.invalid";
        using var p = System.Diagnostics.Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(60_000));
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
