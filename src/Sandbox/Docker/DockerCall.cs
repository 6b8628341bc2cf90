using System.Net.Sockets;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Logging;

namespace Sandbox.Docker;

/// <summary>Engine calls with "engine not reachable" failures turned into <c>engine_unavailable</c>, and the quiet
/// removal helpers every Docker collaborator shares.</summary>
internal static partial class DockerCall
{
    /// <summary>Runs an engine call.</summary>
    public static async Task<T> Run<T>(Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException && IsCancellation(e))
        {
            throw new OperationCanceledException(e.Message, e);
        }
        catch (Exception e) when (IsEngineDown(e) && !IsCancellation(e))
        {
            throw new SandboxException(SandboxErrorCodes.EngineUnavailable,
                "The Docker engine is not reachable; retry when it is back (see /healthz).", e);
        }
    }

    /// <summary>Runs an engine call without a result.</summary>
    public static async Task Run(Func<Task> call) => await Run(async () =>
    {
        await call().ConfigureAwait(false);
        return true;
    }).ConfigureAwait(false);

    /// <summary>Our own deadline or the caller's cancellation, which the HTTP stack may wrap in I/O exceptions: that is
    /// not the engine being down, and stays a cancellation.</summary>
    private static bool IsCancellation(Exception e) =>
        e is OperationCanceledException || e.InnerException is not null && IsCancellation(e.InnerException);

    /// <summary>Whether the exception says the engine cannot be reached.</summary>
    public static bool IsEngineDown(Exception e) =>
        e is HttpRequestException or SocketException or TimeoutException or IOException
        || e.InnerException is not null && IsEngineDown(e.InnerException);

    /// <summary>Force-removes a container, logging (not throwing) when that fails: for cleanup after the work is done
    /// or has failed, where the caller must hear about the work, not the cleanup.</summary>
    public static async Task RemoveQuietlyAsync(IDockerClient client, string containerId, ILogger logger)
    {
        using var cleanup = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await client.Containers.RemoveContainerAsync(containerId, new ContainerRemoveParameters { Force = true }, cleanup.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is DockerApiException or HttpRequestException or IOException or OperationCanceledException)
        {
            LogCleanupFailed(logger, containerId, e.Message);
        }
    }

    /// <summary>Force-removes a volume, logging (not throwing) when that fails.</summary>
    public static async Task RemoveVolumeQuietlyAsync(IDockerClient client, string volume, ILogger logger)
    {
        using var cleanup = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await client.Volumes.RemoveAsync(volume, true, cleanup.Token).ConfigureAwait(false);
        }
        catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            // Already gone.
        }
        catch (Exception e) when (e is DockerApiException or HttpRequestException or IOException or OperationCanceledException)
        {
            LogCleanupFailed(logger, volume, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not remove container or volume {ContainerId}: {Error}")]
    public static partial void LogCleanupFailed(ILogger logger, string containerId, string error);
}

/// <summary>A container's attached stream as a <see cref="Runner.RunnerStream"/>.</summary>
internal sealed class DockerRunnerStream(MultiplexedStream stream) : Runner.RunnerStream
{
    /// <inheritdoc />
    public override async ValueTask<Runner.RunnerRead> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct)
    {
        var result = await stream.ReadOutputAsync(buffer, offset, count, ct).ConfigureAwait(false);
        return new Runner.RunnerRead(result.Count, result.Target == MultiplexedStream.TargetStream.StandardError, result.EOF);
    }

    /// <inheritdoc />
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) => stream.WriteAsync(buffer, offset, count, ct);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            stream.Dispose();
        }
    }
}
