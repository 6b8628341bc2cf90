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
