using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandbox.Backend;
using Sandbox.Runner;
using Sandbox.Sessions;

namespace Sandbox.Setup;

/// <summary>
/// What a new session gets before it is ready beyond its container: read-only context directories the operator
/// offers by name, and setup commands (the image's, then the caller's) run once in order. A failing command fails the
/// create with its output; nothing of the session is left.
/// </summary>
public sealed partial class SetupService(SessionRegistry registry, IOptions<SandboxOptions> options, IOptions<SetupOptions> setup, IOptions<ContextOptions> context,
    TimeProvider time, ILogger<SetupService> logger)
{
    private readonly SandboxOptions _options = options.Value;
    private readonly SetupOptions _setup = setup.Value;
    private readonly ContextOptions _context = context.Value;

    /// <summary>Most characters of one command.</summary>
    public const int MaxCommandChars = 10_000;

    /// <summary>Resolves context names to mounts; throws <c>forbidden</c> for a name the operator does not offer.</summary>
    internal IReadOnlyList<ContextMount> ResolveContext(IReadOnlyList<string>? names)
    {
        if (names is not { Count: > 0 })
        {
            return [];
        }
        var mounts = new List<ContextMount>();
        foreach (var name in names.Distinct(StringComparer.Ordinal))
        {
            if (name is null || !ContextOptions.ContextName().IsMatch(name) || !_context.Directories.TryGetValue(name, out var path))
            {
                var offered = _context.Directories.Keys.Order(StringComparer.Ordinal).ToList();
                throw new SandboxException(SandboxErrorCodes.Forbidden, $"'{SafeText.Shorten(name, 64)}' is not a context directory this server offers"
                    + (offered.Count == 0 ? " (none are configured: Sandbox:Context:Directories)." : ": " + string.Join(", ", offered) + "."));
            }
            if (!Directory.Exists(path))
            {
                throw new SandboxException(SandboxErrorCodes.Internal, $"The context directory '{name}' is configured but its path does not exist on the server.");
            }
            mounts.Add(new ContextMount(name, path));
        }
        return mounts;
    }

    /// <summary>Checks the names of a caller's context archives: context names, at most 8, none an operator directory's.</summary>
    internal static void CheckContextArchives(IReadOnlyDictionary<string, ReadOnlyMemory<byte>>? archives, IReadOnlyList<ContextMount> mounts)
    {
        if (archives is not { Count: > 0 })
        {
            return;
        }
        if (archives.Count > 8)
        {
            throw new SandboxException(SandboxErrorCodes.LimitExceeded, "A session takes at most 8 context archives.");
        }
        foreach (var name in archives.Keys)
        {
            if (name is null || !ContextOptions.ContextName().IsMatch(name) || name.StartsWith('.'))
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                    $"Context archive name '{SafeText.Shorten(name, 64)}': use letters, digits, . _ and - (at most 64, not starting with '.'; it becomes /context/<name>).");
            }
            if (mounts.Any(m => m.Name == name))
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"'{name}' is already an operator context directory of this session; give the archive another name.");
            }
        }
    }

    /// <summary>The commands a new session of <paramref name="image"/> runs: the image's, then the caller's. Checks
    /// the caller's.</summary>
    internal IReadOnlyList<string> Commands(string image, IReadOnlyList<string>? requested)
    {
        if (requested is { } list && (list.Count > _setup.MaxCommands || list.Any(c => string.IsNullOrWhiteSpace(c) || c.Length > MaxCommandChars || c.Contains('\0', StringComparison.Ordinal))))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                $"setup takes at most {_setup.MaxCommands} non-empty commands of at most {MaxCommandChars} characters each.");
        }
        var fromImage = _setup.Images.GetValueOrDefault(image) ?? [];
        return [.. fromImage, .. requested ?? []];
    }

    /// <summary>Runs the setup commands in the new session, in order, as bash lines in the workspace. The first
    /// failure throws <c>setup_failed</c> with the command's output.</summary>
    internal async Task RunAsync(Session session, IReadOnlyList<string> commands, CancellationToken ct)
    {
        var deadline = time.GetUtcNow() + _setup.Timeout;
        for (var i = 0; i < commands.Count; i++)
        {
            var left = deadline - time.GetUtcNow();
            var result = left <= TimeSpan.Zero ? null : await RunnerProcess.RunAsync(session, registry, new ExecRequest
            {
                Language = "bash", Code = commands[i], MaxOutput = 64 * 1024,
            }, left, _options.KillGrace, time, ct).ConfigureAwait(false);
            var label = $"setup command {i + 1} of {commands.Count} ('{SafeText.Shorten(commands[i], 120)}')";
            if (result is null || result.DeadlineHit)
            {
                throw new SandboxException(SandboxErrorCodes.SetupFailed,
                    $"The {label} did not finish within the setup time of {_setup.Timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s (Sandbox:Setup:Timeout); the session was not created.")
                { Details = new SetupFailure(i, commands[i], null, Tail(result?.Stdout), Tail(result?.Stderr)) };
            }
            if (result.Refused is not null || result.ExitCode != 0)
            {
                throw new SandboxException(SandboxErrorCodes.SetupFailed,
                    $"The {label} failed with exit status {result.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "none"}; the session was not created. Its error output ends: "
                    + SafeText.Shorten(Tail(result.Refused ?? result.Stderr).Trim(), 600))
                { Details = new SetupFailure(i, commands[i], result.ExitCode, Tail(result.Stdout), Tail(result.Stderr)) };
            }
            LogSetupStep(logger, session.Id, i + 1, commands.Count);
        }
    }

    private static string Tail(string? text) => text is null ? "" : text.Length <= 8000 ? text : text[^8000..];

    [LoggerMessage(Level = LogLevel.Debug, Message = "Session {SessionId}: setup command {Index} of {Count} done")]
    private static partial void LogSetupStep(ILogger logger, string sessionId, int index, int count);
}

/// <summary>Why a session's setup failed: which command, its exit status and the end of its output.</summary>
/// <param name="Index">The command's position (0-based) among the image's and the caller's commands.</param>
/// <param name="Command">The command.</param>
/// <param name="ExitCode">Its exit status; null when it did not finish.</param>
/// <param name="Stdout">The end of its output.</param>
/// <param name="Stderr">The end of its error output.</param>
public sealed record SetupFailure(int Index, string Command, int? ExitCode, string Stdout, string Stderr);
