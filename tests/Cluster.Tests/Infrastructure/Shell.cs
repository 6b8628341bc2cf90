using System.Diagnostics;

namespace Sandbox.Cluster.Tests.Infrastructure;

/// <summary>Runs a program with an argument vector (never a shell string), a time limit, and its output captured.</summary>
public static class Shell
{
    public static async Task<(int Code, string Output)> RunAsync(string program, IEnumerable<string> args, TimeSpan timeout,
        IReadOnlyDictionary<string, string>? env = null, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory ?? "" };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }
        using var p = Process.Start(psi)!;
        using var cts = new CancellationTokenSource(timeout);
        var stdout = p.StandardOutput.ReadToEndAsync(cts.Token);
        var stderr = p.StandardError.ReadToEndAsync(cts.Token);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish within {timeout}");
        }
        return (p.ExitCode, await stdout + await stderr);
    }

    /// <summary>Runs and throws with the output when the exit status is not 0.</summary>
    public static async Task<string> CheckAsync(string program, IEnumerable<string> args, TimeSpan timeout, IReadOnlyDictionary<string, string>? env = null,
        string? workingDirectory = null)
    {
        var list = args.ToList();
        var (code, output) = await RunAsync(program, list, timeout, env, workingDirectory);
        return code == 0 ? output : throw new InvalidOperationException($"{program} {string.Join(' ', list)} exited {code}: {output}");
    }
}
