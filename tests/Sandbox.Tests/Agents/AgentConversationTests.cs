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
        await engine.Sessions.CloseAsync(session.Id, Owners.Alice, CancellationToken.None);
    }

    /// <summary>Bodies of the model requests after the first <paramref name="skip"/> that carry tools (the agent's turns,
    /// not its side queries).</summary>
    private static List<string> ConversationRequests(ScriptedModelEndpoint model, int skip) =>
        [.. model.Requests.Skip(skip).Where(r => r.Path.StartsWith("/v1/messages", StringComparison.Ordinal) && r.Body.Contains("\"tools\"", StringComparison.Ordinal))
            .Select(r => r.Body)];
}
