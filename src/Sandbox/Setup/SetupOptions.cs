using System.ComponentModel.DataAnnotations;
using System.Text.RegularExpressions;

namespace Sandbox.Setup;

/// <summary>Setup commands run before a new session is ready, bound from <c>Sandbox:Setup</c>.</summary>
public sealed class SetupOptions : IValidatableObject, ISandboxOptionsSection
{
    /// <inheritdoc />
    public static string SectionName => "Sandbox:Setup";

    /// <summary>Commands per image short name, run (as bash lines, in order) in every new session of that image before the
    /// caller's own <c>setup</c> commands. Sessions of such an image never come from the warm pool's idle containers
    /// without them: the commands run after the claim.</summary>
    public Dictionary<string, List<string>> Images { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Longest all setup commands of one session may take together.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Most setup commands a caller may give.</summary>
    [Range(0, 100)] public int MaxCommands { get; set; } = 20;

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Timeout <= TimeSpan.Zero || Timeout > TimeSpan.FromHours(2))
        {
            yield return new ValidationResult("Timeout must be between 1 second and 2 hours.", [nameof(Timeout)]);
        }
        foreach (var (image, commands) in Images)
        {
            if (commands.Any(string.IsNullOrWhiteSpace))
            {
                yield return new ValidationResult($"Images:{image}: empty command.", [nameof(Images)]);
            }
        }
    }
}

/// <summary>Host directories sessions may mount read-only, bound from <c>Sandbox:Context</c>.</summary>
public sealed partial class ContextOptions : IValidatableObject, ISandboxOptionsSection
{
    /// <inheritdoc />
    public static string SectionName => "Sandbox:Context";

    /// <summary>Directories by name: a caller asks for <c>context: ["docs"]</c> and gets the directory mounted read-only at
    /// <c>/context/docs</c>. Only these, by name: callers never give a host path. Paths are on the engine's host (with
    /// <c>docker compose</c>, the machine's own paths).</summary>
    public Dictionary<string, string> Directories { get; set; } = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var (name, path) in Directories)
        {
            if (!ContextName().IsMatch(name))
            {
                yield return new ValidationResult($"Directories: '{name}' is not a name of letters, digits, '.', '-' and '_'.", [nameof(Directories)]);
            }
            if (string.IsNullOrEmpty(path) || !Path.IsPathFullyQualified(path))
            {
                yield return new ValidationResult($"Directories:{name}: '{path}' must be an absolute path.", [nameof(Directories)]);
            }
        }
    }

    /// <summary>A context name.</summary>
    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$")]
    internal static partial Regex ContextName();
}
