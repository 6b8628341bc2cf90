using System.IO.Compression;
using System.Text;
using Sandbox.Agents;
using Sandbox.Egress;
using Sandbox.Files;
using Sandbox.Sessions;
using Sandbox.Testing;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Agents;

/// <summary>An agent job in one request: the real Claude Code, against the scripted model, in a new session with a
/// project archive, a context archive, a bundled and an uploaded skill and a stdio MCP server; the results come out as a zip, a diff and
/// a summary.</summary>
[Collection(EngineCollection.Name)]
public sealed class AgentJobTests(EngineFixture fixture)
{
    private const string ApiKey = "sk-ant-test-job-7d1e4c9a";

    /// <summary>A stdio MCP server with one tool, <c>echo</c> (newline-delimited JSON-RPC, as the MCP stdio transport is).</summary>
    private const string EchoServer = """
        import json, sys
        for line in sys.stdin:
            msg = json.loads(line)
            if "id" not in msg:
                continue
            method, result = msg.get("method"), None
            if method == "initialize":
                result = {"protocolVersion": msg["params"].get("protocolVersion", "2025-06-18"), "capabilities": {"tools": {}},
                          "serverInfo": {"name": "fixture", "version": "1"}}
            elif method == "tools/list":
                result = {"tools": [{"name": "echo", "description": "Echoes text back.",
                                     "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}]}
            elif method == "tools/call":
                result = {"content": [{"type": "text", "text": "echo says " + msg["params"]["arguments"]["text"]}]}
            elif method == "ping":
                result = {}
            reply = {"jsonrpc": "2.0", "id": msg["id"]}
            if result is None:
                reply["error"] = {"code": -32601, "message": "no such method"}
            else:
                reply["result"] = result
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
        """;

    [Fact]
    public async Task One_job_gets_a_project_skills_and_an_mcp_server_and_its_work_comes_out_as_zip_diff_and_summary()
    {
        var skills = Directory.CreateTempSubdirectory("bundled-skills");
        Directory.CreateDirectory(Path.Combine(skills.FullName, "greeter"));
        await File.WriteAllTextAsync(Path.Combine(skills.FullName, "greeter", "SKILL.md"),
            "---\nname: greeter\ndescription: Greets people politely.\n---\nAlways greet with 'Good day'.\n");
        Directory.CreateDirectory(Path.Combine(skills.FullName, "unused"));
        await File.WriteAllTextAsync(Path.Combine(skills.FullName, "unused", "SKILL.md"), "---\nname: unused\ndescription: Not asked for.\n---\n");
        ScriptedTurn[] script =
        [
            ScriptedTurn.ToolUse("Read", new { file_path = "/context/spec/requirements.md" }),
            ScriptedTurn.ToolUse("Read", new { file_path = "/workspace/.sandbox/home/.claude/skills/greeter/SKILL.md" }),
            ScriptedTurn.ToolUse("mcp__fixture__echo", new { text = "ping-from-the-model" }),
            ScriptedTurn.ToolUse("Write", new { file_path = "/workspace/app.py", content = "print('Good day')\n" }),
            ScriptedTurn.Final("Done: app.py greets politely."),
        ];
        await using var rig = await ScriptedAgentEngine.CreateAsync(fixture, ApiKey, script, o => o.Agents.SkillsDirectory = skills.FullName);
        var engine = rig.Engine;
        Assert.Equal(["greeter", "unused"], engine.AgentSetup.ListBundled().Select(s => s.Name));

        var project = Zip(("app.py", "print('hi')\n"), ("tools/echo_server.py", EchoServer), ("README.md", "# demo\n"));
        var uploadedSkill = Zip(("SKILL.md", "---\nname: reviewer\ndescription: Reviews code.\n---\nBe thorough.\n"));
        var started = await engine.Jobs.StartAsync(new AgentJobRequest
        {
            Session = new SessionSpec
            {
                Image = "agent", ContextArchives = new Dictionary<string, ReadOnlyMemory<byte>> { ["spec"] = Zip(("requirements.md", "The greeting must be formal.\n")) },
            },
            Editable = project,
            Run = new AgentRunRequest
            {
                Prompt = "Make app.py greet politely, using the greeter skill and the echo tool.",
                Timeout = TimeSpan.FromMinutes(3),
                Skills = ["greeter"],
                SkillsArchive = uploadedSkill,
                McpServers = new Dictionary<string, AgentMcpServer> { ["fixture"] = new() { Command = "python3", Args = ["/workspace/tools/echo_server.py"] } },
                Instructions = "Keep answers short.",
                DisallowedTools = ["WebFetch"],
            },
        }, Owners.Alice, CancellationToken.None);
        Assert.Equal(AgentRunStatus.Running, started.Status);
        var run = await engine.Jobs.WaitAsync(started.Id, Owners.Alice, CancellationToken.None);
        var sessionId = run.SessionId;
        try
        {
            var requests = string.Join("\n", rig.Model.Requests.Select(r => r.Body));
            Assert.True(run.Status == AgentRunStatus.Succeeded, $"{run.Status}: {run.Error}\nstderr: {run.Stderr}\nsteps: {string.Join(" | ", run.Steps.Select(s => s.Text))}");
            // The skills were installed (bundled, then uploaded) and the agent read one; the MCP tool was called and
            // answered (its result went back to the model).
            Assert.Equal([("greeter", "bundled"), ("reviewer", "uploaded")], run.Skills.Select(s => (s.Name, s.Source)));
            Assert.Equal(["fixture"], run.McpServers);
            Assert.Contains(run.Steps, s => s.Kind == "tool_call" && s.Tool == "Read" && s.Text.Contains("skills/greeter/SKILL.md", StringComparison.Ordinal));
            Assert.Contains(run.Steps, s => s.Kind == "tool_call" && s.Tool == "mcp__fixture__echo");
            Assert.Contains("echo says ping-from-the-model", requests, StringComparison.Ordinal);
            Assert.Contains("Always greet with", requests, StringComparison.Ordinal);
            Assert.Contains("The greeting must be formal.", requests, StringComparison.Ordinal); // the caller's context, read at /context/spec
            // The instructions reached the agent's memory, not the workspace.
            Assert.Contains("Keep answers short.", requests, StringComparison.Ordinal);
            Assert.Equal("1 file changed (1 modified), +1 -1 lines", run.Summary);

            // The edited directory as a zip, the diff of one path, the summary.
            using var zip = new MemoryStream();
            await engine.Archives.WriteAsync(sessionId, Owners.Alice, "", ArchiveFormat.Zip, zip, CancellationToken.None);
            using (var read = new ZipArchive(new MemoryStream(zip.ToArray())))
            {
                Assert.Equal("print('Good day')\n", new StreamReader(read.GetEntry("app.py")!.Open()).ReadToEnd());
                Assert.DoesNotContain(read.Entries, e => e.FullName.StartsWith(".sandbox", StringComparison.Ordinal));
            }
            var diff = await engine.Changes.GetAsync(sessionId, Owners.Alice, "app.py", includeDiff: true, CancellationToken.None);
            Assert.Equal([("app.py", "modified")], diff.Changes.Select(c => (c.Path, c.Change)));
            Assert.Contains("-print('hi')", diff.Diff, StringComparison.Ordinal);
            Assert.Contains("+print('Good day')", diff.Diff, StringComparison.Ordinal);
            var none = await engine.Changes.GetAsync(sessionId, Owners.Alice, "README.md", includeDiff: true, CancellationToken.None);
            Assert.Empty(none.Changes);
            var summary = await engine.Changes.GetAsync(sessionId, Owners.Alice, null, includeDiff: false, CancellationToken.None);
            Assert.Equal((1, 1, 1, "Done: app.py greets politely."), (summary.Runs, summary.Summary.LinesAdded, summary.Summary.FilesModified, summary.FinalMessage));
            Assert.Equal("", summary.Diff);
            // The job is found by its id alone, by its owner only.
            Assert.Equal(sessionId, (await engine.Jobs.GetAsync(run.Id, Owners.Alice, CancellationToken.None)).SessionId);
            var other = await Assert.ThrowsAsync<SandboxException>(() => engine.Jobs.GetAsync(run.Id, Owners.Bob, CancellationToken.None));
            Assert.Equal(SandboxErrorCodes.RunNotFound, other.Code);
        }
        finally
        {
            await engine.Sessions.CloseAsync(sessionId, Owners.Alice, CancellationToken.None);
            skills.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task An_http_mcp_server_on_the_allow_list_gets_the_named_secret_which_the_agent_never_sees()
    {
        var images = fixture.CreateEngine().Options.Images;
        await using var decoy = await EgressDecoy.StartAsync(fixture.CreateEngine().DockerClient(), images["python"]);
        var logs = new CapturingLogs();
        ScriptedTurn[] script = [ScriptedTurn.ToolUse("mcp__docs__whoami", new { }), ScriptedTurn.Final("The docs server knows us.")];
        await using var rig = await ScriptedAgentEngine.CreateAsync(fixture, ApiKey, script, o =>
        {
            o.Egress.Allow = ["*.decoy.test"];
            o.Egress.Network = decoy.Network.Name;
            o.Egress.PermittedAddresses = [decoy.Address + "/32"];
            o.Egress.UpstreamCaFile = decoy.CaFile;
            o.Egress.Secrets = new(StringComparer.Ordinal) { ["decoy"] = new EgressSecretOptions { Host = "secret.decoy.test", Header = "Authorization", Value = EgressDecoy.Secret } };
        }, logs: logs);
        var engine = rig.Engine;
        var session = await engine.Sessions.CreateAsync(new SessionSpec
        {
            Image = "agent", Network = new NetworkRequest { Allow = ["allowed.decoy.test"], Secrets = ["decoy"] },
        }, Owners.Alice, CancellationToken.None);
        try
        {
            // A server the session's network does not allow is refused before the agent starts.
            var refused = await Assert.ThrowsAsync<SandboxException>(() => engine.Agents.StartAsync(session.Id, Owners.Alice, new AgentRunRequest
            {
                Prompt = "p", McpServers = new Dictionary<string, AgentMcpServer> { ["other"] = new() { Type = "http", Url = "https://other.decoy.test/mcp" } },
            }, CancellationToken.None));
            Assert.Equal(SandboxErrorCodes.Forbidden, refused.Code);
            var run = await engine.Agents.RunAsync(session.Id, Owners.Alice, new AgentRunRequest
            {
                Prompt = "Ask the docs server who we are.", Timeout = TimeSpan.FromMinutes(3),
                McpServers = new Dictionary<string, AgentMcpServer> { ["docs"] = new() { Type = "http", Url = "https://secret.decoy.test/mcp", Secret = "decoy" } },
            }, CancellationToken.None);
            var requests = string.Join("\n", rig.Model.Requests.Select(r => r.Body));
            Assert.True(run.Status == AgentRunStatus.Succeeded, $"{run.Status}: {run.Error}\nstderr: {run.Stderr}\nsteps: {string.Join(" | ", run.Steps.Select(s => s.Text))}");
            Assert.Contains(run.Steps, s => s.Kind == "tool_call" && s.Tool == "mcp__docs__whoami");
            // The proxy added the operator's secret on the way out: the server saw it, the agent only the answer.
            Assert.Contains("decoy saw auth=secret", requests, StringComparison.Ordinal);
            Assert.DoesNotContain(EgressDecoy.Secret, System.Text.Json.JsonSerializer.Serialize(run), StringComparison.Ordinal);
            Assert.DoesNotContain(EgressDecoy.Secret, requests, StringComparison.Ordinal);
            Assert.DoesNotContain("sk-egress-secret", logs.All, StringComparison.Ordinal);
            var scan = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new Sandbox.Execution.ExecutionRequest
            {
                Language = "bash", Timeout = TimeSpan.FromSeconds(120),
                Code = "k=sk-egress-secret; k=\"$k-5e1f0c93d7\"; cat /proc/*/environ /proc/*/cmdline 2>/dev/null | tr '\\0' '\\n' | grep -cF -f <(printf '%s\\n' \"$k\"); " +
                       "grep -rlsF -f <(printf '%s\\n' \"$k\") /workspace /tmp /dev/shm /run /var/tmp; echo scanned",
            }, CancellationToken.None);
            Assert.True(scan.Stdout == "0\nscanned\n", scan.Stdout + scan.Stderr);
        }
        finally
        {
            await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
        }
    }

    [Fact]
    public async Task Remote_skills_come_from_a_repository_through_the_sessions_network_and_are_refused_without_it()
    {
        var probe = fixture.CreateEngine();
        await using var git = await GitServer.StartAsync(probe.DockerClient(), probe.Options.Images["agent"]);
        var made = await git.ExecAsync("set -e; w=/tmp/skills-src; git init -q -b main $w; mkdir -p $w/skills/linter $w/docs; " +
            "printf -- '---\\nname: linter\\ndescription: Lints before committing.\\n---\\nRun the linter.\\n' > $w/skills/linter/SKILL.md; echo notes > $w/docs/x.md; " +
            "git -C $w add -A; git -C $w commit -q -m skills; git clone -q --bare $w /srv/git/skills.git");
        Assert.True(made.ExitCode == 0, made.Stderr);
        await using var rig = await ScriptedAgentEngine.CreateAsync(fixture, ApiKey, [ScriptedTurn.Final("Skills checked.")], o =>
        {
            o.Egress.Allow = ["*.decoy.test"];
            o.Egress.Network = git.Network.Name;
            o.Egress.PermittedAddresses = [git.Address + "/32"];
        });
        var engine = rig.Engine;
        var remote = GitServer.Url("skills");
        var offline = await engine.Sessions.CreateAsync(new SessionSpec { Image = "agent" }, Owners.Alice, CancellationToken.None);
        var online = await engine.Sessions.CreateAsync(new SessionSpec { Image = "agent", Network = new NetworkRequest { Allow = [GitServer.Host] } }, Owners.Alice, CancellationToken.None);
        try
        {
            var refused = await Assert.ThrowsAsync<SandboxException>(() => engine.Agents.StartAsync(offline.Id, Owners.Alice,
                new AgentRunRequest { Prompt = "p", RemoteSkills = [remote] }, CancellationToken.None));
            Assert.Equal(SandboxErrorCodes.EgressNotPermitted, refused.Code);
            Assert.Contains("the session has no network", refused.Message, StringComparison.Ordinal);
            var bad = await Assert.ThrowsAsync<SandboxException>(() => engine.Agents.StartAsync(online.Id, Owners.Alice,
                new AgentRunRequest { Prompt = "p", RemoteSkills = ["ftp://example.test/x"] }, CancellationToken.None));
            Assert.Equal(SandboxErrorCodes.InvalidArgument, bad.Code);

            var run = await engine.Agents.RunAsync(online.Id, Owners.Alice, new AgentRunRequest
            {
                Prompt = "Look at your skills.", Timeout = TimeSpan.FromMinutes(3), RemoteSkills = [remote],
            }, CancellationToken.None);
            Assert.True(run.Status == AgentRunStatus.Succeeded, $"{run.Status}: {run.Error}");
            Assert.Equal([("linter", "remote:" + remote, "Lints before committing.")], run.Skills.Select(x => (x.Name, x.Source, x.Description)));
            var home = await engine.Executions.ExecuteAsync(online.Id, Owners.Alice, new Sandbox.Execution.ExecutionRequest
            {
                Language = "bash", Code = "cat .sandbox/home/.claude/skills/linter/SKILL.md | tail -1; ls .sandbox/remote | wc -l; ls .sandbox/uploads | wc -l",
            }, CancellationToken.None);
            Assert.Equal("Run the linter.\n0\n0\n", home.Stdout);
            // The model saw the skill offered (Claude Code lists skills from its skills folder).
            Assert.Contains("Lints before committing.", string.Join("\n", rig.Model.Requests.Select(r => r.Body)), StringComparison.Ordinal);
        }
        finally
        {
            await engine.Sessions.CloseAsync(offline.Id, Owners.Alice, CancellationToken.None);
            await engine.Sessions.CloseAsync(online.Id, Owners.Alice, CancellationToken.None);
        }
    }

    [Fact]
    public async Task A_job_that_cannot_start_leaves_no_session_and_says_why()
    {
        await using var rig = await ScriptedAgentEngine.CreateAsync(fixture, ApiKey, [ScriptedTurn.Final("unused")]);
        var engine = rig.Engine;
        var before = engine.Sessions.List(Owners.Alice).Count;
        async Task<SandboxException> Refused(AgentJobRequest request) =>
            await Assert.ThrowsAsync<SandboxException>(() => engine.Jobs.StartAsync(request, Owners.Alice, CancellationToken.None));

        var slip = Zip(("../escape.txt", "x"));
        var unsafeArchive = await Refused(new AgentJobRequest { Session = new SessionSpec { Image = "agent" }, Editable = slip, Run = new AgentRunRequest { Prompt = "p" } });
        Assert.Equal(SandboxErrorCodes.UnsafeArchive, unsafeArchive.Code);
        var unknownSkill = await Refused(new AgentJobRequest { Session = new SessionSpec { Image = "agent" }, Run = new AgentRunRequest { Prompt = "p", Skills = ["nope"] } });
        Assert.Equal(SandboxErrorCodes.InvalidArgument, unknownSkill.Code);
        Assert.Contains("list_skills", unknownSkill.Message, StringComparison.Ordinal);
        var notASkill = await Refused(new AgentJobRequest
        {
            Session = new SessionSpec { Image = "agent" }, Run = new AgentRunRequest { Prompt = "p", SkillsArchive = Zip(("notes.txt", "no skill here")) },
        });
        Assert.Equal(SandboxErrorCodes.InvalidArchive, notASkill.Code);
        var flag = await Refused(new AgentJobRequest { Session = new SessionSpec { Image = "agent" }, Run = new AgentRunRequest { Prompt = "p", ExtraArgs = ["--output-format", "text"] } });
        Assert.Contains("'--output-format' is not allowed", flag.Message, StringComparison.Ordinal);
        // An HTTP MCP server the session's network does not allow is refused before the agent starts.
        var offList = await Refused(new AgentJobRequest
        {
            Session = new SessionSpec { Image = "agent" },
            Run = new AgentRunRequest { Prompt = "p", McpServers = new Dictionary<string, AgentMcpServer> { ["docs"] = new() { Type = "http", Url = "https://docs.example.com/mcp" } } },
        });
        Assert.Equal(SandboxErrorCodes.Forbidden, offList.Code);
        Assert.Contains("network does not allow", offList.Message, StringComparison.Ordinal);
        Assert.Equal(before, engine.Sessions.List(Owners.Alice).Count);
    }

    private static byte[] Zip(params (string Name, string Text)[] files)
    {
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, text) in files)
            {
                using var entry = zip.CreateEntry(name).Open();
                entry.Write(Encoding.UTF8.GetBytes(text));
            }
        }
        return buffer.ToArray();
    }
}
