using System.Formats.Tar;
using System.IO.Compression;
using Sandbox.Execution;
using Sandbox.Files;
using Sandbox.Sessions;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Files;

/// <summary>Directories in and out: an archive unpacked as the sandbox user, every hostile archive refused with
/// nothing written; a directory out as zip and tar.gz without the session's own folder.</summary>
[Collection(EngineCollection.Name)]
public sealed class ArchiveTests(EngineFixture fixture)
{
    [Fact]
    public async Task A_project_goes_in_as_a_zip_and_comes_out_as_zip_and_tar_gz()
    {
        var engine = fixture.CreateEngine(o => o.Pool.Size = 0);
        var session = await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        try
        {
            var zip = Zip(("app/main.py", "print('hi')\n"), ("app/lib/util.py", "X = 1\n"), ("README.md", "# p\n"));
            var done = await engine.Archives.UploadAsync(session.Id, Owners.Alice, "proj", new MemoryStream(zip), zip.Length, CancellationToken.None);
            Assert.Equal(("proj", 3), (done.Path, done.Files));
            // Unpacked as the sandbox user, in place; the archive itself is gone.
            Assert.Equal("1000 proj/app/lib/util.py\nX = 1\n", (await ShAsync(engine, session.Id,
                "stat -c '%u %n' proj/app/lib/util.py; cat proj/app/lib/util.py; ls .sandbox/uploads")).Stdout);

            // A tar.gz merges into the same folder; a symbolic link inside it and a hard link to an earlier file are kept.
            var tar = Tar(gzip: true, w =>
            {
                w.WriteEntry(File("app/main.py", "print('replaced')\n"));
                w.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "app/link.py") { LinkName = "lib/util.py" });
                w.WriteEntry(new PaxTarEntry(TarEntryType.HardLink, "copy.md") { LinkName = "app/main.py" });
            });
            await engine.Archives.UploadAsync(session.Id, Owners.Alice, "proj", new MemoryStream(tar), tar.Length, CancellationToken.None);
            Assert.Equal("print('replaced')\nX = 1\nprint('replaced')\n# p\n", (await ShAsync(engine, session.Id,
                "cat proj/app/main.py proj/app/link.py proj/copy.md proj/README.md")).Stdout);

            using var outZip = new MemoryStream();
            await engine.Archives.WriteAsync(session.Id, Owners.Alice, "proj", ArchiveFormat.Zip, outZip, CancellationToken.None);
            using (var read = new ZipArchive(new MemoryStream(outZip.ToArray())))
            {
                Assert.Equal("X = 1\n", new StreamReader(read.GetEntry("app/lib/util.py")!.Open()).ReadToEnd());
                Assert.Null(read.GetEntry("app/link.py"));
            }
            // All of the workspace as tar.gz: the session's own .sandbox folder is left out.
            await ShAsync(engine, session.Id, "mkdir -p .sandbox/home && echo secret-ish > .sandbox/home/conversation.jsonl");
            using var outTar = new MemoryStream();
            await engine.Archives.WriteAsync(session.Id, Owners.Alice, "", ArchiveFormat.TarGz, outTar, CancellationToken.None);
            var names = new List<string>();
            await using (var reader = new TarReader(new GZipStream(new MemoryStream(outTar.ToArray()), CompressionMode.Decompress)))
            {
                while (await reader.GetNextEntryAsync() is { } e)
                {
                    names.Add(e.Name);
                }
            }
            Assert.Contains("proj/app/main.py", names);
            Assert.Contains("proj/app/link.py", names);
            Assert.DoesNotContain(names, n => n.StartsWith(".sandbox", StringComparison.Ordinal));
            var notDir = await Assert.ThrowsAsync<SandboxException>(() => engine.Archives.WriteAsync(session.Id, Owners.Alice, "proj/README.md", ArchiveFormat.Zip, Stream.Null, CancellationToken.None));
            Assert.Equal(SandboxErrorCodes.InvalidPath, notDir.Code);
        }
        finally
        {
            await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
        }
    }

    [Fact]
    public async Task Hostile_archives_write_nothing_and_say_why()
    {
        var engine = fixture.CreateEngine(o => o.Pool.Size = 0);
        var session = await engine.Sessions.CreateAsync(new SessionSpec { Limits = new LimitsRequest { WorkspaceMb = 64 } }, Owners.Alice, CancellationToken.None);
        try
        {
            // Each has a harmless entry first: it must not be there afterwards.
            var cases = new (string Name, byte[] Archive, string Code)[]
            {
                ("zip slip", Zip(("ok.txt", "ok"), ("../escaped.txt", "x")), SandboxErrorCodes.UnsafeArchive),
                ("absolute name", Tar(false, w => { w.WriteEntry(File("ok.txt", "ok")); w.WriteEntry(File("/tmp/abs.txt", "x")); }), SandboxErrorCodes.UnsafeArchive),
                ("symbolic link out", Tar(false, w => { w.WriteEntry(File("ok.txt", "ok")); w.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "out") { LinkName = "../../etc" }); }), SandboxErrorCodes.UnsafeArchive),
                ("absolute symbolic link", Tar(false, w => { w.WriteEntry(File("ok.txt", "ok")); w.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "passwd") { LinkName = "/etc/passwd" }); }), SandboxErrorCodes.UnsafeArchive),
                ("write through a link", Tar(false, w =>
                {
                    w.WriteEntry(File("ok.txt", "ok"));
                    w.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "d") { LinkName = "." });
                    w.WriteEntry(File("d/x.txt", "x"));
                }), SandboxErrorCodes.UnsafeArchive),
                ("hard link out", Tar(false, w => { w.WriteEntry(File("ok.txt", "ok")); w.WriteEntry(new PaxTarEntry(TarEntryType.HardLink, "pw") { LinkName = "/etc/passwd" }); }), SandboxErrorCodes.UnsafeArchive),
                ("device", Tar(false, w => { w.WriteEntry(File("ok.txt", "ok")); w.WriteEntry(new PaxTarEntry(TarEntryType.CharacterDevice, "null") { DeviceMajor = 1, DeviceMinor = 3 }); }), SandboxErrorCodes.UnsafeArchive),
                ("20,000 files", Tar(true, w => { for (var i = 0; i < 20_000; i++) { w.WriteEntry(File($"f/{i}", "")); } }), SandboxErrorCodes.LimitExceeded),
                ("4 GiB declared", FourGibDeclared(), SandboxErrorCodes.LimitExceeded),
                ("256 MiB of zeros into 64 MiB", ZerosZip(256 << 20), SandboxErrorCodes.LimitExceeded),
                ("not an archive", "just text, not an archive"u8.ToArray(), SandboxErrorCodes.InvalidArchive),
            };
            foreach (var (name, archive, code) in cases)
            {
                var e = await Assert.ThrowsAsync<SandboxException>(() => engine.Archives.UploadAsync(session.Id, Owners.Alice, "target", new MemoryStream(archive), archive.Length, CancellationToken.None));
                Assert.True(e.Code == code, $"{name}: {e.Code} {e.Message}");
                Assert.Equal("", (await ShAsync(engine, session.Id, "find target .sandbox/staging .sandbox/uploads -mindepth 1 2>/dev/null; ls /tmp/abs.txt ../escaped.txt x.txt 2>/dev/null; true")).Stdout);
            }
            var intoGit = await Assert.ThrowsAsync<SandboxException>(() => engine.Archives.UploadAsync(session.Id, Owners.Alice, ".git/hooks", new MemoryStream(Zip(("a", "b"))), 100, CancellationToken.None));
            Assert.Equal(SandboxErrorCodes.InvalidPath, intoGit.Code);
        }
        finally
        {
            await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
        }
    }

    [Fact]
    public async Task A_callers_context_archive_is_readable_at_its_name_and_not_writable_and_goes_with_the_session()
    {
        var engine = fixture.CreateEngine(o => o.Pool.Size = 0);
        var docs = Zip(("guide.md", "# Style\nShort sentences.\n"), ("api/ref.txt", "GET /things\n"));
        var session = await engine.Sessions.CreateAsync(new SessionSpec
        {
            ContextArchives = new Dictionary<string, ReadOnlyMemory<byte>> { ["docs"] = docs },
        }, Owners.Alice, CancellationToken.None);
        var volume = Sandbox.Docker.DockerBackend.ContainerName(session.Id) + "-context";
        try
        {
            var seen = await ShAsync(engine, session.Id, "cat /context/docs/guide.md /context/docs/api/ref.txt; stat -c '%u %a' /context/docs /context/docs/guide.md; " +
                "touch /context/docs/new 2>&1 | grep -c 'Permission denied'; rm -f /context/docs/guide.md 2>&1 | grep -c 'Permission denied'; " +
                "chmod 777 /context/docs 2>&1 | grep -c 'not permitted'; mv /context/docs /context/mine 2>&1 | grep -c 'Permission denied'; ls -A .sandbox/uploads | wc -l");
            Assert.Equal("# Style\nShort sentences.\nGET /things\n0 755\n0 644\n1\n1\n1\n1\n0\n", seen.Stdout);
            await engine.DockerClient().Volumes.InspectAsync(volume);
        }
        finally
        {
            await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
        }
        await Assert.ThrowsAnyAsync<global::Docker.DotNet.DockerApiException>(() => engine.DockerClient().Volumes.InspectAsync(volume));

        // A hostile context archive fails the create, and nothing of it is left.
        var before = engine.Sessions.List(Owners.Alice).Count;
        var refused = await Assert.ThrowsAsync<SandboxException>(() => engine.Sessions.CreateAsync(new SessionSpec
        {
            ContextArchives = new Dictionary<string, ReadOnlyMemory<byte>> { ["docs"] = Zip(("../../etc/evil", "x")) },
        }, Owners.Alice, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.UnsafeArchive, refused.Code);
        Assert.Equal(before, engine.Sessions.List(Owners.Alice).Count);
        var named = await Assert.ThrowsAsync<SandboxException>(() => engine.Sessions.CreateAsync(new SessionSpec
        {
            ContextArchives = new Dictionary<string, ReadOnlyMemory<byte>> { ["../up"] = docs },
        }, Owners.Alice, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.InvalidArgument, named.Code);
    }

    private static async Task<ExecutionResult> ShAsync(SandboxEngine engine, string sessionId, string code) =>
        await engine.Executions.ExecuteAsync(sessionId, Owners.Alice, new ExecutionRequest { Language = "bash", Code = code, Timeout = TimeSpan.FromSeconds(60) }, CancellationToken.None);

    private static PaxTarEntry File(string name, string text) =>
        new(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text)) };

    private static byte[] Zip(params (string Name, string Text)[] files)
    {
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, text) in files)
            {
                using var s = zip.CreateEntry(name).Open();
                s.Write(System.Text.Encoding.UTF8.GetBytes(text));
            }
        }
        return buffer.ToArray();
    }

    private static byte[] Tar(bool gzip, Action<TarWriter> write)
    {
        using var buffer = new MemoryStream();
        using (Stream outer = gzip ? new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true) : new NonClosing(buffer))
        using (var writer = new TarWriter(outer, TarEntryFormat.Pax, leaveOpen: true))
        {
            write(writer);
        }
        return buffer.ToArray();
    }

    /// <summary>A tar whose one entry says it holds 4 GiB (its data is not there: the header alone must be refused).</summary>
    private static byte[] FourGibDeclared()
    {
        var tar = Tar(false, w => w.WriteEntry(File("ok.txt", "ok")));
        var header = new byte[512];
        System.Text.Encoding.ASCII.GetBytes("big.bin").CopyTo(header, 0);
        System.Text.Encoding.ASCII.GetBytes("0000644\0").CopyTo(header, 100);
        System.Text.Encoding.ASCII.GetBytes("0001750\0").CopyTo(header, 108);
        System.Text.Encoding.ASCII.GetBytes("0001750\0").CopyTo(header, 116);
        System.Text.Encoding.ASCII.GetBytes("40000000000\0").CopyTo(header, 124);
        System.Text.Encoding.ASCII.GetBytes("00000000000\0").CopyTo(header, 136);
        header[156] = (byte)'0';
        System.Text.Encoding.ASCII.GetBytes("ustar\000").CopyTo(header, 257);
        "        "u8.ToArray().CopyTo(header, 148);
        var sum = header.Sum(b => (int)b);
        System.Text.Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(header, 148);
        // The good entry, then the big header, then a little data and the end (two empty blocks) as if it were all there.
        var end = tar.Length - 1024;
        return [.. tar[..end], .. header, .. new byte[4096], .. new byte[1024]];
    }

    private static byte[] ZerosZip(int size)
    {
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            using (var s = zip.CreateEntry("ok.txt").Open())
            {
                s.Write("ok"u8);
            }
            using var big = zip.CreateEntry("zeros.bin", CompressionLevel.SmallestSize).Open();
            var chunk = new byte[1 << 20];
            for (var i = 0; i < size / chunk.Length; i++)
            {
                big.Write(chunk);
            }
        }
        return buffer.ToArray();
    }

    private sealed class NonClosing(Stream inner) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
    }
}
