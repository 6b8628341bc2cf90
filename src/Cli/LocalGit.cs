using System.Diagnostics;

namespace Sandbox.Cli;

/// <summary>git on the user's machine, with the user's own set-up (SSH keys, host keys, credential helpers, signing):
/// always as an argument list, never through a shell, each call bounded in time.</summary>
public sealed class LocalGit(string directory)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(10);

    /// <summary>The repository's top-level directory.</summary>
    public string Directory { get; } = directory;

    /// <summary>The repository that holds <paramref name="path"/> (the current directory when null), or a clear error.</summary>
    public static async Task<LocalGit> FindAsync(string? path, CancellationToken ct)
    {
        var start = Path.GetFullPath(path ?? ".");
        if (!System.IO.Directory.Exists(start))
        {
            throw new CliException(ExitCodes.Usage, "not_a_repository", $"{start} is not a directory.");
        }
        var (code, stdout, _) = await new LocalGit(start).TryAsync(ct, "rev-parse", "--show-toplevel").ConfigureAwait(false);
        if (code != 0)
        {
            throw new CliException(ExitCodes.Usage, "not_a_repository", $"{start} is not inside a git repository: run this in your checkout, or pass --from.");
        }
        return new LocalGit(stdout.Trim());
    }

    /// <summary>Runs git and returns its output; a failure is a <see cref="CliException"/> with git's message.</summary>
    public async Task<string> RunAsync(CancellationToken ct, params string[] args)
    {
        var (code, stdout, stderr) = await TryAsync(ct, args).ConfigureAwait(false);
        if (code != 0)
        {
            throw new CliException(ExitCodes.Failed, "git_failed", $"git {string.Join(' ', args.Take(3))} failed (exit {code}): {(stderr.Trim().Length > 0 ? stderr.Trim() : stdout.Trim())}");
        }
        return stdout;
    }

    /// <summary>Runs git and returns its exit code and output.</summary>
    public async Task<(int ExitCode, string Stdout, string Stderr)> TryAsync(CancellationToken ct, params string[] args)
    {
        var start = new ProcessStartInfo("git")
        {
            WorkingDirectory = Directory, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        // Never a question on a terminal nobody watches: a missing credential fails instead (the user's helpers still answer).
        start.Environment["GIT_TERMINAL_PROMPT"] = "0";
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new CliException(ExitCodes.Failed, "git_missing", "git could not be started.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new CliException(ExitCodes.Failed, "git_missing", "git is not installed or not on PATH: " + e.Message);
        }
        using (process)
        {
            process.StandardInput.Close();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(Timeout);
            var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
            var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
            try
            {
                await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
                return (process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                if (ct.IsCancellationRequested)
                {
                    throw;
                }
                throw new CliException(ExitCodes.Failed, "git_timeout", $"git {string.Join(' ', args.Take(3))} did not finish within {Timeout.TotalMinutes} minutes.");
            }
        }
    }
}
