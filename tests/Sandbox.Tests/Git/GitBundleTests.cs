using System.Diagnostics;
using Sandbox.Execution;
using Sandbox.Sessions;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Git;

/// <summary>A repository the server never reaches: it comes in as a bundle made on this machine, is worked on, reviewed
/// and committed in a named session, and the work goes back as a bundle this machine fetches.</summary>
[Collection(EngineCollection.Name)]
public sealed class GitBundleTests(EngineFixture fixture)
{
    [Fact]
    public async Task A_bundle_becomes_the_workspace_repository_and_the_work_is_reviewed_committed_and_fetched_back()
    {
        using var local = LocalRepository.Create();
        var engine = fixture.CreateEngine(o => o.Pool.Size = 0);
        var session = await engine.Sessions.CreateAsync(new SessionSpec { Image = "agent", Name = "fix-login" }, Owners.Alice, CancellationToken.None);
        try
        {
            Assert.Equal("fix-login", session.Name);
            // Names are unique among an owner's open sessions, another owner's are their own, and a name is checked.
            var taken = await Assert.ThrowsAsync<SandboxException>(() => engine.Sessions.CreateAsync(new SessionSpec { Image = "agent", Name = "fix-login" }, Owners.Alice, CancellationToken.None));
            Assert.Equal(SandboxErrorCodes.NameTaken, taken.Code);
            var bad = await Assert.ThrowsAsync<SandboxException>(() => engine.Sessions.CreateAsync(new SessionSpec { Name = "Fix Login" }, Owners.Alice, CancellationToken.None));
            Assert.Equal(SandboxErrorCodes.InvalidArgument, bad.Code);

            // Something that is not a bundle is refused and leaves no repository behind.
            await engine.Files.UploadAsync(session.Id, Owners.Alice, "junk.bundle", new MemoryStream("not a bundle"u8.ToArray()), CancellationToken.None);
            var junk = await Assert.ThrowsAsync<SandboxException>(() => engine.GitWork.ImportBundleAsync(session.Id, Owners.Alice, "junk.bundle", null, "fix-login", null, CancellationToken.None));
            Assert.Equal(SandboxErrorCodes.InvalidArgument, junk.Code);
            Assert.Equal("none\n", (await BashAsync(engine, session.Id, "test -e .git && echo git || echo none; rm junk.bundle")).Stdout);
            var escape = await Assert.ThrowsAsync<SandboxException>(() => engine.GitWork.ImportBundleAsync(session.Id, Owners.Alice, "../etc/passwd", null, null, null, CancellationToken.None));
            Assert.Equal(SandboxErrorCodes.InvalidPath, escape.Code);

            await using (var bundle = File.OpenRead(local.Bundle("main")))
            {
                await engine.Files.UploadAsync(session.Id, Owners.Alice, "repo.bundle", bundle, CancellationToken.None);
            }
            var imported = await engine.GitWork.ImportBundleAsync(session.Id, Owners.Alice, "repo.bundle", null, "fix-login", "git@example.invalid:team/app.git", CancellationToken.None);
            Assert.True(imported.Git!.Imported);
            Assert.Equal(local.Head, imported.Git.BaseCommit);
            Assert.Equal("fix-login", imported.Git.Branch);
            Assert.Equal("fix-login\napp.py\n", (await BashAsync(engine, session.Id, "git symbolic-ref --short HEAD && ls")).Stdout);

            await BashAsync(engine, session.Id, "printf 'def sub(a, b):\\n    return a - b\\n' >> app.py && echo notes > notes.txt");
            var review = await engine.GitWork.ReviewAsync(session.Id, Owners.Alice, 100_000, CancellationToken.None);
            Assert.Empty(review.Commits);
            Assert.Contains(review.Uncommitted, l => l.EndsWith("app.py", StringComparison.Ordinal));
            Assert.Contains(review.Uncommitted, l => l.EndsWith("notes.txt", StringComparison.Ordinal));
            Assert.Contains("app.py", review.DiffStat, StringComparison.Ordinal);
            Assert.Contains("+    return a - b", review.Diff, StringComparison.Ordinal);
            Assert.Contains("+notes", review.Diff, StringComparison.Ordinal);

            var committed = await engine.GitWork.CommitAsync(session.Id, Owners.Alice, "Add sub", CancellationToken.None);
            Assert.Equal("Add sub", Assert.Single(committed.Commits).Subject);
            Assert.Empty(committed.Uncommitted);
            var again = await engine.GitWork.CommitAsync(session.Id, Owners.Alice, "Nothing", CancellationToken.None);
            Assert.Equal(committed.HeadCommit, again.HeadCommit);

            // A newer base comes as a bundle too: one that conflicts changes nothing, one that does not moves the work onto it.
            var oldBase = local.Head;
            File.WriteAllText(Path.Combine(local.Directory, "app.py"), "def add(a, b):\n    return b + a\n\ndef sub(a, b):\n    return b - a\n");
            local.Git("-c", "user.name=Dev", "-c", "user.email=dev@example.invalid", "commit", "--quiet", "-am", "Conflicting change");
            await UploadBundleAsync(engine, session.Id, local, "main", oldBase);
            var conflict = await Assert.ThrowsAsync<SandboxException>(() => engine.GitWork.UpdateBaseAsync(session.Id, Owners.Alice, "base.bundle", "main", CancellationToken.None));
            Assert.Equal(SandboxErrorCodes.GitConflict, conflict.Code);
            Assert.Contains("app.py", conflict.Message, StringComparison.Ordinal);
            Assert.Equal(committed.HeadCommit + "\n", (await BashAsync(engine, session.Id, "git rev-parse HEAD; git status --porcelain; ls base.bundle 2>/dev/null || true")).Stdout);
            local.Git("reset", "--quiet", "--hard", oldBase);
            File.WriteAllText(Path.Combine(local.Directory, "README.md"), "app\n");
            local.Git("add", "README.md");
            local.Git("-c", "user.name=Dev", "-c", "user.email=dev@example.invalid", "commit", "--quiet", "-m", "Add README");
            await UploadBundleAsync(engine, session.Id, local, "main", oldBase);
            var updated = await engine.GitWork.UpdateBaseAsync(session.Id, Owners.Alice, "base.bundle", "main", CancellationToken.None);
            Assert.Equal(local.Head, updated.Git!.BaseCommit);
            var rebased = await engine.GitWork.ReviewAsync(session.Id, Owners.Alice, 0, CancellationToken.None);
            Assert.Equal("Add sub", Assert.Single(rebased.Commits).Subject);
            Assert.Equal("fix-login\nREADME.md\napp.py\nnotes.txt\n", (await BashAsync(engine, session.Id, "git symbolic-ref --short HEAD && ls")).Stdout);
            committed = await engine.GitWork.CommitAsync(session.Id, Owners.Alice, "Nothing", CancellationToken.None);

            // The server has no remote for it: the work leaves as a bundle that this machine fetches.
            var push = await Assert.ThrowsAsync<SandboxException>(() => engine.Git.PushAsync(session.Id, Owners.Alice, "fix-login", false, null, CancellationToken.None));
            Assert.Equal(SandboxErrorCodes.InvalidArgument, push.Code);
            var export = await engine.Git.ExportAsync(session.Id, Owners.Alice, "bundle", null, CancellationToken.None);
            var file = await engine.Files.DownloadAsync(session.Id, Owners.Alice, export.Path, CancellationToken.None);
            var back = Path.Combine(Path.GetTempPath(), $"back-{Guid.NewGuid():N}.bundle");
            await File.WriteAllBytesAsync(back, file.Content);
            local.Git("fetch", "--quiet", back, "fix-login:refs/heads/fix-login");
            File.Delete(back);
            Assert.Equal(committed.HeadCommit, local.Git("rev-parse", "fix-login").Trim());
            Assert.Equal("Add sub", local.Git("log", "-1", "--format=%s", "fix-login").Trim());
        }
        finally
        {
            await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
        }
        // Closed, its name is free again.
        var next = await engine.Sessions.CreateAsync(new SessionSpec { Name = "fix-login" }, Owners.Alice, CancellationToken.None);
        await engine.Sessions.CloseAsync(next.Id, Owners.Alice, CancellationToken.None);
    }

    private static async Task UploadBundleAsync(SandboxEngine engine, string sessionId, LocalRepository local, string branch, string exclude)
    {
        var path = Path.Combine(local.Directory, "base.bundle");
        local.Git("bundle", "create", "--quiet", path, branch, "^" + exclude);
        await using var bundle = File.OpenRead(path);
        await engine.Files.UploadAsync(sessionId, Owners.Alice, "base.bundle", bundle, CancellationToken.None);
    }

    private static async Task<ExecutionResult> BashAsync(SandboxEngine engine, string sessionId, string code)
    {
        var result = await engine.Executions.ExecuteAsync(sessionId, Owners.Alice, new ExecutionRequest { Language = "bash", Code = code, Timeout = TimeSpan.FromSeconds(60) }, CancellationToken.None);
        Assert.True(result.ExitCode == 0, result.Stderr);
        return result;
    }

    /// <summary>A git repository in a temporary directory of this machine, with one commit on main.</summary>
    private sealed class LocalRepository : IDisposable
    {
        private LocalRepository(string directory) => Directory = directory;

        public string Directory { get; }

        public string Head => Git("rev-parse", "HEAD").Trim();

        public static LocalRepository Create()
        {
            var repo = new LocalRepository(System.IO.Directory.CreateTempSubdirectory("sandbox-bundle-").FullName);
            repo.Git("init", "--quiet", "-b", "main");
            File.WriteAllText(Path.Combine(repo.Directory, "app.py"), "def add(a, b):\n    return a + b\n");
            repo.Git("add", "app.py");
            repo.Git("-c", "user.name=Dev", "-c", "user.email=dev@example.invalid", "commit", "--quiet", "-m", "Add add");
            return repo;
        }

        public string Bundle(string branch)
        {
            var path = Path.Combine(Directory, "out.bundle");
            Git("bundle", "create", "--quiet", path, branch);
            return path;
        }

        public string Git(params string[] args)
        {
            var start = new ProcessStartInfo("git") { WorkingDirectory = Directory, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in args)
            {
                start.ArgumentList.Add(a);
            }
            using var p = Process.Start(start)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            Assert.True(p.WaitForExit(60_000), "git did not finish");
            Assert.True(p.ExitCode == 0, $"git {string.Join(' ', args)}: {stderr.Result}");
            return stdout.Result;
        }

        public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
    }
}
