using System.Text.RegularExpressions;

namespace Sandbox.Sessions;

/// <summary>Image references callers may name (<see cref="SandboxOptions.ImagePatterns"/>): what a reference may look
/// like, and whether an operator's pattern allows it.</summary>
public static partial class ImageReferences
{
    /// <summary>Whether <paramref name="reference"/> has the shape of a Docker image reference
    /// (<c>[registry[:port]/]path[:tag][@sha256:digest]</c>), lower-case path, at most 255 characters.</summary>
    public static bool IsReference(string reference) => reference.Length <= 255 && Shape().IsMatch(reference);

    /// <summary>Whether one of <paramref name="patterns"/> (<c>*</c>: any characters) matches the whole reference.</summary>
    public static bool Matches(string reference, IEnumerable<string> patterns) =>
        patterns.Any(p => Regex.IsMatch(reference, "^" + string.Join(".*", p.Trim().Split('*').Select(Regex.Escape)) + "$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)));

    [GeneratedRegex(@"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::[0-9]{1,5})?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$")]
    private static partial Regex Shape();
}
