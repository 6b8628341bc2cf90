using Sandbox.Execution;
using Sandbox.Sessions;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Snapshots;

/// <summary>Snapshots and forks against the real engine: every file comes back, however many times.</summary>
[Collection(EngineCollection.Name)]
public sealed class SnapshotTests(EngineFixture fixture)
{
    private const string MakeFiles = "import os, hashlib\nos.makedirs('deep/er/still', exist_ok=True)\n" +
        "open('a.txt', 'w').write('alpha')\nopen('deep/er/still/b.bin', 'wb').write(bytes(range(256)) * 4000)\n" +
        "os.symlink('a.txt', 'link-to-a')\nos.makedirs('empty-dir', exist_ok=True)\nopen('.hidden', 'w').write('h')";

    private const string Fingerprint = "import os, hashlib\nout = []\nfor root, dirs, files in os.walk('.'):\n" +
        "    dirs.sort()\n    for d in dirs: out.append('D ' + os.path.join(root, d))\n" +
        "    for f in sorted(files):\n        p = os.path.join(root, f)\n" +
        "        out.append(('L ' + p + ' -> ' + os.readlink(p)) if os.path.islink(p) else ('F ' + p + ' ' + hashlib.sha256(open(p, 'rb').read()).hexdigest()))\n" +
        "print('\\n'.join(sorted(out)))";

    private static async Task<string> FingerprintAsync(SandboxEngine engine, string id) =>
        (await engine.Executions.ExecuteAsync(id, Owners.Alice, new ExecutionRequest { Code = Fingerprint }, CancellationToken.None)).Stdout;

    [Fact]
    public async Task A_session_diffs_against_a_named_snapshot_and_without_an_agent_run_has_no_baseline()
    {
        var engine = fixture.CreateEngine(o => o.Pool.Size = 0);
        var session = await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        try
        {
            await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest
            {
                Code = "import os\nos.makedirs('src', exist_ok=True)\nopen('src/app.py', 'w').write('x = 1\\ny = 2\\n')\nopen('old.txt', 'w').write('bye\\n')\n" +
                    "open('blob.bin', 'wb').write(bytes(range(256)))\nos.makedirs('.git', exist_ok=True)\nopen('.git/HEAD', 'w').write('ref')",
            }, CancellationToken.None);
            var none = await Assert.ThrowsAsync<SandboxException>(() => engine.Changes.GetAsync(session.Id, Owners.Alice, null, true, CancellationToken.None));
            Assert.Equal(SandboxErrorCodes.RunNotFound, none.Code);
            var snapshot = await engine.Snapshots.CreateAsync(session.Id, Owners.Alice, "before", CancellationToken.None);
            await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest
            {
                Code = "import os\nopen('src/app.py', 'w').write('x = 1\\ny = 3\\n')\nos.remove('old.txt')\nopen('new.md', 'w').write('hi\\n')\n" +
                    "open('blob.bin', 'wb').write(bytes(range(255, -1, -1)))\nopen('.git/HEAD', 'w').write('changed')",
            }, CancellationToken.None);
            var diff = await engine.Changes.GetAsync(session.Id, Owners.Alice, null, true, CancellationToken.None, against: snapshot.SnapshotId);
            Assert.Equal([("blob.bin", "modified", true), ("new.md", "added", false), ("old.txt", "deleted", false), ("src/app.py", "modified", false)],
                diff.Changes.Select(c => (c.Path, c.Change, c.Binary)));
            Assert.Contains("-y = 2\n+y = 3", diff.Diff, StringComparison.Ordinal);
            Assert.Contains("Binary files a/blob.bin and b/blob.bin differ", diff.Diff, StringComparison.Ordinal);
            Assert.Equal("4 files changed (1 added, 2 modified, 1 deleted), +2 -2 lines", diff.Summary.Text);
            var one = await engine.Changes.GetAsync(session.Id, Owners.Alice, "src", true, CancellationToken.None, against: snapshot.SnapshotId);
            Assert.Equal(["src/app.py"], one.Changes.Select(c => c.Path));
            // The manifest was for this diff only.
            var left = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest { Language = "bash", Code = "ls -A .sandbox/baselines | wc -l" }, CancellationToken.None);
            Assert.Equal("0\n", left.Stdout);
            var unknown = await Assert.ThrowsAsync<SandboxException>(() => engine.Changes.GetAsync(session.Id, Owners.Alice, null, true, CancellationToken.None, against: "snap_nope"));
            Assert.Equal(SandboxErrorCodes.SnapshotNotFound, unknown.Code);
            engine.Snapshots.Delete(Owners.Alice, snapshot.SnapshotId);
        }
        finally
        {
            await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
        }
    }

    [Fact]
    public async Task A_snapshot_restored_twice_and_a_fork_of_a_fork_keep_every_file()
    {
        var engine = fixture.CreateEngine();
        var original = await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var made = await engine.Executions.ExecuteAsync(original.Id, Owners.Alice, new ExecutionRequest { Code = MakeFiles }, CancellationToken.None);
        Assert.Null(made.Error);
        var expected = await FingerprintAsync(engine, original.Id);
        Assert.Contains("F ./deep/er/still/b.bin", expected, StringComparison.Ordinal);
        Assert.Contains("L ./link-to-a -> a.txt", expected, StringComparison.Ordinal);
        Assert.Contains("D ./empty-dir", expected, StringComparison.Ordinal);

        var snapshot = await engine.Snapshots.CreateAsync(original.Id, Owners.Alice, "seed", CancellationToken.None);
        Assert.Contains(engine.Snapshots.List(Owners.Alice), s => s.SnapshotId == snapshot.SnapshotId && s.Name == "seed");
        Assert.Empty(engine.Snapshots.List(Owners.Bob));
        var ids = new List<string> { original.Id };
        for (var i = 0; i < 2; i++)
        {
            var restored = await engine.Sessions.CreateAsync(new SessionSpec { FromSnapshot = snapshot.SnapshotId }, Owners.Alice, CancellationToken.None);
            ids.Add(restored.Id);
            Assert.Equal(expected, await FingerprintAsync(engine, restored.Id));
            // Files are the user's: code can change them.
            var write = await engine.Executions.ExecuteAsync(restored.Id, Owners.Alice, new ExecutionRequest { Code = "open('a.txt', 'a').write('!')\nprint(open('a.txt').read())" }, CancellationToken.None);
            Assert.Equal("alpha!\n", write.Stdout);
        }
        var forks = await engine.Sessions.ForkAsync(original.Id, Owners.Alice, 2, CancellationToken.None);
        Assert.Equal(2, forks.Count);
        ids.AddRange(forks.Select(f => f.Id));
        foreach (var fork in forks)
        {
            Assert.Equal(expected, await FingerprintAsync(engine, fork.Id));
        }
        var grandchildren = await engine.Sessions.ForkAsync(forks[0].Id, Owners.Alice, 1, CancellationToken.None);
        ids.AddRange(grandchildren.Select(f => f.Id));
        Assert.Equal(expected, await FingerprintAsync(engine, grandchildren[0].Id));
        var missing = await Assert.ThrowsAsync<SandboxException>(() => engine.Sessions.CreateAsync(new SessionSpec { FromSnapshot = snapshot.SnapshotId }, Owners.Bob, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.SnapshotNotFound, missing.Code);
        foreach (var id in ids)
        {
            await engine.Sessions.CloseAsync(id, Owners.Alice, CancellationToken.None);
        }
        engine.Snapshots.Delete(Owners.Alice, snapshot.SnapshotId);
        Assert.DoesNotContain(engine.Snapshots.List(Owners.Alice), s => s.SnapshotId == snapshot.SnapshotId);
    }
}
