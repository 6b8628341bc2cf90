using System.Globalization;

namespace Sandbox.Execution;

/// <summary>
/// Output fit for a model: text longer than a budget comes back as its head and tail around a marker that says how
/// much was left out and how to read it (the whole output stays in the session's <c>/workspace/.outputs</c>).
/// </summary>
public static class OutputBudget
{
    /// <summary>The budget of the MCP face when a call names none (characters of stdout, and of stderr).</summary>
    public const int McpDefault = 16_000;

    /// <summary>The smallest budget a call may ask for.</summary>
    public const int Minimum = 200;

    /// <summary>The result with stdout and stderr each cut to <paramref name="budget"/> characters (plus the marker).</summary>
    public static ExecutionResult Apply(ExecutionResult result, int budget)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (budget < Minimum)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"max_output_chars must be at least {Minimum}.");
        }
        var (stdout, cutOut) = Fit(result.Stdout, result.StdoutTail, budget, "stdout", result.StdoutBytes, result);
        var (stderr, cutErr) = Fit(result.Stderr, result.StderrTail, budget, "stderr", result.StderrBytes, result);
        return cutOut || cutErr ? result with { Stdout = stdout, Stderr = stderr, Truncated = true } : result;
    }

    private static (string Text, bool Cut) Fit(string text, string? realEnd, int budget, string stream, long? totalBytes, ExecutionResult result)
    {
        // The text the host holds is cut at the server cap; when it was, the runner sent the output's real end too.
        var end = realEnd ?? text;
        if (realEnd is null && text.Length <= budget)
        {
            return (text, false);
        }
        var head = Math.Min(budget * 2 / 5, text.Length);
        var tail = Math.Min(budget - head, end.Length);
        // End the head and start the tail on line boundaries when one is near.
        var headEnd = head == 0 ? -1 : text.LastIndexOf('\n', head - 1, Math.Min(head, 200));
        head = headEnd > 0 ? headEnd + 1 : head;
        var tailStart = tail == 0 ? -1 : end.IndexOf('\n', end.Length - tail, Math.Min(tail, 200));
        tail = tailStart >= 0 && tailStart < end.Length - 1 ? end.Length - tailStart - 1 : tail;
        var size = totalBytes is { } bytes ? $"{bytes} bytes in all" : realEnd is null ? $"{text.Length} characters in all" : "more than the server keeps in an answer";
        var where = result.OutputLog is { } log
            ? $" The whole {stream} is kept in /workspace/{log}.{stream}: read_output(execution_id=\"{result.ExecutionId}\", stream=\"{stream}\", offset, length) reads any part, grep_output finds lines."
            : " The rest was not kept.";
        var marker = string.Create(CultureInfo.InvariantCulture, $"\n[... {stream} left out here ({size}; the first {head} and the last {tail} characters are shown).{where} ...]\n");
        return (text[..head] + marker + end[^tail..], true);
    }
}
