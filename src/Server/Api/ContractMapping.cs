using System.Reflection;
using System.Text.Json;
using Sandbox.Agents;
using Sandbox.Client.Contracts;
using Sandbox.Execution;
using Sandbox.Files;
using Sandbox.Isolation;
using Sandbox.Packages;
using Sandbox.Sessions;

namespace Sandbox.Server.Api;

/// <summary>Translation between wire contracts and engine types; the only logic the faces share.</summary>
internal static class ContractMapping
{
    public static string ServerVersion { get; } =
        typeof(ContractMapping).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    public static SessionSpec ToSpec(this CreateSessionRequest? r) => new()
    {
        Image = r?.Image,
        Limits = r?.Limits is { } l ? new LimitsRequest
        {
            MemoryMb = l.MemoryMb, Cpus = l.Cpus, Pids = l.Pids, NoFile = l.NoFile, FileSizeMb = l.FileSizeMb,
            WorkspaceMb = l.WorkspaceMb, TmpMb = l.TmpMb,
        } : null,
        IdleTimeout = r?.IdleTimeoutSeconds is { } s ? TimeSpan.FromSeconds(s) : null,
        Isolation = IsolationPolicy.Parse(r?.Isolation),
        Network = r?.Network.ToEngine(),
        FromSnapshot = r?.FromSnapshot,
        Git = r?.Git is { } g ? new Sandbox.Git.GitRequest
        {
            Url = g.Url ?? "", Ref = string.IsNullOrEmpty(g.Ref) ? null : g.Ref, Credentials = string.IsNullOrEmpty(g.Credentials) ? null : g.Credentials,
            Shallow = g.Shallow, Submodules = g.Submodules,
        } : null,
        Setup = r?.Setup,
        Context = r?.Context,
    };

    public static GitWorkspaceDto? ToDto(this Sandbox.Git.GitWorkspace? g) =>
        g is null ? null : new(g.Url, g.Ref, g.Credentials, g.BaseCommit, g.Branch, g.Shallow);

    public static GitCommitDto ToDto(this Sandbox.Git.GitCommit c) => new(c.Id, c.Subject, c.Author, c.Date);

    public static GitRunChangesDto? ToDto(this Sandbox.Git.GitRunChanges? g) =>
        g is null ? null : new(g.Branch, g.BaseCommit, g.HeadCommit, g.Commits.Select(ToDto).ToList(), g.Uncommitted);

    public static GitExportDto ToDto(this Sandbox.Git.GitExport e, string? url) => new()
    {
        Format = e.Format, Path = e.Path, Size = e.Size, Sha256 = e.Sha256, BaseCommit = e.BaseCommit, HeadCommit = e.HeadCommit, Branch = e.Branch,
        Commits = e.Commits.Select(ToDto).ToList(), Uncommitted = e.Uncommitted, Content = e.Content, ContentBase64 = e.ContentBase64, Url = url,
    };

    public static GitPushDto ToDto(this Sandbox.Git.GitPushResult p) => new(p.RemoteBranch, p.Commit, p.Url, p.Commits.Select(ToDto).ToList(), p.Uncommitted);

    public static SnapshotDto ToDto(this Sandbox.Snapshots.SnapshotInfo s) =>
        new(s.SnapshotId, s.Name, s.SourceSessionId, s.Image, s.SizeBytes, s.Files, s.CreatedAt);

    public static Sandbox.Egress.NetworkRequest? ToEngine(this NetworkDto? n) =>
        n is null ? null : new Sandbox.Egress.NetworkRequest { Allow = n.Allow ?? [], Secrets = n.Secrets ?? [] };

    public static NetworkDto? ToDto(this Sandbox.Egress.SessionNetwork? n) =>
        n is null ? null : new NetworkDto { Allow = n.Allow, Secrets = n.Secrets, Proxy = n.Proxy };

    public static ExecutionRequest ToEngine(this ExecuteRequest r)
    {
        if (r.Code is null)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "code is required.");
        }
        if (r.TimeoutSeconds is { } t && (double.IsNaN(t) || t <= 0 || t > 86_400))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "timeout_seconds must be a positive number of seconds.");
        }
        return new ExecutionRequest
        {
            Code = r.Code,
            Language = string.IsNullOrEmpty(r.Language) ? "python" : r.Language,
            Timeout = r.TimeoutSeconds is { } ts ? TimeSpan.FromSeconds(ts) : null,
            Fresh = r.Fresh ?? false,
            Allow = r.Allow ?? [],
            WaitFor = Wait(r.WaitSeconds),
            MaxOutputChars = r.MaxOutputChars,
        };
    }

    public static LimitsDto ToDto(this SandboxLimits l) => new()
    {
        MemoryMb = l.MemoryMb, Cpus = l.Cpus, Pids = l.Pids, NoFile = l.NoFile, FileSizeMb = l.FileSizeMb,
        WorkspaceMb = l.WorkspaceMb, TmpMb = l.TmpMb,
    };

    public static SessionDto ToDto(this SessionInfo s) => new()
    {
        Id = s.Id, Image = s.Image, Status = s.Status.ToString().ToLowerInvariant(), Limits = s.Limits.ToDto(),
        CreatedAt = s.CreatedAt, LastUsedAt = s.LastUsedAt, IdleTimeoutSeconds = s.IdleTimeout.TotalSeconds,
        ExpiresAt = s.ExpiresAt, Busy = s.Busy, ExecutionCount = s.ExecutionCount, LostReason = s.LostReason,
        Isolation = IsolationPolicy.Name(s.Isolation), Network = s.Network.ToDto(), Ports = s.Ports ?? [],
        Git = s.Git.ToDto(), Context = s.Context, Node = s.Node,
    };

    public static ExecutionResultDto ToDto(this ExecutionResult r) => new()
    {
        ExecutionId = r.ExecutionId, Stdout = r.Stdout, Stderr = r.Stderr, ExitCode = r.ExitCode,
        Error = r.Error is { } e ? new ExecutionErrorDto(e.Type, e.Message, e.Traceback) : null,
        TimedOut = r.TimedOut, Truncated = r.Truncated, StateLost = r.StateLost, DurationMs = Math.Round(r.DurationMs, 3),
        Images = r.Images.Select(i => new ImageDto(i.Format, i.Base64)).ToList(),
        Findings = r.Findings.Select(f => new FindingDto(f.RuleId, f.Line, f.Message, f.Name)).ToList(),
        Status = r.Status.ToString().ToLowerInvariant(), Failure = r.Failure is { } x ? new ErrorDto(x.Code, x.Message) : null,
        Cursor = r.Cursor, StdoutBytes = r.StdoutBytes, StderrBytes = r.StderrBytes, OutputLog = r.OutputLog,
    };

    public static Sandbox.Processes.ProcessRequest ToEngine(this StartProcessRequest r) => new()
    {
        Command = r.Command, Argv = r.Argv, Cwd = r.Cwd, Env = r.Env, Allow = r.Allow ?? [],
    };

    public static ProcessDto ToDto(this Sandbox.Processes.ProcessInfo p) =>
        new(p.ProcessId, p.Command, p.Running, p.ExitCode, p.StartedAt, p.StdoutBytes, p.StderrBytes, p.OutputLog);

    public static ProcessOutputDto ToDto(this Sandbox.Processes.ProcessOutput o) =>
        new(o.Process.ToDto(), o.Stdout, o.Stderr, o.StdoutCursor, o.StderrCursor, o.SkippedBytes);

    public static ExecutionSummaryDto ToDto(this ExecutionSummary s) =>
        new(s.ExecutionId, s.Language, s.Status.ToString().ToLowerInvariant(), s.StartedAt, Math.Round(s.DurationMs, 3));

    public static OutputSliceDto ToDto(this OutputSlice s) => new(s.ExecutionId, s.Stream, s.Offset, s.Length, s.TotalBytes, s.Text);

    public static OutputMatchesDto ToDto(this OutputMatches m) =>
        new(m.ExecutionId, m.Stream, m.Matches.Select(x => new OutputMatchDto(x.Line, x.Offset, x.Text)).ToList(), m.More);

    /// <summary>The engine's wait in seconds, checked.</summary>
    public static TimeSpan? Wait(double? seconds, string name = "wait_seconds") => seconds switch
    {
        null => null,
        { } w when double.IsNaN(w) || w < 0 || w > 3600 => throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"{name} must be between 0 and 3600 seconds."),
        { } w => TimeSpan.FromSeconds(w),
    };

    public static ExecutionStreamEvent ToDto(this ExecutionEvent e) => e switch
    {
        OutputEvent o => new ExecutionStreamEvent { Type = "output", Stream = o.Stream, Text = o.Text },
        ImageEvent i => new ExecutionStreamEvent { Type = "image", Image = new ImageDto(i.Image.Format, i.Image.Base64) },
        CompletedEvent c => new ExecutionStreamEvent { Type = "result", Result = c.Result.ToDto() },
        _ => throw new ArgumentOutOfRangeException(nameof(e)),
    };

    public static AgentRunRequest ToEngine(this RunAgentRequest r)
    {
        if (r.TimeoutSeconds is { } t && (double.IsNaN(t) || t <= 0 || t > 86_400))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "timeout_seconds must be a positive number of seconds.");
        }
        return new AgentRunRequest
        {
            Prompt = r.Prompt ?? "",
            Agent = string.IsNullOrEmpty(r.Agent) ? ClaudeCodeAgent.AgentName : r.Agent,
            Model = string.IsNullOrEmpty(r.Model) ? null : r.Model,
            MaxTurns = r.MaxTurns,
            Timeout = r.TimeoutSeconds is { } ts ? TimeSpan.FromSeconds(ts) : null,
            SystemPrompt = string.IsNullOrEmpty(r.SystemPrompt) ? null : r.SystemPrompt,
            Env = r.Env ?? new Dictionary<string, string>(),
            Command = r.Command,
            ModelEndpoint = string.IsNullOrEmpty(r.ModelEndpoint) ? null : r.ModelEndpoint,
            ApiKey = string.IsNullOrEmpty(r.ApiKey) ? null : r.ApiKey,
            Branch = string.IsNullOrEmpty(r.Branch) ? null : r.Branch,
        };
    }

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
        Git = r.Git.ToDto(),
    };

    public static AgentStepDto ToDto(this AgentStep s) => new(s.Index, s.Kind, s.Text, s.Tool);

    public static AgentRunStreamEvent ToDto(this AgentRunEvent e) => e switch
    {
        AgentStartedEvent s => new AgentRunStreamEvent { Type = "started", Run = s.Run.ToDto(trajectory: false) },
        AgentStepEvent s => new AgentRunStreamEvent { Type = "step", Step = s.Step.ToDto() },
        AgentCompletedEvent c => new AgentRunStreamEvent { Type = "result", Run = c.Run.ToDto() },
        _ => throw new ArgumentOutOfRangeException(nameof(e)),
    };

    public static Sandbox.Packages.PackageInstallRequest ToEngine(this InstallPackagesRequest r) => new()
    {
        Manager = string.IsNullOrEmpty(r.Manager) ? "pip" : r.Manager,
        Packages = r.Packages ?? [],
    };

    public static PackageInstallResultDto ToDto(this Sandbox.Packages.PackageInstallResult r) => new(r.Manager,
        r.Installed.Select(i => new InstalledPackageDto(i.Name, i.Version, i.Manager, i.Cached, i.Bytes)).ToList(), r.Location, Math.Round(r.DurationMs, 3));

    public static PackagesDto ToDto(this ImagePackages p) =>
        new(p.Image, p.Reference, p.Languages, p.Packages.Select(x => new PackageDto(x.Name, x.Version, x.Manager)).ToList());

    public static HistoryEntryDto ToDto(this Sandbox.Storage.HistoryEntry h) =>
        new(h.Kind, h.At, h.Language, h.CodeSha256, h.CodeSize, h.ExitCode, h.ErrorType, h.TimedOut, h.DurationMs, h.Output);

    public static FileEntryDto ToDto(this FileEntry f) => new(f.Name, f.Path, f.Kind, f.Size, f.ModifiedAt);

    public static HealthDto ToDto(this SandboxHealth h) => new()
    {
        Status = h.Healthy ? "ok" : "degraded",
        Version = ServerVersion,
        Engine = new EngineDto(h.Engine.Reachable, h.Engine.Version, h.Engine.ApiVersion, h.Engine.Error),
        Images = h.Images.Select(i => new ImageStatusDto(i.Name, i.Reference, i.Present, i.Id)).ToList(),
        Sessions = h.Sessions,
        Problems = h.Problems,
        Isolation = new IsolationDto(IsolationPolicy.Name(h.Isolation.Default), IsolationPolicy.Name(h.Isolation.Configured),
            h.Isolation.Available.Select(IsolationPolicy.Name).ToList(), h.Isolation.Required, h.Isolation.Problem),
    };

    public static ErrorDto ToError(this SandboxException e) => new(e.Code, e.Message,
        e.Details is null ? null : JsonSerializer.SerializeToElement(e.Details, SandboxJson.Options));

    /// <summary>HTTP status for each stable error code (RFC 9457 problem details carry the code too).</summary>
    public static int HttpStatus(string code) => code switch
    {
        SandboxErrorCodes.SessionNotFound or SandboxErrorCodes.FileNotFound or SandboxErrorCodes.RunNotFound or SandboxErrorCodes.ExecutionNotFound or SandboxErrorCodes.ProcessNotFound or SandboxErrorCodes.SnapshotNotFound => StatusCodes.Status404NotFound,
        SandboxErrorCodes.SessionBusy or SandboxErrorCodes.ExecutionCancelled => StatusCodes.Status409Conflict,
        SandboxErrorCodes.SessionLost => StatusCodes.Status410Gone,
        SandboxErrorCodes.LimitExceeded or SandboxErrorCodes.InvalidArgument or SandboxErrorCodes.InvalidPath
            or SandboxErrorCodes.ImageNotFound or SandboxErrorCodes.AgentUnavailable => StatusCodes.Status400BadRequest,
        SandboxErrorCodes.CapacityExceeded => StatusCodes.Status429TooManyRequests,
        SandboxErrorCodes.Timeout => StatusCodes.Status504GatewayTimeout,
        SandboxErrorCodes.UnsafeCode or SandboxErrorCodes.PackageUnavailable or SandboxErrorCodes.IsolationUnavailable => StatusCodes.Status422UnprocessableEntity,
        SandboxErrorCodes.WorkspaceFull => StatusCodes.Status507InsufficientStorage,
        SandboxErrorCodes.FileTooLarge => StatusCodes.Status413PayloadTooLarge,
        SandboxErrorCodes.EngineUnavailable => StatusCodes.Status503ServiceUnavailable,
        SandboxErrorCodes.StoreUnavailable => StatusCodes.Status503ServiceUnavailable,
        SandboxErrorCodes.NodeUnavailable => StatusCodes.Status503ServiceUnavailable,
        SandboxErrorCodes.Forbidden or SandboxErrorCodes.EgressNotPermitted => StatusCodes.Status403Forbidden,
        SandboxErrorCodes.GitRefNotFound or SandboxErrorCodes.GitRepoNotFound or SandboxErrorCodes.NotAGitSession
            or SandboxErrorCodes.SetupFailed => StatusCodes.Status422UnprocessableEntity,
        SandboxErrorCodes.GitAuthFailed or SandboxErrorCodes.GitUnreachable or SandboxErrorCodes.GitFailed => StatusCodes.Status502BadGateway,
        SandboxErrorCodes.GitPushRejected => StatusCodes.Status409Conflict,
        _ => StatusCodes.Status500InternalServerError,
    };
}
