using System.Text.Json;
using Sandbox.Agents;
using Sandbox.Execution;
using Sandbox.Sessions;
using Sandbox.Testing;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Agents;

/// <summary>The real Claude Code CLI in a real agent session, against a scripted model endpoint on a network the test creates.</summary>
[Collection(EngineCollection.Name)]
public sealed class AgentRunTests(EngineFixture fixture)
{
    private const string ApiKey = "sk-ant-test-4f9c1e7a2b8d6035";

    private static readonly ScriptedTurn[] HelloScript =
    [
        ScriptedTurn.ToolUse("Write", new { file_path = "/workspace/hello.py", content = "print('hello from the agent')\n" }),
        ScriptedTurn.ToolUse("Bash", new { command = "python3 hello.py", description = "Run hello.py" }),
        ScriptedTurn.Final("Done: hello.py prints a greeting."),
    ];

    [Fact]
    public async Task Claude_code_writes_and_runs_a_file_and_the_run_shows_it()
    {
        await using var rig = await ScriptedAgentEngine.CreateAsync(fixture, ApiKey, HelloScript);
        var (engine, model) = (rig.Engine, rig.Model);
        var session = await engine.Sessions.CreateAsync(new SessionSpec { Image = "agent" }, Owners.Alice, CancellationToken.None);
        var steps = new List<AgentStep>();
        AgentRun? run = null;
        await foreach (var e in engine.Agents.RunStreamingAsync(session.Id, Owners.Alice, new AgentRunRequest
        {
            Prompt = "Write hello.py that prints a greeting, then run it.", Timeout = TimeSpan.FromMinutes(3),
        }, CancellationToken.None))
        {
            if (e is AgentStepEvent s)
            {
                steps.Add(s.Step);
            }
            else if (e is AgentCompletedEvent c)
            {
                run = c.Run;
            }
        }
        Assert.NotNull(run);
        var all = JsonSerializer.Serialize(run);
        Assert.True(run.Status == AgentRunStatus.Succeeded, $"{run.Status}: {run.Error}\nstderr: {run.Stderr}\nrequests: {string.Join(", ", model.Requests.Select(r => r.Method + " " + r.Path))}\n{all[..Math.Min(all.Length, 4000)]}");
        Assert.Contains(steps, s => s.Kind == "tool_call" && s.Tool == "Write");
        Assert.Contains(steps, s => s.Kind == "tool_call" && s.Tool == "Bash");
        // While it works: the file it changes, and its turns and tokens so far, as events of their own.
        Assert.Contains(steps, s => s is { Kind: "file", Text: "writes hello.py", Tool: "Write" });
        Assert.Equal(["turn 1", "turn 2", "turn 3"], steps.Where(s => s.Kind == "usage").Select(s => s.Text.Split(':')[0]));
        Assert.Contains(run.Changes, c => c.Path == "hello.py" && c.Change == "added");
        Assert.Contains("+print('hello from the agent')", run.Diff);
        Assert.Equal("Done: hello.py prints a greeting.", run.FinalMessage);
        var file = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest { Code = "print(open('hello.py').read(), end='')" }, CancellationToken.None);
        Assert.Equal("print('hello from the agent')\n", file.Stdout);
        // The key reached the model endpoint (added by the proxy) and nowhere else.
        Assert.NotEmpty(model.Requests);
        Assert.All(model.Requests.Where(r => r.Path.StartsWith("/v1/messages", StringComparison.Ordinal)), r => Assert.Equal(ApiKey, r.Headers["x-api-key"]));
        Assert.DoesNotContain(ApiKey, all);
        var env = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest { Code = "import os\nprint(os.environ)" }, CancellationToken.None);
        Assert.Contains("HOME", env.Stdout);
        Assert.DoesNotContain(ApiKey, env.Stdout);
        env = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest
        {
            // The root file system is read-only, so the key could only have been written where a sandbox can write;
            // the whole image is not scanned (under gVisor that takes minutes). The key is put together at run time
            // so the script file itself does not match, and it reaches grep
            // through a pipe, not its command line (which /proc would show).
            Language = "bash",
            Code = "k=sk-ant-test; k=\"$k-4f9c1e7a2b8d6035\"; cat /proc/*/environ /proc/*/cmdline 2>/dev/null | tr '\\0' '\\n' | grep -cF -f <(printf '%s\\n' \"$k\"); " +
                "grep -rlsF -f <(printf '%s\\n' \"$k\") /workspace /tmp /dev/shm /run /var/tmp 2>/dev/null; echo scanned",
            Timeout = TimeSpan.FromSeconds(120),
        }, CancellationToken.None);
        Assert.True(env.Stdout.Contains("scanned", StringComparison.Ordinal), $"timed out {env.TimedOut}, exit {env.ExitCode}: {env.Stdout} {env.Stderr}");
        Assert.StartsWith("0\n", env.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(ApiKey, env.Stdout);
        await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
    }

    [Fact]
    public async Task Codex_writes_and_runs_a_file_through_its_own_model_api_and_the_run_shows_it_and_twenty_runs_in_a_row_all_end()
    {
        const string openAiKey = "sk-openai-test-71c2e94d05";
        // Codex's own endpoint and key (the OpenAI settings); Claude Code's endpoint goes nowhere.
        await using var rig = await ScriptedAgentEngine.CreateAsync(fixture, openAiKey,
        [
            ScriptedTurn.ToolUse("exec_command", new { cmd = "printf 'print(6*7)\\n' > hello.py && python3 hello.py" }),
            ScriptedTurn.Final("Done: hello.py prints 42."),
        ], o => o.Agents.ModelEndpoint = "http://anthropic.invalid");
        var (engine, model) = (rig.Engine, rig.Model);
        var request = new AgentRunRequest { Agent = "codex", Prompt = "Write hello.py that prints 6*7, then run it.", Timeout = TimeSpan.FromSeconds(90) };
        var session = await engine.Sessions.CreateAsync(new SessionSpec { Image = "agent" }, Owners.Alice, CancellationToken.None);
        await CheckCodexRunAsync(engine, session, await engine.Agents.RunAsync(session.Id, Owners.Alice, request, CancellationToken.None), model, openAiKey);

        // Codex under gVisor once ran a command and never came back to the model until the time limit. What it did that
        // could not end: at every start its plugin marketplace ran `git ls-remote https://github.com/openai/plugins.git`
        // and its analytics looked up ab.chatgpt.com, from a session that reaches only its model proxy (measured holding
        // each run ~5.5 s after its last message). They are off now (CodexAgent.OfflineFeatures); nineteen more runs,
        // two sessions side by side, must all end, and promptly.
        var results = await Task.WhenAll(Enumerable.Range(0, 2).Select(async lane =>
        {
            var s = await engine.Sessions.CreateAsync(new SessionSpec { Image = "agent" }, Owners.Alice, CancellationToken.None);
            var ended = new List<AgentRun>();
            for (var i = lane; i < 19; i += 2)
            {
                ended.Add(await engine.Agents.RunAsync(s.Id, Owners.Alice, request, CancellationToken.None));
            }
            await engine.Sessions.CloseAsync(s.Id, Owners.Alice, CancellationToken.None);
            return ended;
        }));
        var runs = results.SelectMany(r => r).ToList();
        Assert.Equal(19, runs.Count);
        Assert.All(runs, r => Assert.True(r.Status == AgentRunStatus.Succeeded && r.FinalMessage == "Done: hello.py prints 42.",
            $"{r.Status} after {r.DurationMs:F0} ms: {r.Error}\n{string.Join("\n", r.Steps.Select(s => s.Kind + " " + s.Text))}\n{r.Stderr}"));
    }

    private static async Task CheckCodexRunAsync(SandboxEngine engine, SessionInfo session, AgentRun run, ScriptedModelEndpoint model, string openAiKey)
    {
        var all = JsonSerializer.Serialize(run);
        Assert.True(run.Status == AgentRunStatus.Succeeded, $"{run.Status}: {run.Error}\nstderr: {run.Stderr}\nrequests: {string.Join(", ", model.Requests.Select(r => r.Method + " " + r.Path))}\n{all[..Math.Min(all.Length, 4000)]}");
        Assert.Equal("codex", run.Agent);
        Assert.Equal(model.Url, run.ModelEndpoint.TrimEnd('/'));
        Assert.Contains(run.Steps, s => s.Kind == "tool_call" && s.Tool == "exec_command" && s.Text.Contains("hello.py", StringComparison.Ordinal));
        Assert.Contains(run.Steps, s => s.Kind == "usage" && s.Text.StartsWith("turn 1: ", StringComparison.Ordinal));
        Assert.Contains(run.Steps, s => s.Kind == "tool_result" && s.Text.Contains("42", StringComparison.Ordinal));
        Assert.Contains(run.Trajectory, e => e.GetProperty("type").GetString() == "turn.completed");
        Assert.Equal("Done: hello.py prints 42.", run.FinalMessage);
        Assert.Contains(run.Changes, c => c.Path == "hello.py" && c.Change == "added");
        var file = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest { Code = "print(open('hello.py').read(), end='')" }, CancellationToken.None);
        Assert.Equal("print(6*7)\n", file.Stdout);
        // OpenAI's paths, with the OpenAI key added by the proxy as a bearer token; the key went nowhere else.
        var calls = model.Requests.Where(r => r.Path.StartsWith("/v1/responses", StringComparison.Ordinal)).ToList();
        Assert.True(calls.Count >= 2, string.Join(", ", model.Requests.Select(r => r.Path)));
        Assert.All(calls, r => Assert.Equal("Bearer " + openAiKey, r.Headers["authorization"]));
        Assert.DoesNotContain(openAiKey, all, StringComparison.Ordinal);
        var env = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest
        {
            Language = "bash",
            Code = "k=sk-openai-test; k=\"$k-71c2e94d05\"; cat /proc/*/environ /proc/*/cmdline 2>/dev/null | tr '\\0' '\\n' | grep -cF -f <(printf '%s\\n' \"$k\"); " +
                "grep -rlsF -f <(printf '%s\\n' \"$k\") /workspace /tmp /dev/shm 2>/dev/null; echo scanned",
        }, CancellationToken.None);
        Assert.Equal("0\nscanned\n", env.Stdout);
        // Claude Code's endpoint is not Codex's: asking Codex for it is refused up front.
        var refused = await Assert.ThrowsAsync<SandboxException>(() => engine.Agents.RunAsync(session.Id, Owners.Alice,
            new AgentRunRequest { Agent = "codex", Prompt = "hi", ModelEndpoint = "http://anthropic.invalid" }, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.Forbidden, refused.Code);
        await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
    }

    [Fact]
    public async Task From_inside_a_run_only_the_model_endpoint_is_reachable()
    {
        var probe = fixture.CreateEngine();
        await using var network = await TestNetwork.CreateAsync(probe.DockerClient(), "egress");
        var decoy = await network.StartDecoyAsync(probe.Options.Images["python"]);
        var check = string.Join("\n",
            "import socket, urllib.request",
            "def tcp(name, host, port):",
            "    try:",
            "        socket.create_connection((host, port), timeout=3).close(); print(name + ': OPEN')",
            "    except OSError as e: print(name + ': blocked', type(e).__name__)",
            $"tcp('decoy', '{decoy.Address}', {decoy.Port})",
            $"tcp('model-direct', '{network.Gateway}', MODEL_PORT)",
            "tcp('dns-name', 'example.com', 80)",
            "tcp('proxy', 'model-proxy', 8080)",
            "import urllib.error",
            "def http(name, path):",
            "    try:",
            "        urllib.request.urlopen('http://model-proxy:8080' + path, timeout=5); print(name + ': forwarded')",
            "    except urllib.error.HTTPError as e: print(name + ': HTTP', e.code)",
            "    except OSError as e: print(name + ': blocked', type(e).__name__)",
            "http('files-api', '/v1/files')",
            "http('traversal', '/v1/models/../files')");
        ScriptedTurn[] script =
        [
            ScriptedTurn.ToolUse("Write", new { file_path = "/workspace/probe.py", content = "PLACEHOLDER" }),
            ScriptedTurn.ToolUse("Bash", new { command = "python3 probe.py", description = "Probe the network" }),
            ScriptedTurn.Final("probed"),
        ];
        await using var model = new ScriptedModelEndpoint(network.Gateway, script);
        var port = new Uri(model.Url).Port;
        script[0] = ScriptedTurn.ToolUse("Write", new { file_path = "/workspace/probe.py", content = check.Replace("MODEL_PORT", port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal) + "\n" });
        var engine = fixture.CreateEngine(o =>
        {
            o.Pool.Size = 0;
            o.Agents.ModelEndpoint = model.Url;
            o.Agents.EgressNetwork = network.Name;
        });
        var session = await engine.Sessions.CreateAsync(new SessionSpec { Image = "agent" }, Owners.Alice, CancellationToken.None);
        var run = await engine.Agents.RunAsync(session.Id, Owners.Alice, new AgentRunRequest { Prompt = "Probe the network.", Timeout = TimeSpan.FromMinutes(3) }, CancellationToken.None);
        Assert.True(run.Status == AgentRunStatus.Succeeded, $"{run.Status}: {run.Error} {run.Stderr}");
        var results = JsonSerializer.Serialize(run.Trajectory);
        Assert.True(results.Contains("decoy: blocked", StringComparison.Ordinal), results[Math.Max(0, results.Length - 3000)..]);
        Assert.True(results.Contains("model-direct: blocked", StringComparison.Ordinal), results[Math.Max(0, results.Length - 3000)..]);
        Assert.True(results.Contains("dns-name: blocked", StringComparison.Ordinal), results[Math.Max(0, results.Length - 3000)..]);
        Assert.True(results.Contains("proxy: OPEN", StringComparison.Ordinal), results[Math.Max(0, results.Length - 3000)..]);
        // The proxy forwards model calls only: the key cannot reach the provider's other APIs.
        Assert.True(results.Contains("files-api: HTTP 403", StringComparison.Ordinal), results[Math.Max(0, results.Length - 3000)..]);
        Assert.True(results.Contains("traversal: HTTP 403", StringComparison.Ordinal), results[Math.Max(0, results.Length - 3000)..]);
        Assert.DoesNotContain(model.Requests, r => r.Path.Contains("files", StringComparison.Ordinal));
        // Between runs the session is back on network none: even the proxy is gone.
        var after = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest { Code = "exec(open('probe.py').read())", Allow = ["PY001", "PY002", "PY003", "PY004"] }, CancellationToken.None);
        Assert.Contains("proxy: blocked", after.Stdout);
        Assert.Contains("decoy: blocked", after.Stdout);
        var networks = await probe.DockerClient().Networks.ListNetworksAsync(new());
        Assert.DoesNotContain(networks, n => n.Name == global::Sandbox.Docker.DockerAgentNetwork.AgentNetworkName(session.Id));
        await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
    }

    [Fact]
    public async Task A_model_that_never_answers_is_stopped_at_the_time_limit()
    {
        await using var rig = await ScriptedAgentEngine.CreateAsync(fixture, ApiKey, HelloScript, hang: true);
        var (engine, model) = (rig.Engine, rig.Model);
        var session = await engine.Sessions.CreateAsync(new SessionSpec { Image = "agent" }, Owners.Alice, CancellationToken.None);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var run = await engine.Agents.RunAsync(session.Id, Owners.Alice, new AgentRunRequest { Prompt = "Hello?", Timeout = TimeSpan.FromSeconds(8) }, CancellationToken.None);
        Assert.Equal(AgentRunStatus.TimedOut, run.Status);
        Assert.Contains("time limit of 8 s", run.Error);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(40), clock.Elapsed.ToString());
        // The session is usable again and nothing of the agent is left running.
        var ps = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest { Language = "bash", Code = "ps -eo comm= | sort | tr '\\n' ' '" }, CancellationToken.None);
        Assert.DoesNotContain("claude", ps.Stdout);
        var stored = await engine.Agents.GetAsync(session.Id, Owners.Alice, run.Id, CancellationToken.None);
        Assert.Equal(AgentRunStatus.TimedOut, stored.Status);
        await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
    }

    [Fact]
    public async Task A_command_agent_runs_any_cli_without_a_shell_and_its_json_lines_become_the_trajectory()
    {
        await using var rig = await ScriptedAgentEngine.CreateAsync(fixture, ApiKey, HelloScript);
        var (engine, model) = (rig.Engine, rig.Model);
        var session = await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var agent = "import json, os\nprint(json.dumps({'type': 'plan', 'text': 'writing notes'}))\nopen('notes.txt', 'w').write(os.environ['AGENT_PROMPT'] + '\\n')\nprint('plain line; token ' + os.environ['MY_TOKEN'])\nprint(json.dumps({'type': 'result', 'result': 'notes written'}))";
        var run = await engine.Agents.RunAsync(session.Id, Owners.Alice, new AgentRunRequest
        {
            Agent = "command", Command = ["python3", "-c", agent], Prompt = "remember $(rm -rf /) literally",
            Env = new Dictionary<string, string> { ["MY_TOKEN"] = "tok-very-secret-123" },
        }, CancellationToken.None);
        Assert.True(run.Status == AgentRunStatus.Succeeded, $"{run.Status}: {run.Error} {run.Stderr}");
        Assert.Equal("notes written", run.FinalMessage);
        Assert.Equal(["plan", "output", "result"], run.Trajectory.Select(e => e.GetProperty("type").GetString()));
        Assert.Contains("+remember $(rm -rf /) literally", run.Diff);
        var json = JsonSerializer.Serialize(run);
        Assert.DoesNotContain("tok-very-secret-123", json);
        Assert.Contains("token [redacted]", json);
        // The per-run environment was for the agent only.
        var env = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest { Code = "import os\nprint(os.environ.get('MY_TOKEN'))" }, CancellationToken.None);
        Assert.Equal("None\n", env.Stdout);
        // Its exit status is the real one (the runner once reaped the process while killing its leftovers, and the
        // status read afterwards was always 0).
        var failing = await engine.Agents.RunAsync(session.Id, Owners.Alice, new AgentRunRequest
        {
            Agent = "command", Command = ["python3", "-c", "import sys; print('giving up'); sys.exit(3)"], Prompt = "fail",
        }, CancellationToken.None);
        Assert.Equal(AgentRunStatus.Failed, failing.Status);
        Assert.Equal(3, failing.ExitCode);
        await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
    }

    [Fact]
    public async Task Claude_code_in_a_session_without_the_cli_is_a_clear_error_and_bad_requests_are_refused_up_front()
    {
        await using var rig = await ScriptedAgentEngine.CreateAsync(fixture, ApiKey, HelloScript);
        var (engine, model) = (rig.Engine, rig.Model);
        var session = await engine.Sessions.CreateAsync(new SessionSpec(), Owners.Alice, CancellationToken.None);
        var run = await engine.Agents.RunAsync(session.Id, Owners.Alice, new AgentRunRequest { Prompt = "hi" }, CancellationToken.None);
        Assert.Equal(AgentRunStatus.Failed, run.Status);
        Assert.Contains("image 'agent'", run.Error);
        var bad = await Assert.ThrowsAsync<SandboxException>(() => engine.Agents.RunAsync(session.Id, Owners.Alice, new AgentRunRequest { Prompt = "hi", Agent = "nope" }, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.InvalidArgument, bad.Code);
        bad = await Assert.ThrowsAsync<SandboxException>(() => engine.Agents.RunAsync(session.Id, Owners.Alice, new AgentRunRequest { Prompt = "hi", ModelEndpoint = "http://10.1.2.3:80" }, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.Forbidden, bad.Code);
        bad = await Assert.ThrowsAsync<SandboxException>(() => engine.Agents.RunAsync(session.Id, Owners.Alice, new AgentRunRequest { Prompt = "hi", Env = new Dictionary<string, string> { ["ANTHROPIC_BASE_URL"] = "x" } }, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.InvalidArgument, bad.Code);
        bad = await Assert.ThrowsAsync<SandboxException>(() => engine.Agents.RunAsync(session.Id, Owners.Bob, new AgentRunRequest { Prompt = "hi" }, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.SessionNotFound, bad.Code);
        await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
    }

    [Fact]
    public async Task Cancelling_or_closing_during_a_run_kills_the_agent_and_leaves_no_proxy_or_network()
    {
        await using var rig = await ScriptedAgentEngine.CreateAsync(fixture, ApiKey, HelloScript, hang: true);
        var (engine, model) = (rig.Engine, rig.Model);
        var session = await engine.Sessions.CreateAsync(new SessionSpec { Image = "agent" }, Owners.Alice, CancellationToken.None);
        var started = await engine.Agents.StartAsync(session.Id, Owners.Alice, new AgentRunRequest { Prompt = "Hello?" }, CancellationToken.None);
        Assert.Equal(AgentRunStatus.Running, started.Status);
        await WaitUntilAsync(() => model.Requests.Any(r => r.Path.StartsWith("/v1/messages", StringComparison.Ordinal)));
        var cancelled = await engine.Agents.CancelAsync(session.Id, Owners.Alice, started.Id, CancellationToken.None);
        Assert.Equal(AgentRunStatus.Cancelled, cancelled.Status);
        Assert.Contains("cancelled by the caller", cancelled.Error);
        var ok = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest { Code = "print('usable')" }, CancellationToken.None);
        Assert.Equal("usable\n", ok.Stdout);

        var second = await engine.Agents.StartAsync(session.Id, Owners.Alice, new AgentRunRequest { Prompt = "Hello again?" }, CancellationToken.None);
        await WaitUntilAsync(() => model.Requests.Count(r => r.Path.StartsWith("/v1/messages", StringComparison.Ordinal)) >= 2);
        await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
        var closed = await engine.Agents.GetAsync(session.Id, Owners.Alice, second.Id, CancellationToken.None);
        var final = closed.Status == AgentRunStatus.Running
            ? await WaitForEndAsync(engine, session.Id, second.Id)
            : closed;
        Assert.Equal(AgentRunStatus.Cancelled, final.Status);
        Assert.Contains("session was closed", final.Error);
        var client = engine.DockerClient();
        var networks = await client.Networks.ListNetworksAsync(new());
        Assert.DoesNotContain(networks, n => n.Name == global::Sandbox.Docker.DockerAgentNetwork.AgentNetworkName(session.Id));
        var containers = await client.Containers.ListContainersAsync(new() { All = true });
        Assert.DoesNotContain(containers, c => c.Names.Any(n => n.Contains(session.Id, StringComparison.Ordinal)));
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting");
            await Task.Delay(100);
        }
    }

    private static async Task<AgentRun> WaitForEndAsync(SandboxEngine engine, string sessionId, string runId)
    {
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (true)
        {
            var run = await engine.Agents.GetAsync(sessionId, Owners.Alice, runId, CancellationToken.None);
            if (run.Status != AgentRunStatus.Running || DateTime.UtcNow > deadline)
            {
                return run;
            }
            await Task.Delay(200);
        }
    }
}
