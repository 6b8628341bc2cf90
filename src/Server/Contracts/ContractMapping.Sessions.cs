using Sandbox.Client.Contracts;
using Sandbox.Files;
using Sandbox.Isolation;
using Sandbox.Sessions;

namespace Sandbox.Server.Contracts;

/// <summary>Sessions, limits, networks, snapshots, files, history and health between the wire and the engine.</summary>
internal static partial class ContractMapping
{
    public static SessionSpec ToSpec(this CreateSessionRequest? r) => new()
    {
        Image = r?.Image,
        Name = r?.Name,
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
        Metadata = r?.Metadata, Env = r?.Env,
        Volumes = r?.Volumes?.Select(v => new Sandbox.Volumes.VolumeMountRequest { Name = v.Name ?? "", Path = v.Path ?? "", ReadOnly = v.ReadOnly }).ToList(),
        Docker = r?.Docker ?? false, DockerStorageMb = r?.DockerStorageMb, DockerImages = r?.DockerImages,
        ContextArchives = r?.ContextArchives?.ToDictionary(a => a.Key,
            a => new ReadOnlyMemory<byte>(ContractValidation.Base64(a.Value, $"context_archives.{a.Key}")), StringComparer.Ordinal),
    };

    public static VolumeDto ToDto(this Sandbox.Volumes.VolumeInfo v) =>
        new(v.Name, v.SizeMb, v.UsedBytes, v.Files, v.CreatedAt, v.UpdatedAt, v.Mounts.Select(m => new VolumeMountInfoDto(m.SessionId, m.ReadOnly, m.Path)).ToList());

    public static SnapshotDto ToDto(this Sandbox.Snapshots.SnapshotInfo s) =>
        new(s.SnapshotId, s.Name, s.SourceSessionId, s.Image, s.SizeBytes, s.Files, s.CreatedAt);

    public static Sandbox.Egress.NetworkRequest? ToEngine(this NetworkDto? n) =>
        n is null ? null : new Sandbox.Egress.NetworkRequest { Allow = n.Allow ?? [], Secrets = n.Secrets ?? [] };

    public static NetworkDto? ToDto(this Sandbox.Egress.SessionNetwork? n) =>
        n is null ? null : new NetworkDto { Allow = n.Allow, Secrets = n.Secrets, Proxy = n.Proxy };

    public static LimitsDto ToDto(this SandboxLimits l) => new()
    {
        MemoryMb = l.MemoryMb, Cpus = l.Cpus, Pids = l.Pids, NoFile = l.NoFile, FileSizeMb = l.FileSizeMb,
        WorkspaceMb = l.WorkspaceMb, TmpMb = l.TmpMb,
    };

    public static SessionDto ToDto(this SessionInfo s) => new()
    {
        Id = s.Id, Image = s.Image, Name = s.Name, Status = s.Status.ToString().ToLowerInvariant(), Limits = s.Limits.ToDto(),
        CreatedAt = s.CreatedAt, LastUsedAt = s.LastUsedAt, IdleTimeoutSeconds = s.IdleTimeout.TotalSeconds,
        ExpiresAt = s.ExpiresAt, Busy = s.Busy, ExecutionCount = s.ExecutionCount, LostReason = s.LostReason,
        Isolation = IsolationPolicy.Name(s.Isolation), Network = s.Network.ToDto(), Ports = s.Ports ?? [],
        Git = s.Git.ToDto(), Context = s.Context, Node = s.Node,
        Metadata = s.Metadata ?? new Dictionary<string, string>(), Env = s.Env ?? new Dictionary<string, string>(),
        Docker = s.Docker is { } d ? new NestedDockerDto(d.Host, d.StorageMb, d.Images, d.StartedMs) : null,
    };

    public static HistoryEntryDto ToDto(this Sandbox.Storage.HistoryEntry h) =>
        new(h.Kind, h.At, h.Language, h.CodeSha256, h.CodeSize, h.ExitCode, h.ErrorType, h.TimedOut, h.DurationMs, h.Output);

    public static FileEntryDto ToDto(this FileEntry f) => new(f.Name, f.Path, f.Kind, f.Size, f.ModifiedAt);

    public static ArchiveExtractionDto ToDto(this ArchiveExtraction a) => new(a.Path, a.Files, a.Directories, a.Links, a.Bytes);

    public static HealthDto ToDto(this SandboxHealth h) => new()
    {
        Status = h.Healthy ? "ok" : "degraded",
        Version = ContractVersion.ServerVersion,
        Engine = new EngineDto(h.Engine.Reachable, h.Engine.Version, h.Engine.ApiVersion, h.Engine.Error),
        Images = h.Images.Select(i => new ImageStatusDto(i.Name, i.Reference, i.Present, i.Id)).ToList(),
        Sessions = h.Sessions,
        Problems = h.Problems,
        Isolation = new IsolationDto(IsolationPolicy.Name(h.Isolation.Default), IsolationPolicy.Name(h.Isolation.Configured),
            h.Isolation.Available.Select(IsolationPolicy.Name).ToList(), h.Isolation.Required, h.Isolation.Problem),
    };
}
