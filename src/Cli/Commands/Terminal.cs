using System.Runtime.InteropServices;

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

    /// <summary>Puts the terminal in raw mode (no echo, no line editing, no signals or flow control from keys: Ctrl-C,
    /// Ctrl-Q and the rest go to the remote terminal) until disposed; nothing when stdin is not a terminal or on Windows.
    /// Done with the C library's own calls, not an <c>stty</c> child: .NET puts the terminal back when a child exits.</summary>
    public static IDisposable RawMode()
    {
        if (Console.IsInputRedirected || OperatingSystem.IsWindows())
        {
            return new Restore(null);
        }
        var saved = new byte[TermiosSize];
        if (Native.tcgetattr(0, saved) != 0)
        {
            return new Restore(null);
        }
        var raw = (byte[])saved.Clone();
        Native.cfmakeraw(raw);
        return Native.tcsetattr(0, TcsaNow, raw) == 0 ? new Restore(saved) : new Restore(null);
    }

    /// <summary>Larger than any platform's <c>struct termios</c> (60 bytes on Linux, 72 on macOS): the C library fills
    /// it and reads it back, so its layout never matters here.</summary>
    private const int TermiosSize = 256;

    private const int TcsaNow = 0;

    private sealed class Restore(byte[]? saved) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (saved is not null && Interlocked.Exchange(ref _done, 1) == 0)
            {
                _ = Native.tcsetattr(0, TcsaNow, saved);
            }
        }
    }

    private static class Native
    {
        static Native() => NativeLibrary.SetDllImportResolver(typeof(Native).Assembly, (name, assembly, path) =>
            name != "libc" ? IntPtr.Zero
            : NativeLibrary.TryLoad(OperatingSystem.IsMacOS() ? "/usr/lib/libSystem.dylib" : "libc.so.6", out var handle) ? handle : IntPtr.Zero);

        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int tcgetattr(int fd, byte[] termios);

        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int tcsetattr(int fd, int optionalActions, byte[] termios);

        [DllImport("libc")]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern void cfmakeraw(byte[] termios);
    }
}
