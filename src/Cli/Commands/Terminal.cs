using System.Diagnostics;

namespace Sandbox.Cli.Commands;

/// <summary>The user's own terminal: its size, and raw mode while attached (keys go to the remote terminal as typed;
/// on Unix through <c>stty</c>, which every Unix has).</summary>
internal static class Terminal
{
    public static int Columns() => Console.IsOutputRedirected ? 120 : Math.Clamp(SafeSize(() => Console.WindowWidth, 120), 20, 1000);

    public static int Rows() => Console.IsOutputRedirected ? 40 : Math.Clamp(SafeSize(() => Console.WindowHeight, 40), 5, 1000);

    private static int SafeSize(Func<int> read, int fallback)
    {
        try
        {
            var v = read();
            return v > 0 ? v : fallback;
        }
        catch (IOException)
        {
            return fallback;
        }
    }

    /// <summary>Puts the terminal in raw mode (no echo, no line editing, no signals from keys) until disposed; nothing
    /// when stdin is not a terminal or on Windows.</summary>
    public static IDisposable RawMode()
    {
        if (Console.IsInputRedirected || OperatingSystem.IsWindows())
        {
            return new Restore(null);
        }
        var saved = Stty("-g")?.Trim();
        Stty("raw", "-echo");
        return new Restore(saved);
    }

    private static string? Stty(params string[] args)
    {
        // stty works on its stdin, which it inherits: the user's terminal.
        var start = new ProcessStartInfo("stty") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        try
        {
            using var p = Process.Start(start);
            if (p is null)
            {
                return null;
            }
            var output = p.StandardOutput.ReadToEnd();
            return p.WaitForExit(5000) && p.ExitCode == 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    private sealed class Restore(string? saved) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (saved is { Length: > 0 } && Interlocked.Exchange(ref _done, 1) == 0)
            {
                Stty(saved);
            }
        }
    }
}
