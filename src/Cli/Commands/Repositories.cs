using Sandbox.Client.Contracts;

namespace Sandbox.Cli.Commands;

/// <summary>A new session with the user's repository in it: a local checkout travels as a git bundle (the server never
/// needs to reach it), an https URL is cloned by the server (its git hosts and operator credentials).</summary>
internal static class Repositories
{
    /// <summary>Where the bundle lands in the workspace before it is imported (and removed).</summary>
    private const string BundlePath = ".sandbox-import.bundle";

    /// <summary>Whether <paramref name="from"/> is a URL the server clones (as opposed to a local path).</summary>
    public static bool IsServerUrl(string? from) => from is not null && (from.StartsWith("https://", StringComparison.OrdinalIgnoreCase) || from.StartsWith("http://", StringComparison.OrdinalIgnoreCase));

    /// <summary>Creates the session and brings the repository in, with <paramref name="workBranch"/> started at the base.
    /// Nothing half-made: on a failure the session is closed again.</summary>
    public static async Task<(SessionDto Session, string Base)> CreateAsync(CliContext context, CreateSessionRequest request, string? from, string? baseBranch, string? workBranch,
        CancellationToken ct)
    {
        if (from is not null && from.Contains("://", StringComparison.Ordinal) && !IsServerUrl(from) || from is not null && System.Text.RegularExpressions.Regex.IsMatch(from, @"^[\w.-]+@[\w.-]+:"))
        {
            throw new CliException(ExitCodes.Usage, "bad_source", $"The server clones https:// URLs only; for '{from}', clone it here and spawn from the checkout (your own git set-up reaches it).");
        }
        if (IsServerUrl(from))
        {
            context.Output.Note($"The server clones {from}{(baseBranch is null ? "" : " at " + baseBranch)} ...");
            var session = await context.Client.CreateSessionAsync(request with { Git = new GitRequestDto { Url = from!, Ref = baseBranch } }, ct).ConfigureAwait(false);
            try
            {
                if (workBranch is not null)
                {
                    await BashAsync(context, session.Id, $"git checkout --quiet -b '{workBranch}'", ct).ConfigureAwait(false);
                }
                return (await context.Client.GetSessionAsync(session.Id, ct).ConfigureAwait(false), session.Git?.Branch ?? baseBranch ?? "");
            }
            catch
            {
                await CloseQuietlyAsync(context, session.Id).ConfigureAwait(false);
                throw;
            }
        }

        var git = await LocalGit.FindAsync(from, ct).ConfigureAwait(false);
        var branch = baseBranch ?? (await git.TryAsync(ct, "symbolic-ref", "--quiet", "--short", "HEAD").ConfigureAwait(false)) switch
        {
            { ExitCode: 0 } ok => ok.Stdout.Trim(),
            _ => throw new CliException(ExitCodes.Usage, "detached_head", $"{git.Directory} has no branch checked out: check one out, or name the base with --base."),
        };
        if ((await git.TryAsync(ct, "rev-parse", "--verify", "--quiet", "refs/heads/" + branch).ConfigureAwait(false)).ExitCode != 0)
        {
            throw new CliException(ExitCodes.Usage, "no_such_branch", $"{git.Directory} has no local branch '{branch}'.");
        }
        if ((await git.RunAsync(ct, "status", "--porcelain").ConfigureAwait(false)).Trim().Length > 0)
        {
            context.Output.Warn("your checkout has uncommitted changes; only commits travel to the task.");
        }
        var origin = await git.TryAsync(ct, "remote", "get-url", "origin").ConfigureAwait(false);
        var bundle = Path.Combine(Path.GetTempPath(), $"sandbox-{Guid.NewGuid():N}.bundle");
        try
        {
            await git.RunAsync(ct, "bundle", "create", "--quiet", bundle, "refs/heads/" + branch).ConfigureAwait(false);
            context.Output.Note($"Sending {branch} of {git.Directory} ({new FileInfo(bundle).Length / 1024.0:0.#} KiB bundle) ...");
            var session = await context.Client.CreateSessionAsync(request, ct).ConfigureAwait(false);
            try
            {
                await using (var content = File.OpenRead(bundle))
                {
                    await context.Client.UploadFileAsync(session.Id, BundlePath, content, ct).ConfigureAwait(false);
                }
                var imported = await context.Client.ImportGitBundleAsync(session.Id, new ImportGitBundleRequest
                {
                    Path = BundlePath, Ref = branch, Branch = workBranch, Origin = origin.ExitCode == 0 ? origin.Stdout.Trim() : git.Directory,
                }, ct).ConfigureAwait(false);
                return (imported, branch);
            }
            catch
            {
                await CloseQuietlyAsync(context, session.Id).ConfigureAwait(false);
                throw;
            }
        }
        finally
        {
            File.Delete(bundle);
        }
    }

    /// <summary>Runs a shell command in the session as the sandbox user; a non-zero exit is an error with its output.</summary>
    public static async Task<ExecutionResultDto> BashAsync(CliContext context, string sessionId, string command, CancellationToken ct, double timeoutSeconds = 600)
    {
        var result = await context.Client.ExecuteAsync(sessionId, new ExecuteRequest { Language = "bash", Code = command, TimeoutSeconds = timeoutSeconds }, ct).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            var output = (result.Stderr ?? "").Trim().Length > 0 ? result.Stderr : result.Stdout;
            throw new CliException(ExitCodes.Failed, "command_failed", $"'{command}' failed in the task (exit {result.ExitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none: timed out"}): {output?.Trim()}");
        }
        return result;
    }

    /// <summary>Closes a session, never throwing (used while a failure is already on its way).</summary>
    public static async Task CloseQuietlyAsync(CliContext context, string sessionId)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await context.Client.CloseSessionAsync(sessionId, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is Sandbox.Client.SandboxClientException or HttpRequestException or OperationCanceledException)
        {
            context.Output.Warn($"session {sessionId} could not be closed ({e.Message}); 'sandbox purge' or the idle timeout will.");
        }
    }

    /// <summary>The agent's name on the server for a command-line name.</summary>
    public static string? AgentName(string agent) => agent switch
    {
        "claude" or "claude-code" => "claude-code",
        "codex" => "codex",
        "shell" => null,
        _ => throw new CliException(ExitCodes.Usage, "bad_agent", $"'{agent}' is not an agent: claude, codex or shell."),
    };
}
