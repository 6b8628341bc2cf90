using Sandbox.Agents;
using Sandbox.Sessions;
using Sandbox.Testing;
using Sandbox.Tests.Common;

namespace Sandbox.Tests.Agents;

/// <summary>Talking to a headless agent: a finished run's conversation goes on in a later run (the real Claude Code CLI
/// resuming its own session against a scripted model endpoint), also after the session was paused and resumed.</summary>
[Collection(EngineCollection.Name)]
public sealed class AgentConversationTests(EngineFixture fixture)
{
    [Fact]
    public async Task A_run_the_server_never_finished_is_found_after_a_crash_failed_with_its_conversation_to_continue()
    {
        var data = Directory.CreateTempSubdirectory("sandbox-agent-crash-").FullName;
        // The model never answers: the run stays running after Claude Code has named its conversation.
        await using var rig = await ScriptedAgentEngine.CreateAsync(fixture, "sk-ant-test-crash", [ScriptedTurn.Final("never")], o =>
        {
            o.Durability.Store = Sandbox.Durability.StoreKind.Sqlite;
            o.Durability.DataDirectory = data;
        }, hang: true);
        var engine = rig.Engine;
        await engine.Recovery.InitializeAsync(CancellationToken.None);
        var session = await engine.Sessions.CreateAsync(new SessionSpec { Image = "agent" }, Owners.Alice, CancellationToken.None);
        try
        {
            var run = await engine.Agents.StartAsync(session.Id, Owners.Alice, new AgentRunRequest { Prompt = "Think (GAMMA-5120)", Timeout = TimeSpan.FromMinutes(3) }, CancellationToken.None);
            var deadline = DateTime.UtcNow.AddMinutes(2);
            while ((await engine.Agents.GetAsync(session.Id, Owners.Alice, run.Id, CancellationToken.None)).Conversation is null && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
            await Task.Delay(500); // the record's save in flight
            // Another process of the same server reconciles the same store while the first one never ended its run (as
            // after a crash): the run is there, failed, with its conversation, and says how to go on.
            var after = fixture.CreateEngine(o =>
            {
                o.Durability.Store = Sandbox.Durability.StoreKind.Sqlite;
                o.Durability.DataDirectory = data;
            });
            await after.Agents.ReconcileAsync(CancellationToken.None);
            var found = await after.Agents.GetAsync(session.Id, Owners.Alice, run.Id, CancellationToken.None);
            Assert.Equal(AgentRunStatus.Failed, found.Status);
            Assert.Contains("continue_agent", found.Error, StringComparison.Ordinal);
            Assert.NotNull(found.Conversation);
            Assert.Equal("Think (GAMMA-5120)", found.Prompt);
            await engine.Agents.CancelAsync(session.Id, Owners.Alice, run.Id, CancellationToken.None);
        }
        finally
        {
            await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            // The first engine's journal may still be writing its last history entries: a temporary folder, removed best-effort.
            for (var attempt = 0; attempt < 20 && Directory.Exists(data); attempt++)
            {
                try
                {
                    Directory.Delete(data, recursive: true);
                }
                catch (IOException)
                {
                    await Task.Delay(250);
                }
            }
        }
    }

    [Fact]
    public async Task Continue_sends_the_earlier_conversation_with_the_next_message_also_after_a_pause()
    {
        // The n-th request of a conversation gets the n-th turn (counted by tool results): the first run writes a file
        // and ends; a continuation (one tool result already in it) gets the final answer.
        await using var rig = await ScriptedAgentEngine.CreateAsync(fixture, "sk-ant-test-conversation",
        [
            ScriptedTurn.ToolUse("Write", new { file_path = "/workspace/notes.txt", content = "first\n" }),
            ScriptedTurn.Final("Turn done."),
        ]);
        var (engine, model) = (rig.Engine, rig.Model);
        var session = await engine.Sessions.CreateAsync(new SessionSpec { Image = "agent" }, Owners.Alice, CancellationToken.None);
        var timeout = TimeSpan.FromMinutes(3);

        var first = await engine.Agents.RunAsync(session.Id, Owners.Alice, new AgentRunRequest { Prompt = "Write notes.txt (ALPHA-7431)", Timeout = timeout }, CancellationToken.None);
        Assert.True(first.Status == AgentRunStatus.Succeeded, $"{first.Status}: {first.Error}\n{first.Stderr}");
        Assert.NotNull(first.Conversation);
        Assert.Null(first.ContinuesRunId);

        var seen = model.Requests.Count;
        var second = await engine.Agents.RunAsync(session.Id, Owners.Alice, new AgentRunRequest
        {
            Prompt = "Now say you are done (BETA-2298)", Continue = first.Id, Timeout = timeout,
        }, CancellationToken.None);
        Assert.True(second.Status == AgentRunStatus.Succeeded, $"{second.Status}: {second.Error}\n{second.Stderr}");
        Assert.Equal(first.Id, second.ContinuesRunId);
        Assert.Equal("Turn done.", second.FinalMessage);
        var asked = ConversationRequests(model, seen);
        // The model saw the whole conversation: the first prompt, the tool call's result, and the new message.
        Assert.Contains(asked, b => b.Contains("ALPHA-7431", StringComparison.Ordinal) && b.Contains("tool_result", StringComparison.Ordinal)
                                    && b.Contains("BETA-2298", StringComparison.Ordinal));

        // The conversation lives in the session: a pause and resume keep it; "latest" names the newest run.
        await engine.Sessions.PauseAsync(session.Id, Owners.Alice, CancellationToken.None);
        await engine.Sessions.ResumeAsync(session.Id, Owners.Alice, CancellationToken.None);
        seen = model.Requests.Count;
        var third = await engine.Agents.RunAsync(session.Id, Owners.Alice, new AgentRunRequest
        {
            Prompt = "And once more (GAMMA-5120)", Continue = AgentRunRequest.LatestRun, Timeout = timeout,
        }, CancellationToken.None);
        Assert.True(third.Status == AgentRunStatus.Succeeded, $"{third.Status}: {third.Error}\n{third.Stderr}");
        Assert.Equal(second.Id, third.ContinuesRunId);
        Assert.Contains(ConversationRequests(model, seen), b => b.Contains("ALPHA-7431", StringComparison.Ordinal)
                                                               && b.Contains("BETA-2298", StringComparison.Ordinal) && b.Contains("GAMMA-5120", StringComparison.Ordinal));

        // What cannot be continued says why, before anything starts.
        var unknown = await Assert.ThrowsAsync<SandboxException>(() => engine.Agents.StartAsync(session.Id, Owners.Alice,
            new AgentRunRequest { Prompt = "x", Continue = "run_nope" }, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.RunNotFound, unknown.Code);
        var stranger = await Assert.ThrowsAsync<SandboxException>(() => engine.Agents.StartAsync(session.Id, Owners.Bob,
            new AgentRunRequest { Prompt = "x", Continue = first.Id }, CancellationToken.None));
        Assert.Equal(SandboxErrorCodes.SessionNotFound, stranger.Code);

        // A fork has the conversation (the agent's home is in the workspace): it continues the original's run by id; a
        // session that is no fork of it is refused, naming why.
        var fork = (await engine.Sessions.ForkAsync(session.Id, Owners.Alice, 1, CancellationToken.None)).Single();
        var other = await engine.Sessions.CreateAsync(new SessionSpec { Image = "agent" }, Owners.Alice, CancellationToken.None);
        try
        {
            seen = model.Requests.Count;
            var forked = await engine.Agents.RunAsync(fork.Id, Owners.Alice, new AgentRunRequest
            {
                Prompt = "In the fork (DELTA-6071)", Continue = third.Id, Timeout = timeout,
            }, CancellationToken.None);
            Assert.True(forked.Status == AgentRunStatus.Succeeded, $"{forked.Status}: {forked.Error}\n{forked.Stderr}");
            Assert.Equal((third.Id, fork.Id), (forked.ContinuesRunId, forked.SessionId));
            Assert.Contains(ConversationRequests(model, seen), b => b.Contains("ALPHA-7431", StringComparison.Ordinal) && b.Contains("DELTA-6071", StringComparison.Ordinal));
            var notThere = await Assert.ThrowsAsync<SandboxException>(() => engine.Agents.StartAsync(other.Id, Owners.Alice,
                new AgentRunRequest { Prompt = "x", Continue = third.Id }, CancellationToken.None));
            Assert.Equal(SandboxErrorCodes.InvalidArgument, notThere.Code);
            Assert.Contains("not in this session", notThere.Message, StringComparison.Ordinal);
        }
        finally
        {
            await engine.Sessions.CloseAsync(fork.Id, Owners.Alice, CancellationToken.None);
            await engine.Sessions.CloseAsync(other.Id, Owners.Alice, CancellationToken.None);
        }
        await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
    }

    /// <summary>Bodies of the model requests after the first <paramref name="skip"/> that carry tools (the agent's turns,
    /// not its side queries).</summary>
    private static List<string> ConversationRequests(ScriptedModelEndpoint model, int skip) =>
        [.. model.Requests.Skip(skip).Where(r => r.Path.StartsWith("/v1/messages", StringComparison.Ordinal) && r.Body.Contains("\"tools\"", StringComparison.Ordinal))
            .Select(r => r.Body)];
}
