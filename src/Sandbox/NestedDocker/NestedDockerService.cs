using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Backend;
using Sandbox.Isolation;
using Sandbox.Runner;
using Sandbox.Sessions;

namespace Sandbox.NestedDocker;

/// <summary>What a <c>docker: true</c> session is made with: its engine's storage and the images loaded into it.</summary>
/// <param name="StorageMb">The engine's storage bound in MiB.</param>
/// <param name="Images">Image references of the server's engine to load at create.</param>
internal sealed record NestedDockerPlan(int StorageMb, IReadOnlyList<string> Images);

/// <summary>
/// A session's own Docker engine (<c>docker: true</c>): checked on create, started inside the session's gVisor sandbox
/// once its runner answers, and given images from the server's engine (no registry is needed: an allowed image is saved
/// from the host's engine and loaded into the session's). The engine runs in the sandbox's kernel, so everything it
/// runs stays behind the session's wall and inside its limits, and goes away with the session.
/// </summary>
public sealed partial class NestedDockerService(SessionRegistry registry, ISandboxBackend backend, Durability.SessionJournal journal,
    IOptions<NestedDockerOptions> options, TimeProvider time, ILogger<NestedDockerService> logger)
{
    /// <summary>The <c>DOCKER_HOST</c> a session's processes see.</summary>
    public const string Host = "unix:///run/sandbox-docker/docker.sock";

    private readonly NestedDockerOptions _options = options.Value;

    /// <summary>The spec a <c>docker: true</c> request is made with: the docker image when it names none, and at least
    /// <see cref="NestedDockerOptions.MinMemoryMb"/> of memory when it asks for none (less is refused).</summary>
    internal SessionSpec Defaults(SessionSpec spec)
    {
        if (!spec.Docker)
        {
            return spec;
        }
        if (!_options.Enabled)
        {
            throw new SandboxException(SandboxErrorCodes.DockerUnavailable, "This server does not offer sessions with their own Docker engine (Sandbox:Docker:Enabled is false).");
        }
        var limits = spec.Limits ?? new LimitsRequest();
        if (limits.MemoryMb is { } asked && asked < _options.MinMemoryMb)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                $"A session with its own Docker engine needs at least {_options.MinMemoryMb} MiB of memory (asked: {asked}); its engine and containers share the session's memory.");
        }
        return spec with
        {
            Image = string.IsNullOrWhiteSpace(spec.Image) ? _options.Image : spec.Image,
            Limits = limits with { MemoryMb = limits.MemoryMb ?? _options.MinMemoryMb },
        };
    }

    /// <summary>Checks a request's docker settings (storage, images) against the options; null for a session without docker.</summary>
    internal NestedDockerPlan? Plan(SessionSpec spec)
    {
        if (!spec.Docker)
        {
            if (spec.DockerStorageMb is not null || spec.DockerImages is { Count: > 0 })
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, "docker_storage_mb and docker_images need docker: true.");
            }
            return null;
        }
        var storage = spec.DockerStorageMb ?? _options.StorageMb;
        if (storage < 256 || storage > _options.MaxStorageMb)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded, $"docker_storage_mb must be between 256 and {_options.MaxStorageMb} (asked: {storage}).");
        }
        var images = (spec.DockerImages ?? []).Select(i => (i ?? "").Trim()).Distinct(StringComparer.Ordinal).ToList();
        if (images.Count > _options.MaxImagesPerSession)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded, $"At most {_options.MaxImagesPerSession} images may be loaded into one session.");
        }
        images.ForEach(CheckAllowed);
        return new NestedDockerPlan(storage, images);
    }

    /// <summary>Refuses <c>docker: true</c> outside gVisor: in the container tier the nested engine would need
    /// privileges on the host's own kernel, which would break that tier's wall.</summary>
    internal static void RequireTier(IsolationTier tier)
    {
        if (tier != IsolationTier.Gvisor)
        {
            throw new SandboxException(SandboxErrorCodes.DockerUnavailable,
                "docker: true needs the gvisor isolation tier: a Docker engine in the container tier would need privileges on the host's kernel, which would break that tier's wall. " +
                "Ask for isolation gvisor (see /healthz for the tiers this server has).");
        }
    }

    /// <summary>Starts the new session's engine and loads the plan's images; the session is not ready before. Fails
    /// (and so fails the create) when the engine does not answer within <see cref="NestedDockerOptions.StartTimeout"/>.</summary>
    internal async Task StartAsync(Session session, NestedDockerPlan plan, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var started = await session.Live.AskAsync(new DockerStartRequest(), TimeSpan.FromSeconds(10), "docker start", ct).ConfigureAwait(false);
        if (started.Type != "docker")
        {
            throw new SandboxException(SandboxErrorCodes.DockerUnavailable, "The session's Docker engine could not start: " + SafeText.Shorten(RunnerJson.Str(started.Body, "message"), 300));
        }
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(_options.StartTimeout);
        try
        {
            while (true)
            {
                var status = await session.Live.AskAsync(new DockerStatusRequest(), TimeSpan.FromSeconds(10), "docker status", deadline.Token).ConfigureAwait(false);
                var state = RunnerJson.Str(status.Body, "state");
                if (state == "running")
                {
                    break;
                }
                if (state != "starting")
                {
                    throw new SandboxException(SandboxErrorCodes.DockerUnavailable,
                        $"The session's Docker engine stopped ({state}): " + SafeText.Shorten(RunnerJson.Str(status.Body, "log"), 600));
                }
                await Task.Delay(100, deadline.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new SandboxException(SandboxErrorCodes.Timeout, $"The session's Docker engine did not answer within {_options.StartTimeout.TotalSeconds} s.");
        }
        var startedMs = clock.ElapsedMilliseconds;
        session.Docker = new NestedDockerInfo(Host, plan.StorageMb, [], startedMs);
        LogStarted(logger, session.Id, startedMs);
        foreach (var image in plan.Images)
        {
            await LoadAsync(session, image, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Loads an allowed image of the server's engine into the session's engine (a no-op when it is there).</summary>
    public async Task<SessionInfo> LoadImageAsync(string sessionId, string owner, string image, CancellationToken ct)
    {
        var session = registry.Get(sessionId, owner);
        session.EnsureUsable();
        var docker = session.Docker
            ?? throw new SandboxException(SandboxErrorCodes.DockerUnavailable, $"Session {session.Id} has no Docker engine of its own: create it with docker: true.");
        image = (image ?? "").Trim();
        CheckAllowed(image);
        if (!docker.Images.Contains(image) && docker.Images.Count >= _options.MaxImagesPerSession)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded, $"At most {_options.MaxImagesPerSession} images may be loaded into one session.");
        }
        await registry.EnsureRunningAsync(session, ct).ConfigureAwait(false);
        session.Touch(time.GetUtcNow());
        await LoadAsync(session, image, ct).ConfigureAwait(false);
        journal.Record(session, "docker", "loaded image " + image);
        // Saved with the session: after a server restart its info still lists the images, and more can be loaded.
        await journal.PersistAsync(session, ct).ConfigureAwait(false);
        return session.ToInfo();
    }

    private async Task LoadAsync(Session session, string image, CancellationToken ct)
    {
        var status = await backend.GetImageStatusAsync(image, image, ct).ConfigureAwait(false);
        if (!status.Present)
        {
            throw new SandboxException(SandboxErrorCodes.ImageNotFound, $"Image '{image}' is not on this server's engine, so it cannot be loaded into the session's.");
        }
        var clock = Stopwatch.StartNew();
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bounded.CancelAfter(_options.LoadTimeout);
        try
        {
            await backend.LoadIntoNestedEngineAsync(session.ContainerId, image, Host, bounded.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new SandboxException(SandboxErrorCodes.Timeout, $"Loading image '{image}' into the session's engine took longer than {_options.LoadTimeout.TotalSeconds} s.");
        }
        session.AddDockerImage(image);
        LogLoaded(logger, session.Id, image, clock.ElapsedMilliseconds);
    }

    private void CheckAllowed(string image)
    {
        if (!ImageReferences.IsReference(image) || !ImageReferences.Matches(image, _options.Allowed))
        {
            throw new SandboxException(SandboxErrorCodes.Forbidden,
                $"Image '{SafeText.Shorten(image, 80)}' may not be loaded into a session's engine. Allowed (Sandbox:Docker:AllowedImages): {string.Join(", ", _options.Allowed)}.");
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: its Docker engine answered after {Ms} ms")]
    private static partial void LogStarted(ILogger logger, string sessionId, long ms);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: image {Image} loaded into its Docker engine in {Ms} ms")]
    private static partial void LogLoaded(ILogger logger, string sessionId, string image, long ms);
}
