using System.Text;
using System.Text.RegularExpressions;
using Sandbox.Terminals;

namespace Sandbox.Tests.Common;

/// <summary>Reads a terminal's output (in the background) into a buffer that can be waited on.</summary>
public sealed partial class TerminalScreen : IAsyncDisposable
{
    private readonly StringBuilder _text = new();
    private readonly CancellationTokenSource _cts = new();
    private readonly Task _pump;

    public TerminalScreen(TerminalAttachment terminal) => _pump = Task.Run(async () =>
    {
        await foreach (var chunk in terminal.ReadAsync(_cts.Token))
        {
            lock (_text)
            {
                _text.Append(Encoding.UTF8.GetString(chunk));
            }
        }
    });

    public string Text
    {
        get
        {
            lock (_text)
            {
                return _text.ToString();
            }
        }
    }

    /// <summary>The text without terminal control sequences and without spaces (a full-screen program moves the cursor
    /// instead of printing them), for finding words a program drew.</summary>
    public string Drawn => Whitespace().Replace(ControlSequences().Replace(Text, ""), "");

    public Task Ended => _pump;

    public async Task WaitForAsync(string expected, int occurrences = 1, double seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (CountOf(Text, expected) < occurrences)
        {
            Assert.True(DateTime.UtcNow < deadline, $"'{expected}' did not appear {occurrences} times; the terminal shows:\n{Text}");
            await Task.Delay(50);
        }
    }

    /// <summary>Waits until <paramref name="expected"/> (without spaces) is drawn.</summary>
    public async Task WaitForDrawnAsync(string expected, double seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!Drawn.Contains(expected, StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, $"'{expected}' was not drawn; the terminal shows:\n{Drawn}");
            await Task.Delay(100);
        }
    }

    private static int CountOf(string text, string part)
    {
        var count = 0;
        for (var i = text.IndexOf(part, StringComparison.Ordinal); i >= 0; i = text.IndexOf(part, i + part.Length, StringComparison.Ordinal))
        {
            count++;
        }
        return count;
    }

    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync();
        try
        {
            await _pump;
        }
        catch (OperationCanceledException)
        {
        }
        _cts.Dispose();
    }

    [GeneratedRegex(@"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[()][A-Za-z0-9]|\x1b[=>78]")]
    private static partial Regex ControlSequences();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
