using System.Text.Json;
using Sandbox.Agents;
using Sandbox.Execution;
using Sandbox.Git;
using Sandbox.Sessions;
using Sandbox.Testing;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Git;

/// <summary>Sessions from repositories of a git server the test starts (git http-backend on a test network): clone,
/// a scripted Claude Code run that commits on its own branch, exports that apply to a fresh clone, pushes.</summary>
[Collection(EngineCollection.Name)]
public sealed class GitSessionTests(EngineFixture fixture)
{
    private const string ApiKey = "sk-ant-test-git-31d7c0e5a9";

    private static readonly ScriptedTurn[] CommitScript =
    [
        ScriptedTurn.ToolUse("Bash", new
        {
            command = "printf 'def sub(a, b):\\n    return a - b\\n' >> app.py && git add app.py && git commit -q -m 'Add sub' && echo draft > notes.txt",
            description = "Add sub and commit",
        }),
        ScriptedTurn.Final("Added sub() and committed it."),
    ];

    private async Task<(SandboxEngine Engine, GitServer Git, TestNetwork ModelNetwork, ScriptedModelEndpoint Model, CapturingLogs Logs, string DataDir)> SetUpAsync()
    {
        var probe = fixture.CreateEngine();
        var git = await GitServer.StartAsync(probe.DockerClient(), probe.Options.Images["agent"]);
        var modelNetwork = await TestNetwork.CreateAsync(probe.DockerClient(), "model");
        var model = new ScriptedModelEndpoint(modelNetwork.Gateway, CommitScript);
        var logs = new CapturingLogs();
        var dataDir = Directory.CreateTempSubdirectory("sandbox-git-test-").FullName;
        var engine = fixture.CreateEngine(o =>
        {
            o.Pool.Size = 0;
            o.Durability.Store = Sandbox.Durability.StoreKind.Sqlite;
            o.Durability.DataDirectory = dataDir;
            o.Egress.Network = git.Network.Name;
            o.Egress.PermittedAddresses = [git.Address + "/32"];
            o.Git.Hosts = [GitServer.Host];
            o.Git.Credentials = new(StringComparer.Ordinal)
            {
                ["forge"] = new GitCredentialOptions { Host = GitServer.Host, Username = GitServer.User, Token = GitServer.Token },
            };
            o.Agents.ModelEndpoint = model.Url;
            o.Agents.EgressNetwork = modelNetwork.Name;
            o.Agents.ApiKey = ApiKey;
        }, logs: logs);
        await engine.Recovery.InitializeAsync(CancellationToken.None);
        return (engine, git, modelNetwork, model, logs, dataDir);
    }

    private static async Task<ExecutionResult> BashAsync(SandboxEngine engine, string sessionId, string code) =>
        await engine.Executions.ExecuteAsync(sessionId, Owners.Alice, new ExecutionRequest { Language = "bash", Code = code, Timeout = TimeSpan.FromSeconds(120) }, CancellationToken.None);

    [Fact]
    public async Task A_private_repository_is_cloned_an_agent_commits_on_its_branch_and_the_work_exports_and_pushes_without_the_credential_entering()
    {
        var (engine, git, modelNetwork, model, logs, dataDir) = await SetUpAsync();
        await using var _ = git;
        await using var __ = modelNetwork;
        await using var ___ = model;
        var main = await git.RevParseAsync("private", "main");
        Assert.Matches("^[0-9a-f]{40}$", main);

        var session = await engine.Sessions.CreateAsync(new SessionSpec
        {
            Image = "agent",
            Git = new GitRequest { Url = GitServer.Url("private"), Credentials = "forge" },
        }, Owners.Alice, CancellationToken.None);
        Assert.NotNull(session.Git);
        Assert.Equal(main, session.Git.BaseCommit);
        Assert.Equal("main", session.Git.Branch);
        var look = await BashAsync(engine, session.Id, "git log --oneline | wc -l; cat README.md; git remote get-url origin; git status --porcelain | wc -l");
        Assert.Equal(["2", "# private project", "More words.", GitServer.Url("private"), "0"], look.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        var run = await engine.Agents.RunAsync(session.Id, Owners.Alice, new AgentRunRequest { Prompt = "Add sub() to app.py and commit it.", Timeout = TimeSpan.FromMinutes(3) }, CancellationToken.None);
        Assert.True(run.Status == AgentRunStatus.Succeeded, $"{run.Status}: {run.Error}\n{run.Stderr}");
        Assert.NotNull(run.Git);
        Assert.Equal("sandbox/" + run.Id, run.Git.Branch);
        Assert.Equal(main, run.Git.BaseCommit);
        var commit = Assert.Single(run.Git.Commits);
        Assert.Equal("Add sub", commit.Subject);
        Assert.Equal("Sandbox Agent", commit.Author);
        Assert.Equal(commit.Id, run.Git.HeadCommit);
        Assert.Equal(["?? notes.txt"], run.Git.Uncommitted);
        Assert.Contains("+def sub(a, b):", run.Diff, StringComparison.Ordinal);
        Assert.Contains("+++ b/notes.txt", run.Diff, StringComparison.Ordinal);
        var branch = await BashAsync(engine, session.Id, "git rev-parse --abbrev-ref HEAD");
        Assert.Equal(run.Git.Branch, branch.Stdout.Trim());

        // A patch and a bundle, each applied to a fresh clone on the server's side.
        var patch = await engine.Git.ExportAsync(session.Id, Owners.Alice, "patch", null, CancellationToken.None);
        Assert.StartsWith(".git/sandbox-exports/", patch.Path, StringComparison.Ordinal);
        Assert.Equal(["?? notes.txt"], patch.Uncommitted);
        Assert.NotNull(patch.Content);
        Assert.Contains("Subject: [PATCH] Add sub", patch.Content, StringComparison.Ordinal);
        var applied = await git.ExecAsync("set -e; git clone -q /srv/git/private.git /tmp/p1 && cd /tmp/p1 && printf '%s' \"$P\" | base64 -d | git am -q && git log -1 --format=%s && grep -c 'def sub' app.py",
            "P=" + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(patch.Content)));
        Assert.True(applied.ExitCode == 0, applied.Stderr);
        Assert.Equal("Add sub\n1\n", applied.Stdout);
        var bundle = await engine.Git.ExportAsync(session.Id, Owners.Alice, "bundle", null, CancellationToken.None);
        Assert.NotNull(bundle.ContentBase64);
        Assert.Equal(run.Git.Branch, bundle.Branch);
        var fetched = await git.ExecAsync($"set -e; git clone -q /srv/git/private.git /tmp/b1 && cd /tmp/b1 && printf '%s' \"$B\" | base64 -d > /tmp/x.bundle && git bundle verify -q /tmp/x.bundle && git fetch -q /tmp/x.bundle {bundle.Branch}:imported && git rev-parse imported",
            "B=" + bundle.ContentBase64);
        Assert.True(fetched.ExitCode == 0, fetched.Stderr);
        Assert.Equal(commit.Id, fetched.Stdout.Trim());
        var sums = await BashAsync(engine, session.Id, $"sha256sum {bundle.Path} | cut -d' ' -f1; git status --porcelain");
        Assert.Equal(bundle.Sha256 + "\n?? notes.txt\n", sums.Stdout);

        // Pushes: to a new branch (with the uncommitted note committed first); a protected branch is refused.
        var pushed = await engine.Git.PushAsync(session.Id, Owners.Alice, "agent/feature", false, "Keep the notes", CancellationToken.None);
        Assert.True(pushed.Commits.Count == 2, JsonSerializer.Serialize(pushed));
        Assert.Empty(pushed.Uncommitted);
        Assert.Equal(pushed.Commit, await git.RevParseAsync("private", "agent/feature"));
        var refused = await Assert.ThrowsAsync<SandboxException>(() => engine.Git.PushAsync(session.Id, Owners.Alice, "main", true, null, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.Forbidden, refused.Code);
        Assert.Equal(main, await git.RevParseAsync("private", "main"));

        // The credential never entered the session (environment, files it can write, its git configuration), the
        // store or the logs; and the helpers and their networks are gone.
        var scan = await BashAsync(engine, session.Id, "k=ghp-test-token; k=\"$k-8d2f6a41c9e7\"; cat /proc/*/environ /proc/*/cmdline 2>/dev/null | tr '\\0' '\\n' | grep -cF -f <(printf '%s\\n' \"$k\"); " +
            "grep -rlsF -f <(printf '%s\\n' \"$k\") /workspace /tmp /dev/shm 2>/dev/null; git config --list | grep -ci -e extraheader -e credential; echo scanned");
        Assert.Equal("0\n0\nscanned\n", scan.Stdout);
        var history = JsonSerializer.Serialize(await engine.Sessions.GetHistoryAsync(session.Id, Owners.Alice, 1000, CancellationToken.None));
        Assert.Contains("git_push", history, StringComparison.Ordinal);
        await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
        foreach (var file in Directory.EnumerateFiles(dataDir, "*", SearchOption.AllDirectories))
        {
            Assert.DoesNotContain(GitServer.Token, await File.ReadAllTextAsync(file), StringComparison.Ordinal);
        }
        Assert.Contains("cloned", logs.All, StringComparison.Ordinal);
        Assert.DoesNotContain(GitServer.Token, logs.All, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{GitServer.User}:{GitServer.Token}")), logs.All, StringComparison.Ordinal);
        var containers = await engine.DockerClient().Containers.ListContainersAsync(new() { All = true });
        Assert.DoesNotContain(containers, c => c.Labels.TryGetValue("dev.sandbox.role", out var role) && role is "git-helper");
        var networks = await engine.DockerClient().Networks.ListNetworksAsync(new());
        Assert.DoesNotContain(networks, n => n.Name.StartsWith("sandbox-egress-git-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Clone_errors_are_clear_and_leave_nothing_behind()
    {
        var (engine, git, modelNetwork, model, _, _) = await SetUpAsync();
        await using var _1 = git;
        await using var _2 = modelNetwork;
        await using var _3 = model;
        async Task<SandboxException> Fails(GitRequest request) =>
            await Assert.ThrowsAsync<SandboxException>(() => engine.Sessions.CreateAsync(new SessionSpec { Image = "agent", Git = request }, Owners.Alice, CancellationToken.None));

        Assert.Equal(SandboxErrorCodes.GitAuthFailed, (await Fails(new GitRequest { Url = GitServer.Url("private") })).Code);
        Assert.Equal(SandboxErrorCodes.GitRefNotFound, (await Fails(new GitRequest { Url = GitServer.Url("public"), Ref = "no-such-branch" })).Code);
        Assert.Equal(SandboxErrorCodes.Forbidden, (await Fails(new GitRequest { Url = "http://other.decoy.test/public.git" })).Code);
        Assert.Equal(SandboxErrorCodes.Forbidden, (await Fails(new GitRequest { Url = GitServer.Url("public"), Credentials = "nope" })).Code);
        Assert.Equal(SandboxErrorCodes.InvalidArgument, (await Fails(new GitRequest { Url = $"http://{GitServer.User}:x@{GitServer.Host}/private.git" })).Code);
        Assert.Equal(SandboxErrorCodes.InvalidArgument, (await Fails(new GitRequest { Url = GitServer.Url("public"), Ref = "--upload-pack=touch" })).Code);
        Assert.Empty(engine.Sessions.ListAll());

        // A public repository needs no credential; a tag, a branch and a shallow clone each check out what they name.
        var tagged = await engine.Sessions.CreateAsync(new SessionSpec { Image = "agent", Git = new GitRequest { Url = GitServer.Url("public"), Ref = "v1" } }, Owners.Alice, CancellationToken.None);
        var dev = await engine.Sessions.CreateAsync(new SessionSpec { Image = "agent", Git = new GitRequest { Url = GitServer.Url("public"), Ref = "dev", Shallow = true } }, Owners.Alice, CancellationToken.None);
        Assert.Null(tagged.Git!.Branch);
        Assert.Equal("dev", dev.Git!.Branch);
        Assert.True(dev.Git.Shallow);
        Assert.Equal("1\n", (await BashAsync(engine, tagged.Id, "git log --oneline | wc -l")).Stdout);
        Assert.Equal("1\ndev work\n", (await BashAsync(engine, dev.Id, "git log --oneline | wc -l; cat dev.txt")).Stdout);
        // A fork of a git session is one too (its repository came along with the files).
        var fork = Assert.Single(await engine.Sessions.ForkAsync(dev.Id, Owners.Alice, 1, CancellationToken.None));
        Assert.Equal(dev.Git, fork.Git);
        Assert.Equal("dev\n", (await BashAsync(engine, fork.Id, "git rev-parse --abbrev-ref HEAD")).Stdout);
        await engine.Sessions.CloseAsync(fork.Id, Owners.Alice, CancellationToken.None);
        var notGit = await engine.Sessions.CreateAsync(new SessionSpec { Image = "agent" }, Owners.Alice, CancellationToken.None);
        Assert.Equal(SandboxErrorCodes.NotAGitSession,
            (await Assert.ThrowsAsync<SandboxException>(() => engine.Git.ExportAsync(notGit.Id, Owners.Alice, "patch", null, CancellationToken.None))).Code);
        foreach (var s in new[] { tagged, dev, notGit })
        {
            await engine.Sessions.CloseAsync(s.Id, Owners.Alice, CancellationToken.None);
        }
    }
}
