using System.Text.Json;
using Sandbox.Agents;
using Sandbox.Client.Contracts;

namespace Sandbox.Server.Contracts;

/// <summary>Agent runs and their events between the wire and the engine.</summary>
internal static partial class ContractMapping
{
    public static AgentRunRequest ToEngine(this RunAgentRequest r)
    {
        var timeout = ContractValidation.Timeout(r.TimeoutSeconds, 86_400);
        return new AgentRunRequest
        {
            Prompt = r.Prompt ?? "",
            Agent = string.IsNullOrEmpty(r.Agent) ? ClaudeCodeAgent.AgentName : r.Agent,
            Model = string.IsNullOrEmpty(r.Model) ? null : r.Model,
            MaxTurns = r.MaxTurns,
            Timeout = timeout,
            SystemPrompt = string.IsNullOrEmpty(r.SystemPrompt) ? null : r.SystemPrompt,
            Env = r.Env ?? new Dictionary<string, string>(),
            Command = r.Command,
            ModelEndpoint = string.IsNullOrEmpty(r.ModelEndpoint) ? null : r.ModelEndpoint,
            ApiKey = string.IsNullOrEmpty(r.ApiKey) ? null : r.ApiKey,
            Branch = string.IsNullOrEmpty(r.Branch) ? null : r.Branch,
            Continue = string.IsNullOrEmpty(r.Continue) ? null : r.Continue,
            GitPolicy = ToGitPolicy(r.GitPolicy),
            AllowedTools = r.AllowedTools, DisallowedTools = r.DisallowedTools, MaxThinkingTokens = r.MaxThinkingTokens, AddDirs = r.AddDirs,
            ExtraArgs = r.ExtraArgs, Settings = r.Settings is { ValueKind: not JsonValueKind.Null and not JsonValueKind.Undefined } settings ? settings : null,
            Instructions = r.Instructions, Skills = r.Skills ?? [], RemoteSkills = r.RemoteSkills ?? [],
            SkillsArchive = string.IsNullOrEmpty(r.SkillsArchiveBase64) ? (ReadOnlyMemory<byte>?)null : new ReadOnlyMemory<byte>(ContractValidation.Base64(r.SkillsArchiveBase64, "skills_archive_base64")),
            McpServers = r.McpServers?.ToDictionary(m => m.Key, m => new AgentMcpServer
            {
                Type = m.Value?.Type, Command = m.Value?.Command, Args = m.Value?.Args, Env = m.Value?.Env, Url = m.Value?.Url, Secret = m.Value?.Secret,
            }, StringComparer.Ordinal),
        };
    }

    /// <summary>A job request as the engine's: a job's session is an agent session unless it names another image.</summary>
    public static AgentJobRequest ToEngine(this RunAgentJobRequest r)
    {
        var session = (r.Session ?? new CreateSessionRequest()).ToSpec();
        return new AgentJobRequest
        {
            Session = r.Session?.Image is null ? session with { Image = "agent" } : session,
            Run = (r.Run ?? throw new SandboxException(SandboxErrorCodes.InvalidArgument, "run is required: the prompt and the agent's options.")).ToEngine(),
            Editable = string.IsNullOrEmpty(r.EditableArchiveBase64) ? (ReadOnlyMemory<byte>?)null : new ReadOnlyMemory<byte>(ContractValidation.Base64(r.EditableArchiveBase64, "editable_archive_base64")),
            EditablePath = r.EditablePath ?? "",
        };
    }

    /// <summary>A job on the wire: its run and the links to its results.</summary>
    public static AgentJobDto ToJobDto(this AgentRun r, bool trajectory = false)
    {
        var session = "/api/sessions/" + Uri.EscapeDataString(r.SessionId);
        return new AgentJobDto
        {
            Id = r.Id, SessionId = r.SessionId, Status = JsonNamingPolicy.SnakeCaseLower.ConvertName(r.Status.ToString()), Run = r.ToDto(trajectory),
            Links = new AgentJobLinks("/api/jobs/" + r.Id, $"{session}/agent-runs/{r.Id}", session, $"{session}/editable.zip", $"{session}/editable.tar.gz",
                $"{session}/diff", $"{session}/summary"),
        };
    }

    /// <summary>A session's changes on the wire.</summary>
    public static SessionChangesDto ToDto(this SessionChangesReport c) => new(c.SessionId,
        new ChangeSummaryDto(c.Summary.FilesAdded, c.Summary.FilesModified, c.Summary.FilesDeleted, c.Summary.LinesAdded, c.Summary.LinesRemoved, c.Summary.Commits, c.Summary.Text),
        c.Changes.Select(x => new AgentFileChangeDto(x.Path, x.Change, x.Binary, x.Size)).ToList(), c.Diff, c.Truncated, c.Runs, c.FinalMessage);

    /// <summary>An open-terminal request naming an agent, as the engine's request for its interactive interface.</summary>
    public static AgentRunRequest ToInteractiveAgent(this OpenTerminalRequest r)
    {
        var timeout = ContractValidation.Timeout(r.TimeoutSeconds, 7 * 86_400);
        return new AgentRunRequest
        {
            Prompt = r.Prompt ?? "", Agent = r.Agent ?? ClaudeCodeAgent.AgentName, Model = string.IsNullOrEmpty(r.Model) ? null : r.Model,
            Env = r.Env ?? new Dictionary<string, string>(), ModelEndpoint = string.IsNullOrEmpty(r.ModelEndpoint) ? null : r.ModelEndpoint,
            ApiKey = string.IsNullOrEmpty(r.ApiKey) ? null : r.ApiKey, Timeout = timeout,
            GitPolicy = ToGitPolicy(r.GitPolicy), Continue = r.Continue ? AgentRunRequest.LatestRun : null,
        };
    }

    private static AgentGitPolicy? ToGitPolicy(string? policy) => policy switch
    {
        null or "" => null,
        "full" => AgentGitPolicy.Full,
        "read_only" => AgentGitPolicy.ReadOnly,
        _ => throw new SandboxException(SandboxErrorCodes.InvalidArgument, "git_policy is 'full' or 'read_only'."),
    };

    /// <summary>A terminal on the wire.</summary>
    public static TerminalDto ToDto(this Sandbox.Terminals.TerminalInfo t) =>
        new(t.Id, t.StartedAt, t.Viewers, t.HasWriter, t.Running, t.ExitCode, t.Kind, t.EndsAt);

    /// <summary>A run on the wire; <paramref name="trajectory"/> false leaves the (possibly large) event list out.</summary>
    public static AgentRunDto ToDto(this AgentRun r, bool trajectory = true) => new()
    {
        Id = r.Id, SessionId = r.SessionId, Agent = r.Agent, Model = r.Model, Prompt = r.Prompt, ModelEndpoint = r.ModelEndpoint,
        Status = JsonNamingPolicy.SnakeCaseLower.ConvertName(r.Status.ToString()), StartedAt = r.StartedAt, EndedAt = r.EndedAt,
        DurationMs = Math.Round(r.DurationMs, 3), FinalMessage = r.FinalMessage, Error = r.Error, ExitCode = r.ExitCode, Turns = r.Turns,
        Usage = r.Usage, CostUsd = r.CostUsd,
        Changes = r.Changes.Select(c => new AgentFileChangeDto(c.Path, c.Change, c.Binary, c.Size)).ToList(),
        Diff = r.Diff, DiffTruncated = r.DiffTruncated, Steps = r.Steps.Select(ToDto).ToList(),
        Trajectory = trajectory ? r.Trajectory : null, TrajectoryTruncated = r.TrajectoryTruncated,
        Stderr = string.IsNullOrEmpty(r.Stderr) ? null : r.Stderr,
        Git = r.Git.ToDto(), Conversation = r.Conversation, ContinuesRunId = r.ContinuesRunId,
        GitPolicy = r.GitPolicy == AgentGitPolicy.ReadOnly ? "read_only" : "full",
        Skills = r.Skills.Select(s => new AgentSkillDto(s.Name, s.Description, s.Source)).ToList(), McpServers = r.McpServers, Summary = r.Summary,
    };

    public static AgentStepDto ToDto(this AgentStep s) => new(s.Index, s.Kind, s.Text, s.Tool);

    public static AgentRunStreamEvent ToDto(this AgentRunEvent e) => e switch
    {
        AgentStartedEvent s => new AgentRunStreamEvent { Type = "started", Run = s.Run.ToDto(trajectory: false) },
        AgentStepEvent s => new AgentRunStreamEvent { Type = "step", Step = s.Step.ToDto() },
        AgentCommitEvent c => new AgentRunStreamEvent { Type = "commit", Commit = new AgentCommitDto(c.Commit.Id, c.Commit.Subject, c.Commit.Files) },
        AgentCompletedEvent c => new AgentRunStreamEvent { Type = "result", Run = c.Run.ToDto() },
        _ => throw new ArgumentOutOfRangeException(nameof(e)),
    };
}
