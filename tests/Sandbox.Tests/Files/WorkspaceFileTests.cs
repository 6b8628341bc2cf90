using System.Formats.Tar;
using System.Security.Cryptography;
using Sandbox.Execution;
using Sandbox.Sessions;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Files;

[Collection(EngineCollection.Name)]
public sealed class WorkspaceFileTests(EngineFixture fixture)
{
    private readonly SandboxEngine _engine = fixture.CreateEngine(o => o.Safety.Mode = global::Sandbox.Safety.SafetyMode.Off);

    [Fact]
    public async Task Search_code_finds_matching_lines_without_a_shell_and_bounded()
    {
        var ct = CancellationToken.None;
        var s = await _engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, ct);
        try
        {
            await _engine.Executions.ExecuteAsync(s.Id, Owners.Alice, new ExecutionRequest
            {
                Language = "bash",
                Code = "mkdir -p src/a:b .git .sandbox && printf 'def test_one():\\n    pass\\ndef helper():\\n    return 1\\n' > src/app.py && " +
                       "printf 'x\\tdef test_two(): pass\\n' > 'src/a:b/weird.py' && echo 'def test_hidden' > .git/x && echo 'def test_home' > .sandbox/y && " +
                       "head -c 100 /dev/urandom > src/bin.dat && for i in $(seq 1 30); do echo \"match $i\"; done > many.txt",
            }, ct);
            var found = await _engine.Search.SearchAsync(s.Id, Owners.Alice, @"def test_\w+", null, fixedText: false, ignoreCase: false, 200, ct);
            Assert.Equal([("src/a:b/weird.py", 1, "x\tdef test_two(): pass"), ("src/app.py", 1, "def test_one():")],
                found.Matches.Select(m => (m.Path, m.Line, m.Text)).OrderBy(m => m.Path, StringComparer.Ordinal));
            Assert.False(found.Truncated);
            // A pattern is one argument, never a shell line; fixed text and case; a bound on the matches.
            var literal = await _engine.Search.SearchAsync(s.Id, Owners.Alice, "$(touch pwned); RETURN", "src", fixedText: true, ignoreCase: true, 200, ct);
            Assert.Empty(literal.Matches);
            var upper = await _engine.Search.SearchAsync(s.Id, Owners.Alice, "RETURN 1", "src", fixedText: true, ignoreCase: true, 200, ct);
            Assert.Equal(("src/app.py", 4), (upper.Matches.Single().Path, upper.Matches.Single().Line));
            var bounded = await _engine.Search.SearchAsync(s.Id, Owners.Alice, "match", "many.txt", fixedText: true, ignoreCase: false, 10, ct);
            Assert.Equal((10, true), (bounded.Matches.Count, bounded.Truncated));
            var left = await _engine.Executions.ExecuteAsync(s.Id, Owners.Alice, new ExecutionRequest { Language = "bash", Code = "ls pwned src/pwned 2>&1 | grep -c 'No such'" }, ct);
            Assert.Equal("2\n", left.Stdout);
            var missing = await Assert.ThrowsAsync<SandboxException>(() => _engine.Search.SearchAsync(s.Id, Owners.Alice, "x", "nope", false, false, 200, ct));
            Assert.Equal(SandboxErrorCodes.FileNotFound, missing.Code);
            var escape = await Assert.ThrowsAsync<SandboxException>(() => _engine.Search.SearchAsync(s.Id, Owners.Alice, "x", "../etc", false, false, 200, ct));
            Assert.Equal(SandboxErrorCodes.InvalidPath, escape.Code);
        }
        finally
        {
            await _engine.Sessions.CloseAsync(s.Id, Owners.Alice, ct);
        }
    }

    [Fact]
    public async Task A_large_file_is_hashed_off_the_runner_loop_so_the_session_answers_meanwhile()
    {
        var ct = CancellationToken.None;
        var s = await _engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, ct);
        var made = await _engine.Executions.ExecuteAsync(s.Id, Owners.Alice,
            new ExecutionRequest { Code = "head -c 134217728 /dev/zero > big.bin && sha256sum big.bin", Language = "bash" }, ct);
        var expected = made.Stdout.Split(' ')[0];
        var runner = _engine.Registry.Get(s.Id, Owners.Alice).Live;
        var order = new System.Collections.Concurrent.ConcurrentQueue<string>();
        // Sent in this order on the one stream: a runner that hashed in its request loop would answer the ping after.
        var hash = runner.AskAsync(new global::Sandbox.Runner.HashRequest("big.bin"), TimeSpan.FromMinutes(2), "hash", ct)
            .ContinueWith(t => { order.Enqueue("hash"); return t.Result; }, TaskContinuationOptions.ExecuteSynchronously);
        var ping = runner.AskAsync(new global::Sandbox.Runner.PingRequest(), TimeSpan.FromSeconds(30), "ping", ct)
            .ContinueWith(t => { order.Enqueue("ping"); return t.Result; }, TaskContinuationOptions.ExecuteSynchronously);
        Assert.Equal("pong", (await ping).Type);
        var answer = await hash;
        Assert.Equal(["ping", "hash"], order);
        Assert.Equal("hash", answer.Type);
        Assert.Equal(expected, global::Sandbox.Runner.RunnerJson.Str(answer.Body, "sha256"));
        Assert.Equal(134217728L, global::Sandbox.Runner.RunnerJson.Long(answer.Body, "size"));
        // A small file is still answered at once, and a directory is refused as before.
        var small = await runner.AskAsync(new global::Sandbox.Runner.HashRequest("missing.bin"), TimeSpan.FromSeconds(30), "hash", ct);
        Assert.Equal("error", small.Type);
    }

    [Fact]
    public async Task Five_megabyte_binary_round_trip_is_byte_identical()
    {
        var s = await _engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var data = RandomNumberGenerator.GetBytes(5 * 1024 * 1024);
        using (var upload = new MemoryStream(data))
        {
            var entry = await _engine.Files.UploadAsync(s.Id, Owners.Alice, "deep/dir/blob.bin", upload, CancellationToken.None);
            Assert.Equal(data.Length, entry.Size);
        }
        var check = await _engine.Executions.ExecuteAsync(s.Id, Owners.Alice, new ExecutionRequest
        {
            Code = "import hashlib, os\nb = open('deep/dir/blob.bin','rb').read()\nprint(len(b), hashlib.sha256(b).hexdigest(), os.stat('deep/dir/blob.bin').st_uid)",
        }, CancellationToken.None);
        Assert.Equal($"{data.Length} {Convert.ToHexStringLower(SHA256.HashData(data))} 1000\n", check.Stdout);
        var back = await _engine.Files.DownloadAsync(s.Id, Owners.Alice, "deep/dir/blob.bin", CancellationToken.None);
        Assert.False(back.IsDirectory);
        Assert.Equal(data, back.Content);

        // Files the code writes come back too, and a directory comes back as a tar archive.
        await _engine.Executions.ExecuteAsync(s.Id, Owners.Alice, new ExecutionRequest { Code = "open('deep/made.txt','w').write('made by code')" }, CancellationToken.None);
        var dir = await _engine.Files.DownloadAsync(s.Id, Owners.Alice, "deep", CancellationToken.None);
        Assert.True(dir.IsDirectory);
        using var reader = new TarReader(new MemoryStream(dir.Content));
        var names = new List<string>();
        while (await reader.GetNextEntryAsync() is { } e)
        {
            names.Add(e.Name);
        }
        Assert.Contains("deep/made.txt", names);
        Assert.Contains("deep/dir/blob.bin", names);
    }

    [Theory]
    [InlineData("/etc/passwd")]
    [InlineData("../outside.txt")]
    [InlineData("a/../../outside.txt")]
    [InlineData("a\0b")]
    [InlineData("a\nb")]
    [InlineData("a\u202Eb")]
    [InlineData("a\\b")]
    [InlineData("")]
    public async Task Path_attacks_are_refused_and_nothing_is_written(string path)
    {
        var s = await _engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var e = await Assert.ThrowsAsync<SandboxException>(() => _engine.Files.UploadAsync(s.Id, Owners.Alice, path, new MemoryStream([1, 2, 3]), CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.InvalidPath, e.Code);
        var d = await Assert.ThrowsAsync<SandboxException>(() => _engine.Files.DownloadAsync(s.Id, Owners.Alice, path.Length == 0 ? "/" : path, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.InvalidPath, d.Code);
        Assert.Empty(await _engine.Files.ListAsync(s.Id, Owners.Alice, "", CancellationToken.None));
    }

    [Fact]
    public async Task Symlinks_that_leave_the_workspace_are_refused()
    {
        var s = await _engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        await _engine.Executions.ExecuteAsync(s.Id, Owners.Alice, new ExecutionRequest
        {
            Code = "import os\nos.makedirs('inside', exist_ok=True)\nopen('inside/ok.txt','w').write('ok')\n" +
                   "os.symlink('/etc', 'etc')\nos.symlink('/etc/passwd', 'passwd')\nos.symlink('inside', 'good')\nos.symlink('../../tmp', 'inside/up')",
        }, CancellationToken.None);
        foreach (var path in new[] { "etc/passwd", "passwd", "inside/up/x", "etc" })
        {
            var e = await Assert.ThrowsAsync<SandboxException>(() => _engine.Files.DownloadAsync(s.Id, Owners.Alice, path, CancellationToken.None));
            Assert.Equal(SandboxErrorCodes.InvalidPath, e.Code);
            var u = await Assert.ThrowsAsync<SandboxException>(() => _engine.Files.UploadAsync(s.Id, Owners.Alice, path + "/new.txt", new MemoryStream([1]), CancellationToken.None));
            Assert.True(u.Code == SandboxErrorCodes.InvalidPath, $"{path}: {u.Code} {u.Message}");
        }
        // A link that stays inside is followed.
        var ok = await _engine.Files.DownloadAsync(s.Id, Owners.Alice, "good/ok.txt", CancellationToken.None);
        Assert.Equal("ok"u8.ToArray(), ok.Content);
        var listing = await _engine.Files.ListAsync(s.Id, Owners.Alice, "", CancellationToken.None);
        Assert.Contains(listing, f => f.Name == "etc" && f.Kind == "symlink");
        await Assert.ThrowsAsync<SandboxException>(() => _engine.Files.ListAsync(s.Id, Owners.Alice, "etc", CancellationToken.None));
    }

    [Fact]
    public async Task Size_caps_hold_on_upload_and_download()
    {
        var engine = fixture.CreateEngine(o => { o.Files.MaxUploadBytes = 1000; o.Files.MaxDownloadBytes = 2000; o.Safety.Mode = global::Sandbox.Safety.SafetyMode.Off; });
        var s = await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var up = await Assert.ThrowsAsync<SandboxException>(() => engine.Files.UploadAsync(s.Id, Owners.Alice, "big.bin", new MemoryStream(new byte[1001]), CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.FileTooLarge, up.Code);
        Assert.Empty(await engine.Files.ListAsync(s.Id, Owners.Alice, "", CancellationToken.None));
        await engine.Executions.ExecuteAsync(s.Id, Owners.Alice, new ExecutionRequest { Code = "open('big.txt','w').write('x'*5000)" }, CancellationToken.None);
        var down = await Assert.ThrowsAsync<SandboxException>(() => engine.Files.DownloadAsync(s.Id, Owners.Alice, "big.txt", CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.FileTooLarge, down.Code);
        var missing = await Assert.ThrowsAsync<SandboxException>(() => engine.Files.DownloadAsync(s.Id, Owners.Alice, "nope.txt", CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.FileNotFound, missing.Code);
    }

    [Fact]
    public async Task Delete_removes_files_and_directories()
    {
        var s = await _engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        await _engine.Files.UploadAsync(s.Id, Owners.Alice, "d/a.txt", new MemoryStream([1]), CancellationToken.None);
        await _engine.Files.UploadAsync(s.Id, Owners.Alice, "b.txt", new MemoryStream([1]), CancellationToken.None);
        await _engine.Files.DeleteAsync(s.Id, Owners.Alice, "d", CancellationToken.None);
        await _engine.Files.DeleteAsync(s.Id, Owners.Alice, "b.txt", CancellationToken.None);
        Assert.Empty(await _engine.Files.ListAsync(s.Id, Owners.Alice, "", CancellationToken.None));
        var e = await Assert.ThrowsAsync<SandboxException>(() => _engine.Files.DeleteAsync(s.Id, Owners.Alice, "b.txt", CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.FileNotFound, e.Code);
    }
}
