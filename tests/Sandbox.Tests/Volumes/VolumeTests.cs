using System.Formats.Tar;
using Sandbox.Execution;
using Sandbox.Sessions;
using Sandbox.Tests.Common;
using Sandbox.Volumes;

namespace Sandbox.Tests.Volumes;

/// <summary>Named volumes against the real engine: data kept between sessions, shared read-only, one writer, the size
/// bound inside and outside, a restart, and another caller.</summary>
[Collection(EngineCollection.Name)]
public sealed class VolumeTests(EngineFixture fixture)
{
    private static VolumeService Volumes(SandboxEngine engine) => engine.Volumes;

    private static async Task<string> Run(SandboxEngine engine, string session, string code, string language = "python") =>
        (await engine.Executions.ExecuteAsync(session, Owners.Alice, new ExecutionRequest { Code = code, Language = language }, CancellationToken.None)) is var r && r.Error is null
            ? r.Stdout : r.Error.Type + ": " + r.Error.Message;

    [Fact]
    public async Task A_volume_keeps_data_between_sessions_is_shared_read_only_has_one_writer_and_holds_its_size()
    {
        var data = Directory.CreateTempSubdirectory("sandbox-volumes-").FullName;
        var engine = fixture.CreateEngine(o => o.Volumes.Directory = data);
        var name = "ds-" + Guid.NewGuid().ToString("N")[..8];
        var volumes = Volumes(engine);
        await volumes.CreateAsync(Owners.Alice, name, 8, CancellationToken.None);
        var open = new List<string>();
        async Task<string> Session(bool readOnly, string path = "/data/ds")
        {
            var s = await engine.Sessions.CreateAsync(new SessionSpec { Volumes = [new VolumeMountRequest { Name = name, Path = path, ReadOnly = readOnly }] }, Owners.Alice, CancellationToken.None);
            open.Add(s.Id);
            return s.Id;
        }
        try
        {
            // Another caller sees nothing of it.
            Assert.Empty(volumes.List(Owners.Bob));
            Assert.Equal(SandboxErrorCodes.VolumeNotFound, Assert.Throws<SandboxException>(() => volumes.Get(Owners.Bob, name)).Code);
            var bobs = await Assert.ThrowsAsync<SandboxException>(() => engine.Sessions.CreateAsync(
                new SessionSpec { Volumes = [new VolumeMountRequest { Name = name, Path = "/data/x" }] }, Owners.Bob, CancellationToken.None));
            Assert.Equal(SandboxErrorCodes.VolumeNotFound, bobs.Code);
            Assert.Equal(SandboxErrorCodes.VolumeNotFound, (await Assert.ThrowsAsync<SandboxException>(() => volumes.DownloadAsync(Owners.Bob, name, "a", 1 << 20, CancellationToken.None))).Code);
            foreach (var bad in new[] { "/workspace/x", "/etc", "/data", "data/x", "/data/../etc", "/tmp/x" })
            {
                var e = await Assert.ThrowsAsync<SandboxException>(() => engine.Sessions.CreateAsync(
                    new SessionSpec { Volumes = [new VolumeMountRequest { Name = name, Path = bad }] }, Owners.Alice, CancellationToken.None));
                Assert.Equal(SandboxErrorCodes.InvalidPath, e.Code);
            }

            // The writer fills it; a second writer is refused; the volume is full at its size (ENOSPC inside).
            var writer = await Session(readOnly: false);
            Assert.Equal("ok\n", await Run(engine, writer, "import os\nos.makedirs('/data/ds/sub', exist_ok=True)\nopen('/data/ds/sub/a.txt', 'w').write('from the first session')\nprint('ok')"));
            Assert.Equal(SandboxErrorCodes.VolumeBusy, (await Assert.ThrowsAsync<SandboxException>(() => Session(readOnly: false, "/data/other"))).Code);
            Assert.Contains("No space left on device", await Run(engine, writer, "open('/data/ds/big', 'wb').write(b'x' * (16 << 20))"));
            Assert.Equal("removed\n", await Run(engine, writer, "import os\nos.remove('/data/ds/big')\nprint('removed')"));
            // While it is written there, the files API does not change it.
            using (var refused = new MemoryStream("x"u8.ToArray()))
            {
                Assert.Equal(SandboxErrorCodes.VolumeBusy, (await Assert.ThrowsAsync<SandboxException>(() => volumes.UploadAsync(Owners.Alice, name, "b.txt", refused, CancellationToken.None))).Code);
            }
            await engine.Sessions.CloseAsync(writer, Owners.Alice, CancellationToken.None);

            // Saved back on close: the files API reads it and adds a file; over the size is a clear refusal.
            Assert.Equal("from the first session"u8.ToArray(), await volumes.DownloadAsync(Owners.Alice, name, "sub/a.txt", 1 << 20, CancellationToken.None));
            using (var added = new MemoryStream("added without a session"u8.ToArray()))
            {
                await volumes.UploadAsync(Owners.Alice, name, "b.txt", added, CancellationToken.None);
            }
            using (var tooBig = new MemoryStream(new byte[9 << 20]))
            {
                Assert.Equal(SandboxErrorCodes.LimitExceeded, (await Assert.ThrowsAsync<SandboxException>(() => volumes.UploadAsync(Owners.Alice, name, "c.bin", tooBig, CancellationToken.None))).Code);
            }
            Assert.Equal(["b.txt", "sub", "sub/a.txt"], (await volumes.ListFilesAsync(Owners.Alice, name, CancellationToken.None)).Select(e => e.Path).Order());

            // Two readers at once, in both tiers' default; they read and cannot write.
            var r1 = await Session(readOnly: true);
            var r2 = await Session(readOnly: true, "/mnt/ds");
            Assert.Equal("from the first session added without a session\n", await Run(engine, r1, "print(open('/data/ds/sub/a.txt').read(), open('/data/ds/b.txt').read())"));
            Assert.Equal("from the first session\n", await Run(engine, r2, "cat /mnt/ds/sub/a.txt; echo", "bash"));
            Assert.Contains("Permission denied", await Run(engine, r2, "touch /mnt/ds/new 2>&1; rm -f /mnt/ds/b.txt 2>&1; true", "bash"));
            Assert.Equal(2, volumes.Get(Owners.Alice, name).Mounts.Count);

            // Delete is refused while mounted, unless forced.
            Assert.Equal(SandboxErrorCodes.VolumeBusy, (await Assert.ThrowsAsync<SandboxException>(() => volumes.DeleteAsync(Owners.Alice, name, false, CancellationToken.None))).Code);

            // A restart (a new engine over the same data) keeps it.
            var restarted = fixture.CreateEngine(o => o.Volumes.Directory = data);
            Assert.Equal(["b.txt", "sub", "sub/a.txt"], (await Volumes(restarted).ListFilesAsync(Owners.Alice, name, CancellationToken.None)).Select(e => e.Path).Order());
            await using (var archive = Volumes(restarted).OpenArchive(Owners.Alice, name))
            {
                using var reader = new TarReader(archive);
                Assert.NotNull(await reader.GetNextEntryAsync());
            }
            await volumes.DeleteAsync(Owners.Alice, name, true, CancellationToken.None);
            Assert.DoesNotContain(volumes.List(Owners.Alice), v => v.Name == name);
        }
        finally
        {
            foreach (var id in open)
            {
                try
                {
                    await engine.Sessions.CloseAsync(id, Owners.Alice, CancellationToken.None);
                }
                catch (SandboxException e) when (e.Code == SandboxErrorCodes.SessionNotFound)
                {
                    // closed by the test
                }
            }
            Directory.Delete(data, recursive: true);
        }
    }
}
