using System.ComponentModel.DataAnnotations;
using System.Text.RegularExpressions;
using Sandbox.Egress;

namespace Sandbox.Git;

/// <summary>Sessions from git repositories, agents' branches, exports and pushes, bound from <c>Sandbox:Git</c>.</summary>
public sealed class GitOptions : IValidatableObject, ISandboxOptionsSection
{
    /// <inheritdoc />
    public static string SectionName => "Sandbox:Git";

    /// <summary>Hosts a repository may be cloned from or pushed to (patterns as in <c>Sandbox:Egress:Allow</c>:
    /// <c>name</c>, <c>*.suffix</c>, <c>*</c>, each with an optional <c>:port</c>; default ports 80 and 443). Private
    /// addresses are reached only when <c>Sandbox:Egress:PermittedAddresses</c> permits them. Empty: no git sessions.</summary>
    public List<string> Hosts { get; set; } = ["*"];

    /// <summary>Credentials by name, each bound to one host. A caller names one (<c>git.credentials</c>); the helper's
    /// proxy adds it on the way to that host, so it never enters a session or the helper.</summary>
    public Dictionary<string, GitCredentialOptions> Credentials { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Branch name patterns (<c>*</c> matches any characters) that <c>push_changes</c> refuses to push to.</summary>
    public List<string> ProtectedBranches { get; set; } = ["main", "master", "release/*"];

    /// <summary>Image of the git helper (needs git and python3). Empty: the <c>agent</c> image.</summary>
    public string? HelperImage { get; set; }

    /// <summary>Longest a clone or a push may take.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Prefix of the branch an agent run works on (<c>sandbox/&lt;run-id&gt;</c>).</summary>
    [Required, RegularExpression("^[A-Za-z0-9][A-Za-z0-9._/-]{0,60}$")] public string BranchPrefix { get; set; } = "sandbox/";

    /// <summary>Author name of commits made in a cloned workspace (the session's own git configuration).</summary>
    [Required] public string AuthorName { get; set; } = "Sandbox Agent";

    /// <summary>Author e-mail of commits made in a cloned workspace.</summary>
    [Required] public string AuthorEmail { get; set; } = "agent@sandbox.invalid";

    /// <summary>Exports up to this size are returned inline as well as kept in the workspace; larger ones only as a file
    /// (and a link where the face has one).</summary>
    [Range(0, 64 << 20)] public int MaxInlineExportBytes { get; set; } = 1 << 20;

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var pattern in Hosts)
        {
            if (!EgressPattern.TryParse(pattern, out _, out var error))
            {
                yield return new ValidationResult($"Hosts: '{pattern}': {error}", [nameof(Hosts)]);
            }
        }
        foreach (var (name, credential) in Credentials)
        {
            if (!EgressPattern.IsSecretName(name))
            {
                yield return new ValidationResult($"Credentials: '{name}' is not a name of letters, digits, '-' and '_'.", [nameof(Credentials)]);
            }
            if (string.IsNullOrEmpty(credential.Host) || !EgressPattern.IsHostName(credential.Host.ToLowerInvariant()))
            {
                yield return new ValidationResult($"Credentials:{name}:Host must be a host name (no pattern, no port).", [nameof(Credentials)]);
            }
            if (string.IsNullOrEmpty(credential.Token) || credential.Token.Any(char.IsControl) || (credential.Username ?? "").Any(c => char.IsControl(c) || c == ':'))
            {
                yield return new ValidationResult($"Credentials:{name}: Token is required; neither it nor Username may hold control characters (nor Username a ':').", [nameof(Credentials)]);
            }
        }
        foreach (var branch in ProtectedBranches)
        {
            if (string.IsNullOrWhiteSpace(branch))
            {
                yield return new ValidationResult("ProtectedBranches: empty pattern.", [nameof(ProtectedBranches)]);
            }
        }
        if (Timeout <= TimeSpan.Zero || Timeout > TimeSpan.FromHours(2))
        {
            yield return new ValidationResult("Timeout must be between 1 second and 2 hours.", [nameof(Timeout)]);
        }
    }

    /// <summary>Whether <paramref name="branch"/> matches a protected pattern.</summary>
    public bool IsProtected(string branch) => ProtectedBranches.Any(p =>
        Regex.IsMatch(branch, "^" + Regex.Escape(p).Replace("\\*", ".*", StringComparison.Ordinal) + "$", RegexOptions.None, TimeSpan.FromSeconds(1)));
}

/// <summary>One operator credential for git hosts: sent as HTTP basic authentication by the helper's proxy.</summary>
public sealed class GitCredentialOptions
{
    /// <summary>The host it is sent to (and no other).</summary>
    public string Host { get; set; } = "";

    /// <summary>User name (<c>x-access-token</c> suits GitHub tokens; most forges ignore it for tokens).</summary>
    public string? Username { get; set; } = "x-access-token";

    /// <summary>The token or password. Never logged, stored, returned, or given to a sandbox.</summary>
    public string Token { get; set; } = "";
}
