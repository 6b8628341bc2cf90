using System.Threading.Channels;

namespace Sandbox.Runner;

/// <summary>How a command in the runner ended, from the host's point of view.</summary>
/// <param name="Hung">The runner did not stop the command within the grace after a stop: the sandbox must be killed.</param>
/// <param name="StopSent">The host asked the runner to stop the command (deadline or caller).</param>
/// <param name="DeadlineHit">The host's deadline (not the caller) was the reason to stop.</param>
internal readonly record struct RunnerCommandEnd(bool Hung, bool StopSent, bool DeadlineHit);

/// <summary>
/// One long-running command in the runner (code execution, an agent process) under the host's deadline. The deadline
/// and the caller's cancellation are enforced from the host whatever the sandbox does: the first sends the runner a
/// state-keeping <c>cancel</c>; if the command still has not ended after the grace, the command is reported hung.
/// </summary>
internal static class RunnerCommand
{
    /// <summary>Sends <paramref name="request"/> as request <paramref name="id"/> (from <see cref="RunnerConnection.NewId"/>)
    /// and feeds each answer to <paramref name="onMessage"/> until it returns true (the command's last message).</summary>
    public static async Task<RunnerCommandEnd> RunAsync(RunnerConnection runner, string id, RunnerRequest request,
        TimeSpan timeout, TimeSpan grace, TimeProvider time, Func<RunnerMessage, ValueTask<bool>> onMessage, CancellationToken stop)
    {
        request.Id = id;
        using var subscription = runner.Subscribe(id);
        using var deadline = new CancellationTokenSource(timeout, time);
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(stop, deadline.Token);
        await runner.SendAsync(request, stop).ConfigureAwait(false);
        CancellationTokenSource? graceCts = null;
        var deadlineHit = false;
        try
        {
            while (true)
            {
                RunnerMessage message;
                try
                {
                    message = await subscription.Reader.ReadAsync((graceCts ?? waiting).Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (graceCts is null)
                {
                    // Deadline or caller: ask the runner to stop the command, then give it a bounded grace.
                    deadlineHit = deadline.IsCancellationRequested;
                    graceCts = new CancellationTokenSource(grace, time);
                    await runner.SendAsync(new CancelRequest { Id = id }, graceCts.Token).ConfigureAwait(false);
                    continue;
                }
                catch (OperationCanceledException)
                {
                    return new RunnerCommandEnd(Hung: true, StopSent: true, deadlineHit);
                }
                catch (ChannelClosedException e) when (e.InnerException is SandboxException lost)
                {
                    throw new SandboxException(lost.Code, lost.Message, e);
                }
                if (await onMessage(message).ConfigureAwait(false))
                {
                    return new RunnerCommandEnd(Hung: false, StopSent: graceCts is not null, deadlineHit);
                }
            }
        }
        finally
        {
            graceCts?.Dispose();
        }
    }
}
