using System.Diagnostics;

namespace Sandbox.Client.Tests;

/// <summary>Building and running the clients in other languages as their users would: programs run to their end, bounded.</summary>
internal static class ClientBuild
{
    /// <summary>Copies a source folder, leaving out build output and caches.</summary>
    public static void CopyTree(string from, string to, string[] skip)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }
        foreach (var dir in Directory.GetDirectories(from).Where(d => !skip.Contains(Path.GetFileName(d)) && !Path.GetFileName(d).EndsWith(".egg-info", StringComparison.Ordinal)))
        {
            CopyTree(dir, Path.Combine(to, Path.GetFileName(dir)), skip);
        }
    }

    /// <summary>Runs a program to its end (at most 5 minutes); a non-zero exit fails the test with all it printed.</summary>
    public static async Task<string> RunAsync(string file, IReadOnlyList<string> args, string directory, params (string Name, string Value)[] env)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        foreach (var (name, value) in env)
        {
            start.Environment[name] = value;
        }
        start.Environment["PIP_NO_INPUT"] = "1";
        if (!start.Environment.ContainsKey("NODE_EXTRA_CA_CERTS") && File.Exists("/etc/ssl/certs/ca-certificates.crt"))
        {
            start.Environment["NODE_EXTRA_CA_CERTS"] = "/etc/ssl/certs/ca-certificates.crt"; // npm trusts the system's CAs too
        }
        start.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        using var p = Process.Start(start) ?? throw new InvalidOperationException("could not start " + file);
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var stdout = p.StandardOutput.ReadToEndAsync(cts.Token);
        var stderr = p.StandardError.ReadToEndAsync(cts.Token);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw;
        }
        var text = await stdout + await stderr;
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)} exited {p.ExitCode}:\n{text}");
        return await stdout;
    }
}
