using Sandbox.Agents;
using Sandbox.Execution;
using Sandbox.Sessions;
using Sandbox.Testing;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Agents;

/// <summary>Agents and the workspace's repository, with the real Claude Code CLI against a scripted model: a commit it
/// makes is an event while it still works; under the read-only git policy (its own hook) git log works, git commit is
/// refused before it runs and the repository is unchanged.</summary>
[Collection(EngineCollection.Name)]
public sealed class AgentGitTests(EngineFixture fixture)
{
    private const string InitRepository =
        "git init -q && git config user.email u@example.com && git config user.name U && echo one > a.txt && git add a.txt && git commit -qm 'FIRST-COMMIT-61'";

    [Fact]
    public async Task A_commit_the_agent_makes_arrives_as_an_event_while_it_still_works()
    {
        await using var rig = await ScriptedAgentEngine.CreateAsync(fixture, "sk-ant-test-commits",
        [
            ScriptedTurn.ToolUse("Bash", new { command = "echo two >> a.txt && git commit -qam 'LIVE-COMMIT-77' && sleep 8", description = "Commit, then go on" }),
            ScriptedTurn.Final("Committed."),
        ], o => o.Agents.CommitWatchInterval = TimeSpan.FromMilliseconds(500));
        var engine = rig.Engine;
        var session = await engine.Sessions.CreateAsync(new SessionSpec { Image = "agent" }, Owners.Alice, CancellationToken.None);
        var init = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest { Language = "bash", Code = InitRepository }, CancellationToken.None);
        Assert.True(init.ExitCode == 0, init.Stderr);

        AgentCommit? commit = null;
        AgentRunStatus? whenSeen = null;
        AgentRun? run = null;
        string? runId = null;
        await foreach (var e in engine.Agents.RunStreamingAsync(session.Id, Owners.Alice, new AgentRunRequest
        {
            Prompt = "Commit a change.", Timeout = TimeSpan.FromMinutes(3),
        }, CancellationToken.None))
        {
            switch (e)
            {
                case AgentStartedEvent s:
                    runId = s.Run.Id;
                    break;
                case AgentCommitEvent c:
                    commit ??= c.Commit;
                    whenSeen ??= (await engine.Agents.GetAsync(session.Id, Owners.Alice, runId!, CancellationToken.None)).Status;
                    break;
                case AgentCompletedEvent done:
                    run = done.Run;
                    break;
            }
        }
        Assert.NotNull(run);
        Assert.True(commit is not null, $"no commit event; {run.Status}: {run.Error}\n{string.Join("\n", run.Steps.Select(s => s.Kind + " " + s.Text))}");
        Assert.Equal("LIVE-COMMIT-77", commit.Subject);
        Assert.Equal(["a.txt"], commit.Files);
        Assert.Equal(AgentRunStatus.Running, whenSeen);
        Assert.Contains(run.Steps, s => s.Kind == "commit" && s.Text.Contains("LIVE-COMMIT-77", StringComparison.Ordinal));
        await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
    }

    [Fact]
    public async Task With_a_read_only_git_policy_git_log_works_and_git_commit_is_refused()
    {
        await using var rig = await ScriptedAgentEngine.CreateAsync(fixture, "sk-ant-test-git-policy",
        [
            ScriptedTurn.ToolUse("Bash", new { command = "git log --oneline", description = "Read the history" }),
            ScriptedTurn.ToolUse("Bash", new { command = "echo more >> a.txt && git commit -am 'agent change'", description = "Commit" }),
            ScriptedTurn.Final("Tried."),
        ]);
        var engine = rig.Engine;
        var session = await engine.Sessions.CreateAsync(new SessionSpec { Image = "agent" }, Owners.Alice, CancellationToken.None);
        var init = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest
        {
            Language = "bash",
            Code = InitRepository,
        }, CancellationToken.None);
        Assert.True(init.ExitCode == 0, init.Stderr);

        var run = await engine.Agents.RunAsync(session.Id, Owners.Alice, new AgentRunRequest
        {
            Prompt = "Look at the history, then commit a change.", GitPolicy = AgentGitPolicy.ReadOnly, Timeout = TimeSpan.FromMinutes(3),
        }, CancellationToken.None);
        Assert.Equal(AgentGitPolicy.ReadOnly, run.GitPolicy);
        var results = run.Steps.Where(s => s.Kind == "tool_result").ToList();
        Assert.True(results.Count == 2, $"{run.Status}: {run.Error}\n{string.Join("\n", run.Steps.Select(s => s.Kind + " " + s.Text))}\n{run.Stderr}");
        Assert.Contains("FIRST-COMMIT-61", results[0].Text, StringComparison.Ordinal);
        Assert.StartsWith("error:", results[1].Text, StringComparison.Ordinal);
        Assert.Contains("git policy", results[1].Text, StringComparison.Ordinal);

        // Refused before it ran: not even the file change in front of the commit happened, and there is one commit.
        var state = await engine.Executions.ExecuteAsync(session.Id, Owners.Alice, new ExecutionRequest
        {
            Language = "bash", Code = "git rev-list --count HEAD; cat a.txt",
        }, CancellationToken.None);
        Assert.Equal("1\none\n", state.Stdout);

        // Codex is held to it by its own execution-policy rules, written into its home before it starts.
        var codexRequests = rig.Model.Requests.Count;
        await using var codexRig = await ScriptedAgentEngine.CreateAsync(fixture, "sk-test-git-policy-codex",
        [
            ScriptedTurn.ToolUse("exec_command", new { cmd = "git log --oneline" }),
            ScriptedTurn.ToolUse("exec_command", new { cmd = "git commit --allow-empty -q -m agent-commit" }),
            ScriptedTurn.ToolUse("exec_command", new { cmd = "cd /workspace && git -C . commit --allow-empty -q -m sneaky" }),
            ScriptedTurn.Final("Tried."),
        ]);
        var codexSession = await codexRig.Engine.Sessions.CreateAsync(new SessionSpec { Image = "agent" }, Owners.Alice, CancellationToken.None);
        await codexRig.Engine.Executions.ExecuteAsync(codexSession.Id, Owners.Alice, new ExecutionRequest { Language = "bash", Code = InitRepository }, CancellationToken.None);
        var codex = await codexRig.Engine.Agents.RunAsync(codexSession.Id, Owners.Alice, new AgentRunRequest
        {
            Agent = CodexAgent.AgentName, Prompt = "Look at the history, then commit.", GitPolicy = AgentGitPolicy.ReadOnly, Timeout = TimeSpan.FromMinutes(3),
        }, CancellationToken.None);
        var outputs = codexRig.Model.Requests.Last(r => r.Path.EndsWith("/responses", StringComparison.Ordinal)).Body;
        Assert.True(codex.Status == AgentRunStatus.Succeeded, $"{codex.Status}: {codex.Error}\n{codex.Stderr}");
        Assert.Contains("FIRST-COMMIT-61", outputs, StringComparison.Ordinal);
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Count(outputs, "rejected: Refused by the git policy of this session"));
        var codexState = await codexRig.Engine.Executions.ExecuteAsync(codexSession.Id, Owners.Alice, new ExecutionRequest
        {
            Language = "bash", Code = "git rev-list --count HEAD",
        }, CancellationToken.None);
        Assert.Equal("1\n", codexState.Stdout);
        // A later run under the full policy finds no rules file left behind: the same two commits go through.
        var full = await codexRig.Engine.Agents.RunAsync(codexSession.Id, Owners.Alice, new AgentRunRequest
        {
            Agent = CodexAgent.AgentName, Prompt = "Now commit.", GitPolicy = AgentGitPolicy.Full, Timeout = TimeSpan.FromMinutes(3),
        }, CancellationToken.None);
        Assert.True(full.Status == AgentRunStatus.Succeeded, $"{full.Status}: {full.Error}");
        codexState = await codexRig.Engine.Executions.ExecuteAsync(codexSession.Id, Owners.Alice, new ExecutionRequest
        {
            Language = "bash", Code = "git rev-list --count HEAD; test -e .sandbox/home/.codex/rules/sandbox-git-policy.rules || echo no-rules",
        }, CancellationToken.None);
        Assert.Equal("3\nno-rules\n", codexState.Stdout);
        await codexRig.Engine.Sessions.CloseAsync(codexSession.Id, Owners.Alice, CancellationToken.None);
        Assert.Equal(codexRequests, rig.Model.Requests.Count);

        // Agents that cannot enforce it refuse it up front.
        var command = await Assert.ThrowsAsync<SandboxException>(() => engine.Agents.StartAsync(session.Id, Owners.Alice, new AgentRunRequest
        {
            Prompt = "x", Agent = CommandAgent.AgentName, Command = ["true"], GitPolicy = AgentGitPolicy.ReadOnly,
        }, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.InvalidArgument, command.Code);
        await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
    }
}
