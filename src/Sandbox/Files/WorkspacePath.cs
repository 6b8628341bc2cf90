using System.Globalization;
using System.Text;

namespace Sandbox.Files;

/// <summary>Validation of caller-supplied paths inside a session's workspace. Pure logic, no I/O.</summary>
public static class WorkspacePath
{
    /// <summary>The workspace directory inside every session container.</summary>
    public const string Root = "/workspace";

    /// <summary>Longest accepted path, in UTF-8 bytes.</summary>
    public const int MaxPathBytes = 1024;

    /// <summary>Longest accepted path segment, in UTF-8 bytes (the usual file-name limit).</summary>
    public const int MaxSegmentBytes = 255;

    /// <summary>Checks a relative workspace path and returns it normalized (segments joined by <c>/</c>).
    /// An empty string or <c>.</c> means the workspace itself when <paramref name="allowRoot"/> is set.</summary>
    /// <exception cref="SandboxException"><c>invalid_path</c> with the reason.</exception>
    public static string Normalize(string? path, bool allowRoot = false)
    {
        if (string.IsNullOrEmpty(path) || path == "." || path == "./")
        {
            return allowRoot ? "" : throw Invalid("a path is required");
        }
        if (Encoding.UTF8.GetByteCount(path) > MaxPathBytes)
        {
            throw Invalid($"the path is longer than {MaxPathBytes} bytes");
        }
        for (var i = 0; i < path.Length; i++)
        {
            var c = path[i];
            if (char.IsHighSurrogate(c) && i + 1 < path.Length && char.IsLowSurrogate(path[i + 1]))
            {
                i++;
                continue;
            }
            if (char.IsSurrogate(c))
            {
                throw Invalid("the path contains an unpaired surrogate");
            }
            if (c == '\0')
            {
                throw Invalid("the path contains a NUL character");
            }
            if (char.IsControl(c))
            {
                throw Invalid("the path contains a control character");
            }
            if (c == '\\')
            {
                throw Invalid("use '/' as the separator; '\\' is not allowed");
            }
            var cat = CharUnicodeInfo.GetUnicodeCategory(c);
            if (cat is UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator or UnicodeCategory.PrivateUse)
            {
                throw Invalid($"the path contains an invisible or direction-changing character (U+{(int)c:X4})");
            }
        }
        if (!path.IsNormalized(NormalizationForm.FormC))
        {
            throw Invalid("the path is not in Unicode normal form C");
        }
        if (path.StartsWith('/'))
        {
            throw Invalid($"absolute paths are not allowed; give a path relative to {Root}");
        }
        var segments = new List<string>();
        foreach (var segment in path.Split('/'))
        {
            if (segment.Length == 0 || segment == ".")
            {
                continue;
            }
            if (segment == "..")
            {
                throw Invalid("'..' segments are not allowed");
            }
            if (Encoding.UTF8.GetByteCount(segment) > MaxSegmentBytes)
            {
                throw Invalid($"a path segment is longer than {MaxSegmentBytes} bytes");
            }
            if (segment.Trim().Length == 0)
            {
                throw Invalid("a path segment is only white space");
            }
            segments.Add(segment);
        }
        if (segments.Count == 0)
        {
            return allowRoot ? "" : throw Invalid("a path is required");
        }
        return string.Join('/', segments);
    }

    /// <summary>The absolute container path of a normalized relative path.</summary>
    public static string ToContainerPath(string normalized) => normalized.Length == 0 ? Root : Root + "/" + normalized;

    /// <summary>Whether an absolute container path lies inside the workspace (after normalizing <c>.</c> and <c>..</c>).</summary>
    public static bool IsInsideWorkspace(string absolute)
    {
        var segments = Collapse(absolute);
        return segments.Count >= 1 && segments[0] == Root[1..];
    }

    /// <summary>Resolves a symlink target (absolute, or relative to <paramref name="linkDirectory"/>) to an absolute normalized path.</summary>
    public static string ResolveLink(string linkDirectory, string target) =>
        "/" + string.Join('/', Collapse(target.StartsWith('/') ? target : linkDirectory.TrimEnd('/') + "/" + target));

    /// <summary>The segments of an absolute path with <c>.</c> and <c>..</c> applied (<c>..</c> at the root stays at the root).</summary>
    private static List<string> Collapse(string absolute)
    {
        var stack = new List<string>();
        foreach (var segment in absolute.Split('/'))
        {
            if (segment == "..")
            {
                if (stack.Count > 0)
                {
                    stack.RemoveAt(stack.Count - 1);
                }
            }
            else if (segment.Length > 0 && segment != ".")
            {
                stack.Add(segment);
            }
        }
        return stack;
    }

    private static SandboxException Invalid(string reason) =>
        new(SandboxErrorCodes.InvalidPath, $"Invalid workspace path: {reason}.");
}
