using System.Globalization;
using Microsoft.Extensions.Options;
using Sandbox.Runner;
using Sandbox.Sessions;

namespace Sandbox.Files;

/// <summary>One line that matched a search.</summary>
/// <param name="Path">Workspace-relative file path.</param>
/// <param name="Line">Line number (from 1).</param>
/// <param name="Text">The line (at most 500 characters).</param>
public sealed record CodeMatch(string Path, int Line, string Text);

/// <summary>What a search found: the matches (at most the limit asked for) and whether there were more.</summary>
/// <param name="Matches">Matching lines, in file order.</param>
/// <param name="Truncated">Whether the search stopped at the limit.</param>
public sealed record CodeSearchResult(IReadOnlyList<CodeMatch> Matches, bool Truncated);

/// <summary>
/// <c>search_code</c>: lines of the workspace's text files that match a pattern (a regular expression, or fixed text),
/// found by grep run as the sandbox user, without a shell (the pattern is one argument, never parsed), bounded in
/// matches, line length and time. Version-control internals and the session's own folder are left out.
/// </summary>
public sealed class CodeSearch(SessionRegistry registry, IOptions<SandboxOptions> options, TimeProvider time)
{
    /// <summary>Most matches one search returns.</summary>
    public const int MaxMatches = 1000;

    /// <summary>Searches the files at or under <paramref name="path"/> (empty: the whole workspace) for
    /// <paramref name="pattern"/> (an extended regular expression unless <paramref name="fixedText"/>).</summary>
    public async Task<CodeSearchResult> SearchAsync(string sessionId, string owner, string pattern, string? path, bool fixedText, bool ignoreCase,
        int maxMatches, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(pattern) || pattern.Length > 1000 || pattern.Contains('\0', StringComparison.Ordinal) || pattern.Contains('\n', StringComparison.Ordinal))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "pattern must be one line of 1 to 1000 characters.");
        }
        if (maxMatches is < 1 or > MaxMatches)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"max_matches must be between 1 and {MaxMatches}.");
        }
        var target = WorkspacePath.Normalize(path, allowRoot: true);
        var session = registry.Get(sessionId, owner);
        session.EnsureUsable();
        await registry.EnsureRunningAsync(session, ct).ConfigureAwait(false);
        List<string> argv = ["grep", "-rnIH", "--color=never", "--exclude-dir=.git", "--exclude-dir=.sandbox", "--exclude-dir=node_modules",
            fixedText ? "-F" : "-E"];
        if (ignoreCase)
        {
            argv.Add("-i");
        }
        argv.AddRange(["-e", pattern, "--", target.Length == 0 ? "." : target]);
        var result = await RunnerProcess.RunAsync(session, registry, new ExecRequest
        {
            Language = "argv", Argv = argv, MaxOutput = 4 << 20, Env = new Dictionary<string, string> { ["LC_ALL"] = "C.UTF-8" },
        }, TimeSpan.FromSeconds(60), options.Value.KillGrace, time, ct).ConfigureAwait(false);
        session.Touch(time.GetUtcNow());
        if (result.Refused is not null)
        {
            throw new SandboxException(SandboxErrorCodes.Internal, "The search could not run in the session: " + SafeText.Shorten(result.Refused, 300));
        }
        if (result.ExitCode is null)
        {
            throw new SandboxException(SandboxErrorCodes.Timeout, "The search did not finish within 60 seconds; search a smaller folder (path).");
        }
        if (result.ExitCode >= 2 && result.Stdout.Length == 0)
        {
            // grep's 2 is trouble (a bad expression, a missing path); 1 is "nothing found".
            throw new SandboxException(result.Stderr.Contains("No such file", StringComparison.Ordinal) ? SandboxErrorCodes.FileNotFound : SandboxErrorCodes.InvalidArgument,
                "The search failed: " + SafeText.Shorten(result.Stderr.Trim(), 300));
        }
        var matches = new List<CodeMatch>();
        var truncated = result.Truncated;
        foreach (var line in result.Stdout.Split('\n'))
        {
            // path:line:text (grep -H -n); a path with ':' in it is read up to the first ':<digits>:'.
            var first = FindLineNumber(line);
            if (first is not { } at)
            {
                continue;
            }
            if (matches.Count == maxMatches)
            {
                truncated = true;
                break;
            }
            var file = line[..at.Start];
            var text = line[at.TextStart..].TrimEnd('\r');
            matches.Add(new CodeMatch(file.StartsWith("./", StringComparison.Ordinal) ? file[2..] : file, at.Number, text.Length > 500 ? text[..500] + "…" : text));
        }
        return new CodeSearchResult(matches, truncated);
    }

    private static (int Start, int Number, int TextStart)? FindLineNumber(string line)
    {
        for (var i = line.IndexOf(':', StringComparison.Ordinal); i >= 0; i = line.IndexOf(':', i + 1))
        {
            var end = i + 1;
            while (end < line.Length && char.IsAsciiDigit(line[end]))
            {
                end++;
            }
            if (end > i + 1 && end < line.Length && line[end] == ':')
            {
                return (i, int.Parse(line.AsSpan(i + 1, end - i - 1), CultureInfo.InvariantCulture), end + 1);
            }
        }
        return null;
    }
}
