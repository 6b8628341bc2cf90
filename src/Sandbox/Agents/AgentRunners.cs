using System.Text.Json;

namespace Sandbox.Agents;

/// <summary>How to start an agent: an argument vector (never a shell string) and the environment of that process only.</summary>
/// <param name="Argv">Program and arguments.</param>
/// <param name="Env">Environment added for the agent process.</param>
/// <param name="HomeFiles">Set-up files the agent needs in its home (relative names), written where none is yet.</param>
public sealed record AgentLaunch(IReadOnlyList<string> Argv, IReadOnlyDictionary<string, string> Env, IReadOnlyDictionary<string, string>? HomeFiles = null);

/// <summary>What the engine provides to every agent run.</summary>
/// <param name="ModelBaseUrl">The model proxy's URL as the agent sees it (the proxy adds the real key).</param>
/// <param name="PlaceholderKey">What to give the agent as its API key: a placeholder, since the proxy holds the real one.</param>
/// <param name="HomeDirectory">A writable home for the agent's own configuration, outside the workspace.</param>
/// <param name="Conversation">The agent's conversation to resume (from an earlier run's <see cref="AgentRun.Conversation"/>), or null.</param>
/// <param name="GitPolicy">What the agent may do with git; an agent that cannot enforce <see cref="AgentGitPolicy.ReadOnly"/> refuses it.</param>
public sealed record AgentContext(string ModelBaseUrl, string PlaceholderKey, string HomeDirectory, string? Conversation = null,
    AgentGitPolicy GitPolicy = AgentGitPolicy.Full);

/// <summary>What a run's events say, collected while it runs.</summary>
public sealed class AgentOutcome
{
    /// <summary>Readable steps so far.</summary>
    public List<AgentStep> Steps { get; } = [];
    /// <summary>The agent's final message.</summary>
    public string? FinalMessage { get; set; }
    /// <summary>Turns reported.</summary>
    public int? Turns { get; set; }
    /// <summary>Usage reported.</summary>
    public JsonElement? Usage { get; set; }
    /// <summary>Cost reported in US dollars.</summary>
    public double? CostUsd { get; set; }
    /// <summary>Set when the agent itself reported failure, with its reason.</summary>
    public string? ReportedError { get; set; }
    /// <summary>The agent's id of its conversation, once it said it (a later run may resume it).</summary>
    public string? Conversation { get; set; }
    /// <summary>Model turns so far (live, before the agent's own count at its end).</summary>
    public int TurnsSoFar { get; set; }
    /// <summary>Input tokens the agent's model calls reported so far.</summary>
    public long InputTokensSoFar { get; set; }
    /// <summary>Output tokens the agent's model calls reported so far.</summary>
    public long OutputTokensSoFar { get; set; }
    /// <summary>The model message counted last (an agent may report one message in several events).</summary>
    internal string? LastMessage { get; set; }
    /// <summary>Whether tool results came back since that message (what follows them is a new turn).</summary>
    internal bool ResultsSinceMessage { get; set; }

    /// <summary>Adds one model turn's tokens and a <c>usage</c> step saying the totals so far.</summary>
    public void CountTurn(int index, long input, long output)
    {
        TurnsSoFar++;
        InputTokensSoFar += input;
        OutputTokensSoFar += output;
        Steps.Add(new AgentStep(index, "usage", string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"turn {TurnsSoFar}: {InputTokensSoFar} tokens in, {OutputTokensSoFar} out so far")));
    }

    /// <summary>Adds a <c>file</c> step: the agent changes a file (path relative to the workspace when inside it).</summary>
    public void ChangeFile(int index, string change, string path, string? tool)
    {
        var relative = path.StartsWith("/workspace/", StringComparison.Ordinal) ? path["/workspace/".Length..] : path;
        Steps.Add(new AgentStep(index, "file", ClaudeCodeAgent.Clip(change + " " + relative), tool));
    }
}

/// <summary>A coding agent the engine can run in a session. Add more with <see cref="AgentRunService.RegisterAgent"/>.</summary>
public interface IAgentRunner
{
    /// <summary>The name callers use (<c>agent</c> argument).</summary>
    string Name { get; }

    /// <summary>The model API it speaks (its proxy's endpoint, key and paths follow from it).</summary>
    AgentModelApi ModelApi => AgentModelApi.Anthropic;

    /// <summary>Builds the command for a request. Throws <see cref="SandboxException"/> for a request it cannot run.</summary>
    AgentLaunch Build(AgentRunRequest request, AgentContext context);

    /// <summary>Reads one event the agent printed (a JSON object; plain lines arrive as <c>{"type":"output","text":…}</c>).</summary>
    void Interpret(JsonElement e, int index, AgentOutcome outcome);

    /// <summary>Whether the agent can resume a conversation (<see cref="AgentContext.Conversation"/>).</summary>
    bool CanResume => false;

    /// <summary>Where in its home the agent keeps a conversation (home-relative), when that is known; null otherwise.</summary>
    string? ConversationFile(string conversation) => null;

    /// <summary>Where in its home the agent reads skills (folders with a <c>SKILL.md</c>), or null when it has none.</summary>
    string? SkillsFolder => null;

    /// <summary>The file in its home the agent reads standing instructions from, or null when it has none.</summary>
    string? InstructionsFile => null;

    /// <summary>Whether the agent takes <see cref="AgentRunRequest.MaxTurns"/> (the server's default applies to it).</summary>
    bool TakesMaxTurns => false;

    /// <summary>Files in its home that carry a policy (home-relative name → text; null: the file must not be there),
    /// written before every start, headless or interactive, so what an earlier run or the agent itself left there
    /// never decides.</summary>
    IReadOnlyDictionary<string, string?> PolicyFiles(AgentGitPolicy policy) => new Dictionary<string, string?>();

    /// <summary>Builds the command of the agent's own interactive interface (for a terminal a person attaches to);
    /// <see cref="AgentRunRequest.Prompt"/>, when given, is its first message. Throws <see cref="SandboxException"/>
    /// for an agent that has none.</summary>
    AgentLaunch BuildInteractive(AgentRunRequest request, AgentContext context) =>
        throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"Agent '{Name}' has no interactive interface; run it with run_agent.");
}
