using System.Text;
using System.Text.RegularExpressions;
using Sandbox.Files;

namespace Sandbox.Execution;

/// <summary>A slice of an execution's kept output.</summary>
/// <param name="ExecutionId">The execution.</param>
/// <param name="Stream"><c>stdout</c> or <c>stderr</c>.</param>
/// <param name="Offset">Byte offset of the slice in the log.</param>
/// <param name="Length">Bytes in the slice.</param>
/// <param name="TotalBytes">Bytes in the whole log.</param>
/// <param name="Text">The slice, decoded as UTF-8 (a character cut at either end reads as U+FFFD).</param>
public sealed record OutputSlice(string ExecutionId, string Stream, long Offset, int Length, long TotalBytes, string Text);

/// <summary>One line of a kept output that matched.</summary>
/// <param name="Line">Line number, from 1.</param>
/// <param name="Offset">Byte offset of the line in the log.</param>
/// <param name="Text">The line (at most 1000 characters).</param>
public sealed record OutputMatch(int Line, long Offset, string Text);

/// <summary>The lines of a kept output that matched a pattern.</summary>
/// <param name="ExecutionId">The execution.</param>
/// <param name="Stream"><c>stdout</c> or <c>stderr</c>.</param>
/// <param name="Matches">The matching lines, in order.</param>
/// <param name="More">Whether more lines matched than were returned.</param>
public sealed record OutputMatches(string ExecutionId, string Stream, IReadOnlyList<OutputMatch> Matches, bool More);

/// <summary>
/// The whole output of executions whose answers could not hold it all (and of background processes), kept by the
/// runner in the session's workspace (<c>/workspace/.outputs/ID.stdout</c> and <c>.stderr</c>, raw bytes, bounded by the
/// workspace's size): read any slice of it, or the lines that match a pattern.
/// </summary>
public sealed class OutputLog
{
    /// <summary>Largest slice one read returns.</summary>
    public const int MaxSlice = 1 << 20;

    /// <summary>Most matching lines one grep returns.</summary>
    public const int MaxMatches = 1000;

    private readonly WorkspaceFileService _files;

    /// <summary>Creates the reader.</summary>
    public OutputLog(WorkspaceFileService files) => _files = files;

    /// <summary>The workspace path of an execution's logs, without the stream suffix.</summary>
    public static string PathOf(string executionId) => ".outputs/" + executionId;

    /// <summary>Bytes <paramref name="offset"/> to <paramref name="offset"/>+<paramref name="length"/> of a stream's log.</summary>
    public async Task<OutputSlice> ReadAsync(string sessionId, string owner, string executionId, string stream, long offset, int length, CancellationToken ct)
    {
        if (offset < 0 || length is <= 0 or > MaxSlice)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"offset must be 0 or more and length between 1 and {MaxSlice} bytes.");
        }
        var bytes = await LoadAsync(sessionId, owner, executionId, stream, ct).ConfigureAwait(false);
        var from = (int)Math.Min(offset, bytes.Length);
        var count = Math.Min(length, bytes.Length - from);
        return new OutputSlice(executionId, stream, from, count, bytes.Length, Encoding.UTF8.GetString(bytes, from, count));
    }

    /// <summary>The lines of a stream's log that match <paramref name="pattern"/> (a .NET regular expression, bounded in time).</summary>
    public async Task<OutputMatches> GrepAsync(string sessionId, string owner, string executionId, string stream, string pattern, int maxMatches, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(pattern) || pattern.Length > 1000)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "pattern must be 1 to 1000 characters.");
        }
        Regex regex;
        try
        {
            regex = new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(2));
        }
        catch (ArgumentException e)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "pattern is not a valid regular expression: " + e.Message);
        }
        var limit = Math.Clamp(maxMatches, 1, MaxMatches);
        var bytes = await LoadAsync(sessionId, owner, executionId, stream, ct).ConfigureAwait(false);
        var matches = new List<OutputMatch>();
        var line = 0;
        var start = 0;
        try
        {
            while (start < bytes.Length)
            {
                ct.ThrowIfCancellationRequested();
                var end = Array.IndexOf(bytes, (byte)'\n', start);
                var stop = end < 0 ? bytes.Length : end;
                line++;
                var text = Encoding.UTF8.GetString(bytes, start, stop - start);
                if (regex.IsMatch(text))
                {
                    if (matches.Count == limit)
                    {
                        return new OutputMatches(executionId, stream, matches, true);
                    }
                    matches.Add(new OutputMatch(line, start, text.Length > 1000 ? text[..1000] : text));
                }
                start = stop + 1;
            }
        }
        catch (RegexMatchTimeoutException)
        {
            throw new SandboxException(SandboxErrorCodes.Timeout, "The pattern took too long on this output (over 2 s on one line); use a simpler one.");
        }
        return new OutputMatches(executionId, stream, matches, false);
    }

    private async Task<byte[]> LoadAsync(string sessionId, string owner, string executionId, string stream, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(executionId) || executionId.Length > 64 || !executionId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "execution_id is not an execution id.");
        }
        if (stream is not ("stdout" or "stderr"))
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "stream must be 'stdout' or 'stderr'.");
        }
        try
        {
            var file = await _files.DownloadAsync(sessionId, owner, $"{PathOf(executionId)}.{stream}", ct).ConfigureAwait(false);
            return file.Content;
        }
        catch (SandboxException e) when (e.Code == SandboxErrorCodes.FileNotFound)
        {
            throw new SandboxException(SandboxErrorCodes.FileNotFound,
                $"No kept {stream} for execution {executionId} in this session: an execution keeps a stream in /workspace/.outputs only when its answer could not hold it all (or it was deleted since).");
        }
    }
}
