using System.Diagnostics;
using Sandbox.Client;
using Sandbox.Client.Contracts;
using Sandbox.Testing;

namespace Sandbox.Client.Tests;

/// <summary>The same scenarios against both implementations of <see cref="ISandboxClient"/> on a live server.</summary>
[Collection(ServerCollection.Name)]
public sealed class SandboxClientContractTests(ServerFixture server)
{
    private async Task<(ISandboxClient RestClient, ISandboxClient McpClient)> Clients() =>
        (new SandboxRestClient(server.BaseAddress), await SandboxMcpClient.ConnectHttpAsync(new Uri(server.BaseAddress, "/mcp")));

    private static async Task<T> Both<T>(ISandboxClient rest, ISandboxClient mcp, Func<ISandboxClient, Task<T>> scenario, Action<T, T> compare)
    {
        var a = await scenario(rest);
        var b = await scenario(mcp);
        compare(a, b);
        return a;
    }

    private static void SameResult(ExecutionResultDto a, ExecutionResultDto b)
    {
        // Everything but the id and the timing is equal field by field (the cursor counts output chunks, which depend
        // on timing too).
        IReadOnlyList<InstalledPackageDto> none = [];
        Assert.Equal(a with { ExecutionId = "", DurationMs = 0, Images = [], Findings = [], AutoInstalled = none, Cursor = 0 },
            b with { ExecutionId = "", DurationMs = 0, Images = [], Findings = [], AutoInstalled = none, Cursor = 0 });
        Assert.Equal(a.Images, b.Images);
        Assert.Equal(a.Findings, b.Findings);
        Assert.Equal(a.AutoInstalled, b.AutoInstalled);
    }

    [Fact]
    public async Task Handles_output_logs_and_background_processes_work_the_same_over_rest_and_mcp()
    {
        var (rest, mcp) = await Clients();
        await using var _r = rest;
        await using var _m = mcp;
        foreach (var client in new[] { rest, mcp })
        {
            var session = await client.CreateSessionAsync();
            // A handle: the call stops waiting, the code goes on, the rest is read with the cursor.
            var started = await client.ExecuteAsync(session.Id, new ExecuteRequest
            {
                Code = "import time\nprint('a', flush=True)\ntime.sleep(2)\nprint('b')", WaitSeconds = 0.5,
            });
            Assert.Equal("running", started.Status);
            var rest2 = await client.GetExecutionAsync(session.Id, started.ExecutionId, started.Cursor, waitSeconds: 10);
            while (rest2.Status == "running")
            {
                rest2 = await client.GetExecutionAsync(session.Id, started.ExecutionId, rest2.Cursor, waitSeconds: 10);
            }
            Assert.Equal("finished", rest2.Status);
            Assert.Equal("a\nb\n", (await client.GetExecutionAsync(session.Id, started.ExecutionId)).Stdout);
            Assert.Contains(await client.ListExecutionsAsync(session.Id), e => e.ExecutionId == started.ExecutionId && e.Status == "finished");
            // A budget, and the whole output behind it.
            var big = await client.ExecuteAsync(session.Id, new ExecuteRequest { Code = "for i in range(2000): print('row', i)", MaxOutputChars = 500 });
            Assert.True(big.Truncated);
            Assert.Equal(".outputs/" + big.ExecutionId, big.OutputLog);
            Assert.Equal("row 1000\n", (await client.ReadOutputAsync(session.Id, big.ExecutionId, "stdout", 7890, 9)).Text);
            Assert.Equal(1001, Assert.Single((await client.GrepOutputAsync(session.Id, big.ExecutionId, "^row 1000$")).Matches).Line);
            // A background process with input.
            var p = await client.StartProcessAsync(session.Id, new StartProcessRequest { Command = "read a; echo \"hi $a\"" });
            await client.SendInputAsync(session.Id, p.ProcessId, "there\n");
            var output = await client.GetProcessOutputAsync(session.Id, p.ProcessId, waitSeconds: 10);
            Assert.Equal("hi there\n", output.Stdout);
            Assert.Contains(await client.ListProcessesAsync(session.Id), x => x.ProcessId == p.ProcessId);
            var sleeper = await client.StartProcessAsync(session.Id, new StartProcessRequest { Argv = ["sleep", "300"] });
            Assert.False((await client.KillProcessAsync(session.Id, sleeper.ProcessId)).Running);
            await client.CloseSessionAsync(session.Id);
        }
    }

    [Fact]
    public async Task Same_scenarios_give_equal_results_over_rest_and_mcp()
    {
        var (rest, mcp) = await Clients();
        await using var _r = rest;
        await using var _m = mcp;
        await using var sr = await rest.StartSessionAsync(new CreateSessionRequest { Limits = new LimitsDto { MemoryMb = 256 } });
        await using var sm = await mcp.StartSessionAsync(new CreateSessionRequest { Limits = new LimitsDto { MemoryMb = 256 } });
        Assert.Equal(sr.Info.Limits, sm.Info.Limits);
        Assert.Equal(256, sm.Info.Limits.MemoryMb);

        string[] programs =
        [
            "x = 41",
            "print(x + 1)",
            "import sys\nprint('to stderr', file=sys.stderr)\n1/0",
            "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()",
            "x",
        ];
        foreach (var code in programs)
        {
            SameResult(await sr.ExecuteAsync(code), await sm.ExecuteAsync(code));
        }
        SameResult(await sr.ExecuteAsync(new ExecuteRequest { Code = "echo $((6*7)); exit 3", Language = "bash" }),
                   await sm.ExecuteAsync(new ExecuteRequest { Code = "echo $((6*7)); exit 3", Language = "bash" }));
        SameResult(await sr.ExecuteAsync(new ExecuteRequest { Code = "import os\nos.system('true')", Allow = ["os.system"] }),
                   await sm.ExecuteAsync(new ExecuteRequest { Code = "import os\nos.system('true')", Allow = ["os.system"] }));

        var data = Enumerable.Range(0, 70_000).Select(i => (byte)(i * 7)).ToArray();
        var fr = await sr.UploadFileAsync("dir/data.bin", data);
        var fm = await sm.UploadFileAsync("dir/data.bin", data);
        Assert.Equal(fr with { ModifiedAt = default }, fm with { ModifiedAt = default });
        Assert.Equal(data, await sr.DownloadFileAsync("dir/data.bin"));
        Assert.Equal(data, await sm.DownloadFileAsync("dir/data.bin"));
        await sr.UploadFileAsync("note.txt", "héllo"u8.ToArray());
        await sm.UploadFileAsync("note.txt", "héllo"u8.ToArray());
        Assert.Equal(await sr.DownloadFileAsync("note.txt"), await sm.DownloadFileAsync("note.txt"));
        var lr = await sr.ListFilesAsync();
        var lm = await sm.ListFilesAsync();
        Assert.Equal(lr.Select(f => (f.Name, f.Kind, f.Size)), lm.Select(f => (f.Name, f.Kind, f.Size)));

        // A preview: the same from both faces, each on an origin of its session's own.
        foreach (var (client, id) in new[] { (rest, sr.Id), (mcp, sm.Id) })
        {
            Assert.Equal([8000], (await client.ExposePortAsync(id, 8000)).Ports);
            var preview = await client.OpenPreviewAsync(id, 8000);
            Assert.Equal((id, 8000, $"http://{Sandbox.Ports.PreviewHost.Label(id, 8000)}.localhost:{server.BaseAddress.Port}", preview.Origin + "/", (string?)null),
                (preview.SessionId, preview.Port, preview.Origin, preview.Url, preview.Grant));
        }

        var infoR = await rest.GetSessionAsync(sr.Id);
        var infoM = await mcp.GetSessionAsync(sm.Id);
        Assert.Equal(infoR.Ports, infoM.Ports); // a list: compared by content here, by reference in the record
        Assert.Equal(infoR.Metadata, infoM.Metadata);
        Assert.Equal(infoR.Env, infoM.Env);
        var none = Array.Empty<int>();
        var empty = new Dictionary<string, string>();
        Assert.Equal(infoR with { Id = "", CreatedAt = default, LastUsedAt = default, ExpiresAt = default, Ports = none, Metadata = empty, Env = empty },
                     infoM with { Id = "", CreatedAt = default, LastUsedAt = default, ExpiresAt = default, Ports = none, Metadata = empty, Env = empty });
        Assert.Contains(await rest.ListSessionsAsync(), s => s.Id == sr.Id);
        Assert.Contains(await mcp.ListSessionsAsync(), s => s.Id == sm.Id);
        Assert.Equal(await rest.GetPackagesAsync(), await mcp.GetPackagesAsync(), PackagesComparer.Instance);
        var hr = await rest.GetHealthAsync();
        var hm = await mcp.GetHealthAsync();
        Assert.Equal((hr.Status, hr.Engine, hr.Images.Count), (hm.Status, hm.Engine, hm.Images.Count));

        await rest.DeleteFileAsync(sr.Id, "note.txt");
        await mcp.DeleteFileAsync(sm.Id, "note.txt");
        Assert.DoesNotContain(await sm.ListFilesAsync(), f => f.Name == "note.txt");
    }

    [Fact]
    public async Task Agent_runs_give_equal_results_over_rest_and_mcp()
    {
        var (rest, mcp) = await Clients();
        await using var _r = rest;
        await using var _m = mcp;
        await using var sr = await rest.StartSessionAsync();
        await using var sm = await mcp.StartSessionAsync();
        // The generic command agent: any CLI as an argument vector. Its JSON lines are the trajectory.
        var request = new RunAgentRequest
        {
            Agent = "command", Prompt = "make a todo list",
            Command = ["python3", "-c", "import json, os\nopen('todo.md', 'w').write('- ' + os.environ['AGENT_PROMPT'] + '\\n')\nprint(json.dumps({'type': 'result', 'result': 'todo.md written'}))"],
        };
        var a = await sr.RunAgentAsync(request);
        var b = await sm.RunAgentAsync(request);
        Assert.Equal("succeeded", a.Status);
        Assert.Equal("todo.md written", a.FinalMessage);
        Assert.Equal("+- make a todo list", a.Diff.Split('\n').Single(l => l.StartsWith("+-", StringComparison.Ordinal)));
        Assert.Null(a.Trajectory);
        static AgentRunDto Stable(AgentRunDto r) => r with
        {
            Id = "", SessionId = "", StartedAt = default, EndedAt = null, DurationMs = 0, Changes = [], Steps = [], Skills = [], McpServers = [],
        };
        Assert.Equal(Stable(a), Stable(b));
        Assert.Equal(a.Changes, b.Changes);
        Assert.Equal(a.Steps, b.Steps);
        var fr = await rest.GetAgentRunAsync(sr.Id, a.Id, includeTrajectory: true);
        var fm = await mcp.GetAgentRunAsync(sm.Id, b.Id, includeTrajectory: true);
        Assert.Equal(fr.Trajectory!.Select(e => e.GetRawText()), fm.Trajectory!.Select(e => e.GetRawText()));
        Assert.Equal([a.Id], (await rest.ListAgentRunsAsync(sr.Id)).Select(r => r.Id));
        Assert.Equal([b.Id], (await mcp.ListAgentRunsAsync(sm.Id)).Select(r => r.Id));
        var missing = await Assert.ThrowsAsync<SandboxClientException>(() => rest.GetAgentRunAsync(sr.Id, "run_nope"));
        var missingMcp = await Assert.ThrowsAsync<SandboxClientException>(() => mcp.GetAgentRunAsync(sm.Id, "run_nope"));
        Assert.Equal(("run_not_found", "run_not_found"), (missing.Code, missingMcp.Code));
        // A command agent keeps no conversation: continuing it is refused alike.
        var cont = await Assert.ThrowsAsync<SandboxClientException>(() => rest.ContinueAgentAsync(sr.Id, a.Id, "and now?"));
        var contMcp = await Assert.ThrowsAsync<SandboxClientException>(() => mcp.ContinueAgentAsync(sm.Id, b.Id, "and now?"));
        Assert.Equal(("invalid_argument", "invalid_argument"), (cont.Code, contMcp.Code));
    }

    [Fact]
    public async Task Sessions_carry_metadata_and_env_with_their_keys_as_given_over_rest_and_mcp()
    {
        var (rest, mcp) = await Clients();
        await using var _r = rest;
        await using var _m = mcp;
        var request = new CreateSessionRequest
        {
            Metadata = new Dictionary<string, string> { ["TaskId"] = "T-1", ["team"] = "core" },
            Env = new Dictionary<string, string> { ["MY_VAR"] = "x y", ["lower"] = "1" },
        };
        var a = await rest.CreateSessionAsync(request);
        var b = await mcp.CreateSessionAsync(request);
        try
        {
            foreach (var (client, s) in new[] { (rest, a), (mcp, b) })
            {
                Assert.Equal(("T-1", "x y", "1"), (s.Metadata["TaskId"], s.Env["MY_VAR"], s.Env["lower"]));
                Assert.Equal("x y 1\n", (await client.ExecuteAsync(s.Id, new ExecuteRequest { Code = "echo \"$MY_VAR\" $lower", Language = "bash" })).Stdout);
                Assert.Equal([s.Id], (await client.ListSessionsAsync(new Dictionary<string, string> { ["TaskId"] = "T-1", ["team"] = "core" })).Where(x => x.Id == s.Id).Select(x => x.Id));
                var changed = await client.UpdateSessionAsync(s.Id, new UpdateSessionRequest { Env = new Dictionary<string, string> { ["OTHER"] = "2" } });
                Assert.Equal(["OTHER"], changed.Env.Keys);
                Assert.Equal("core", changed.Metadata["team"]);
            }
            var refused = await Assert.ThrowsAsync<SandboxClientException>(() => rest.UpdateSessionAsync(a.Id, new UpdateSessionRequest { Env = new Dictionary<string, string> { ["PATH"] = "/x" } }));
            var refusedMcp = await Assert.ThrowsAsync<SandboxClientException>(() => mcp.UpdateSessionAsync(b.Id, new UpdateSessionRequest { Env = new Dictionary<string, string> { ["PATH"] = "/x" } }));
            Assert.Equal((refused.Code, refused.Message), (refusedMcp.Code, refusedMcp.Message));
        }
        finally
        {
            await rest.CloseSessionAsync(a.Id);
            await mcp.CloseSessionAsync(b.Id);
        }
    }

    [Fact]
    public async Task Volumes_are_created_mounted_listed_and_deleted_the_same_over_rest_and_mcp()
    {
        var (rest, mcp) = await Clients();
        await using var _r = rest;
        await using var _m = mcp;
        foreach (var (client, face) in new[] { (rest, "rest"), (mcp, "mcp") })
        {
            var name = $"contract-{face}-{Guid.NewGuid().ToString("N")[..6]}";
            var v = await client.CreateVolumeAsync(name, 16);
            Assert.Equal((name, 16, 0L), (v.Name, v.SizeMb, v.UsedBytes));
            var writer = await client.CreateSessionAsync(new CreateSessionRequest { Volumes = [new VolumeMountDto(name, "/data/v")] });
            var mounted = Assert.Single(await client.ListVolumesAsync(), x => x.Name == name).Mounts;
            Assert.Equal((writer.Id, false, "/data/v"), Assert.Single(mounted) is var m ? (m.SessionId, m.ReadOnly, m.Path) : default);
            await client.ExecuteAsync(writer.Id, new ExecuteRequest { Code = "echo kept > /data/v/note.txt", Language = "bash" });
            var busy = await Assert.ThrowsAsync<SandboxClientException>(() => client.DeleteVolumeAsync(name));
            Assert.Equal("volume_busy", busy.Code);
            await client.CloseSessionAsync(writer.Id);
            var reader = await client.CreateSessionAsync(new CreateSessionRequest { Volumes = [new VolumeMountDto(name, "/mnt/v", ReadOnly: true)] });
            Assert.Equal("kept\n", (await client.ExecuteAsync(reader.Id, new ExecuteRequest { Code = "cat /mnt/v/note.txt", Language = "bash" })).Stdout);
            await client.CloseSessionAsync(reader.Id);
            Assert.True(Assert.Single(await client.ListVolumesAsync(), x => x.Name == name).UsedBytes > 0);
            await client.DeleteVolumeAsync(name);
            Assert.DoesNotContain(await client.ListVolumesAsync(), x => x.Name == name);
            Assert.Equal("volume_not_found", (await Assert.ThrowsAsync<SandboxClientException>(() => client.DeleteVolumeAsync(name))).Code);
        }
    }

    [Fact]
    public async Task Agent_jobs_and_a_sessions_changes_are_the_same_over_rest_and_mcp()
    {
        var (rest, mcp) = await Clients();
        await using var _r = rest;
        await using var _m = mcp;
        var project = new MemoryStream();
        using (var zip = new System.IO.Compression.ZipArchive(project, System.IO.Compression.ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, text) in new[] { ("notes.txt", "one\n"), ("agent.py", "import json\nopen('notes.txt', 'a').write('two\\n')\nprint(json.dumps({'type': 'result', 'result': 'appended'}))\n") })
            {
                using var entry = zip.CreateEntry(name).Open();
                entry.Write(System.Text.Encoding.UTF8.GetBytes(text));
            }
        }
        var request = new RunAgentJobRequest
        {
            Session = new CreateSessionRequest { Image = "python" }, EditableArchiveBase64 = Convert.ToBase64String(project.ToArray()),
            Run = new RunAgentRequest { Agent = "command", Command = ["python3", "agent.py"], Prompt = "append a line" },
        };
        var a = await rest.RunAgentJobAsync(request);
        var b = await mcp.RunAgentJobAsync(request);
        try
        {
            Assert.Equal(("succeeded", "appended", "1 file changed (1 modified), +1 -0 lines"), (a.Status, a.Run.FinalMessage, a.Run.Summary));
            Assert.Equal((a.Status, a.Run.FinalMessage, a.Run.Summary, a.Run.Diff), (b.Status, b.Run.FinalMessage, b.Run.Summary, b.Run.Diff));
            Assert.Equal($"/api/sessions/{a.SessionId}/editable.zip", a.Links.EditableZip);
            Assert.Equal($"/api/jobs/{b.Id}", b.Links.Job);
            Assert.Equal(a.Id, (await rest.GetAgentJobAsync(a.Id)).Id);
            Assert.Equal("succeeded", (await mcp.GetAgentJobAsync(b.Id)).Status);
            var da = await rest.GetSessionDiffAsync(a.SessionId, "notes.txt");
            var db = await mcp.GetSessionDiffAsync(b.SessionId, "notes.txt");
            Assert.Equal(" one\n+two\n", string.Concat(da.Diff.Split('\n').Where(l => l is [' ' or '+', _, ..] && !l.StartsWith("+++", StringComparison.Ordinal)).Select(l => l + "\n")));
            Assert.Equal((da.Diff, da.Summary, da.Runs), (db.Diff, db.Summary, db.Runs));
            Assert.Equal(da.Changes, db.Changes);
            var sa = await rest.GetSessionSummaryAsync(a.SessionId);
            var sb = await mcp.GetSessionSummaryAsync(b.SessionId);
            Assert.Equal(("", 1, "appended"), (sa.Diff, sa.Runs, sa.FinalMessage));
            Assert.Equal((sa.Summary, sa.Runs, sa.FinalMessage), (sb.Summary, sb.Runs, sb.FinalMessage));
            Assert.Equal(await rest.ListSkillsAsync(), await mcp.ListSkillsAsync());
            var missing = await Assert.ThrowsAsync<SandboxClientException>(() => rest.GetAgentJobAsync("run_nope"));
            var missingMcp = await Assert.ThrowsAsync<SandboxClientException>(() => mcp.GetAgentJobAsync("run_nope"));
            Assert.Equal(("run_not_found", "run_not_found"), (missing.Code, missingMcp.Code));
            // Options the agent does not take are refused by name, alike, and leave no session behind.
            var before = (await rest.ListSessionsAsync()).Count;
            var refused = await Assert.ThrowsAsync<SandboxClientException>(() => rest.RunAgentJobAsync(request with { Run = request.Run with { AllowedTools = ["Read"] } }));
            var refusedMcp = await Assert.ThrowsAsync<SandboxClientException>(() => mcp.RunAgentJobAsync(request with { Run = request.Run with { AllowedTools = ["Read"] } }));
            Assert.Equal((refused.Code, refused.Message), (refusedMcp.Code, refusedMcp.Message));
            Assert.Contains("allowed_tools", refused.Message, StringComparison.Ordinal);
            Assert.Equal(before, (await rest.ListSessionsAsync()).Count);
        }
        finally
        {
            await rest.CloseSessionAsync(a.SessionId);
            await mcp.CloseSessionAsync(b.SessionId);
        }
    }

    [Fact]
    public async Task Terminals_open_list_and_close_the_same_over_rest_and_mcp()
    {
        var (rest, mcp) = await Clients();
        await using var _r = rest;
        await using var _m = mcp;
        await using var sr = await rest.StartSessionAsync();
        await using var sm = await mcp.StartSessionAsync();
        var a = await rest.OpenTerminalAsync(sr.Id, new OpenTerminalRequest { Cols = 100, Rows = 30 });
        var b = await mcp.OpenTerminalAsync(sm.Id, new OpenTerminalRequest { Cols = 100, Rows = 30 });
        Assert.Equal(a with { TerminalId = "", StartedAt = default }, b with { TerminalId = "", StartedAt = default });
        Assert.Equal(("shell", true, null), (a.Kind, a.Running, a.EndsAt));
        Assert.Equal([a.TerminalId], (await rest.ListTerminalsAsync(sr.Id)).Select(t => t.TerminalId));
        Assert.Equal([b.TerminalId], (await mcp.ListTerminalsAsync(sm.Id)).Select(t => t.TerminalId));
        await rest.CloseTerminalAsync(sr.Id, a.TerminalId);
        await mcp.CloseTerminalAsync(sm.Id, b.TerminalId);
        Assert.Empty(await rest.ListTerminalsAsync(sr.Id));
        Assert.Empty(await mcp.ListTerminalsAsync(sm.Id));
        // An agent without an interactive interface is refused alike.
        var noCli = await Assert.ThrowsAsync<SandboxClientException>(() => rest.OpenTerminalAsync(sr.Id, new OpenTerminalRequest { Agent = "command" }));
        var noCliMcp = await Assert.ThrowsAsync<SandboxClientException>(() => mcp.OpenTerminalAsync(sm.Id, new OpenTerminalRequest { Agent = "command" }));
        Assert.Equal(("invalid_argument", "invalid_argument"), (noCli.Code, noCliMcp.Code));
    }

    [Fact]
    public async Task Archives_and_restarts_work_the_same_over_rest_and_mcp()
    {
        var (rest, mcp) = await Clients();
        await using var _r = rest;
        await using var _m = mcp;
        using var zip = new MemoryStream();
        using (var archive = new System.IO.Compression.ZipArchive(zip, System.IO.Compression.ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, text) in new[] { ("src/a.py", "A = 1\n"), ("b.txt", "b\n") })
            {
                using var s = archive.CreateEntry(name).Open();
                s.Write(System.Text.Encoding.UTF8.GetBytes(text));
            }
        }
        var sessions = new List<SessionDto>();
        var downloads = new List<string[]>();
        foreach (var (client, name) in new[] { (rest, "contract-rest"), (mcp, "contract-mcp") })
        {
            var session = await client.CreateSessionAsync(new CreateSessionRequest { Name = name });
            zip.Position = 0;
            var unpacked = await client.UploadArchiveAsync(session.Id, "proj", zip);
            Assert.Equal(new ArchiveExtractionDto("proj", 2, 1, 0, 8), unpacked);
            // The whole tree at once: relative paths, the session's own .sandbox folder (the upload went through it) left out.
            var tree = await client.ListTreeAsync(session.Id);
            Assert.False(tree.Truncated);
            Assert.Equal(["proj", "proj/b.txt", "proj/src", "proj/src/a.py"], tree.Entries.Select(e => e.Path).Where(p => !p.StartsWith(".outputs", StringComparison.Ordinal)));
            Assert.Equal(["b.txt", "src", "src/a.py"], (await client.ListTreeAsync(session.Id, "proj")).Entries.Select(e => e.Path[5..]));
            var slip = await Assert.ThrowsAsync<SandboxClientException>(() => client.UploadArchiveAsync(session.Id, "x", new MemoryStream("not an archive"u8.ToArray())));
            Assert.Equal("invalid_archive", slip.Code);
            using var back = new MemoryStream();
            await client.DownloadArchiveAsync(session.Id, "proj", "zip", back);
            back.Position = 0;
            using (var read = new System.IO.Compression.ZipArchive(back))
            {
                downloads.Add(read.Entries.Select(e => e.FullName).Order(StringComparer.Ordinal).ToArray());
            }
            // A restart keeps the name and the files under a new id; the old id is gone.
            var restarted = await client.RestartSessionAsync(session.Id);
            Assert.Equal(name, restarted.Name);
            Assert.NotEqual(session.Id, restarted.Id);
            Assert.Equal("A = 1\n", (await client.ExecuteAsync(restarted.Id, new ExecuteRequest { Code = "print(open('proj/src/a.py').read(), end='')" })).Stdout);
            Assert.Equal("session_not_found", (await Assert.ThrowsAsync<SandboxClientException>(() => client.GetSessionAsync(session.Id))).Code);
            sessions.Add(restarted);
        }
        Assert.Equal(downloads[0], downloads[1]);
        Assert.Contains("src/a.py", downloads[0]);
        foreach (var (client, session) in new[] { (rest, sessions[0]), (mcp, sessions[1]) })
        {
            await client.CloseSessionAsync(session.Id);
        }
    }

    [Fact]
    public async Task Errors_map_to_the_same_exception_and_code()
    {
        var (rest, mcp) = await Clients();
        await using var _r = rest;
        await using var _m = mcp;
        await using var sr = await rest.StartSessionAsync();
        await using var sm = await mcp.StartSessionAsync();
        (Func<ISandboxClient, string, Task> Call, string Code)[] cases =
        [
            ((c, _) => c.ExecuteAsync("nope", "1"), "session_not_found"),
            ((c, id) => c.ExecuteAsync(id, new ExecuteRequest { Code = "import subprocess\nsubprocess.run(['ls'])" }), "unsafe_code"),
            ((c, id) => c.ExecuteAsync(id, new ExecuteRequest { Code = "1", Language = "cobol" }), "invalid_argument"),
            ((c, id) => c.DownloadFileAsync(id, "missing.txt"), "file_not_found"),
            ((c, id) => c.UploadFileAsync(id, "../x", [1]), "invalid_path"),
            ((c, id) => c.UploadFileAsync(id, "a\u0007b", [1]), "invalid_path"),
            ((c, _) => c.CreateSessionAsync(new CreateSessionRequest { Limits = new LimitsDto { MemoryMb = 99_999_999 } }), "limit_exceeded"),
            ((c, _) => c.CreateSessionAsync(new CreateSessionRequest { Image = "nope" }), "image_not_found"),
            ((c, _) => c.CloseSessionAsync("nope"), "session_not_found"),
        ];
        foreach (var (call, code) in cases)
        {
            var a = await Assert.ThrowsAsync<SandboxClientException>(() => call(rest, sr.Id));
            var b = await Record.ExceptionAsync(() => call(mcp, sm.Id)) as SandboxClientException;
            Assert.True(b is not null, $"mcp did not fail for {code}");
            Assert.Equal((code, code), (a.Code, b!.Code));
        }
    }

    [Fact]
    public async Task Streaming_chunks_arrive_before_the_end_on_both()
    {
        var (rest, mcp) = await Clients();
        await using var _r = rest;
        await using var _m = mcp;
        foreach (var client in new[] { rest, mcp })
        {
            await using var s = await client.StartSessionAsync();
            var sw = Stopwatch.StartNew();
            var firstAt = TimeSpan.Zero;
            var text = "";
            ExecutionResultDto? result = null;
            await foreach (var e in s.ExecuteStreamingAsync(new ExecuteRequest { Code = "import time\nfor i in range(3):\n    print('slow', i, flush=True)\n    time.sleep(0.7)" }))
            {
                if (e.Type == "output")
                {
                    firstAt = firstAt == TimeSpan.Zero ? sw.Elapsed : firstAt;
                    text += e.Text;
                }
                result = e.Result ?? result;
            }
            var total = sw.Elapsed;
            Assert.Equal("slow 0\nslow 1\nslow 2\n", text);
            Assert.Equal(text, result?.Stdout);
            Assert.True(firstAt < total - TimeSpan.FromSeconds(1), $"{client.GetType().Name}: first chunk at {firstAt}, end {total}");
        }
    }

    private sealed class PackagesComparer : IEqualityComparer<PackagesDto>
    {
        public static readonly PackagesComparer Instance = new();
        public bool Equals(PackagesDto? x, PackagesDto? y) => x is not null && y is not null && x.Image == y.Image && x.Packages.SequenceEqual(y.Packages);
        public int GetHashCode(PackagesDto obj) => obj.Image.GetHashCode(StringComparison.Ordinal);
    }
}
