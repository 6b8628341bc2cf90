using Sandbox.Client;
using Sandbox.Client.Contracts;

namespace Sandbox.Cli;

/// <summary>What every command works with: its output, its server settings, the typed client (made on first use), and
/// tasks found by name.</summary>
public sealed class CliContext(CliOutput output, CliConfig config) : IAsyncDisposable
{
    private SandboxRestClient? _client;

    /// <summary>Where results go.</summary>
    public CliOutput Output { get; } = output;

    /// <summary>The server settings.</summary>
    public CliConfig Config { get; } = config;

    /// <summary>The typed client for the server.</summary>
    public SandboxRestClient Client => _client ??= new SandboxRestClient(new Uri(Config.Url), Config.Token);

    /// <summary>The open session named <paramref name="task"/>, or <c>not_found</c> (exit 3).</summary>
    public async Task<SessionDto> FindTaskAsync(string task, CancellationToken ct)
    {
        var sessions = await Client.ListSessionsAsync(ct).ConfigureAwait(false);
        return sessions.FirstOrDefault(s => s.Name == task && s.Status != "closed")
               ?? throw new CliException(ExitCodes.NotFound, "task_not_found", $"There is no task named '{task}' on {Config.Url} ('sandbox list' shows yours).");
    }

    /// <summary>The task's session, which must have a repository.</summary>
    public async Task<(SessionDto Session, GitWorkspaceDto Git)> FindGitTaskAsync(string task, CancellationToken ct)
    {
        var session = await FindTaskAsync(task, ct).ConfigureAwait(false);
        return (session, session.Git ?? throw new CliException(ExitCodes.Failed, "not_a_git_task", $"Task '{task}' has no repository (it was spawned without one)."));
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_client is not null)
        {
            await _client.DisposeAsync().ConfigureAwait(false);
        }
    }
}
