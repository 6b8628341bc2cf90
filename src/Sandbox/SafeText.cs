namespace Sandbox;

/// <summary>Untrusted text (a caller's argument, a header, a line from a sandbox) made fit for a message or a log.</summary>
public static class SafeText
{
    /// <summary>At most <paramref name="max"/> characters, control characters replaced by <c>?</c>, with <c>…</c>
    /// when something was cut.</summary>
    public static string Shorten(string? text, int max = 64)
    {
        if (text is null)
        {
            return "";
        }
        var clean = new string(text.Take(max).Select(c => char.IsControl(c) ? '?' : c).ToArray());
        return text.Length > max ? clean + "…" : clean;
    }
}
