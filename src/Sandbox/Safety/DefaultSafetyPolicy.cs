using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Sandbox.Safety;

/// <summary>The default policy: deny lists for calls, imports and interpreter internals; a few bash patterns.</summary>
public sealed partial class DefaultSafetyPolicy : ISafetyPolicy
{
    private readonly SafetyOptions _options;

    /// <summary>Creates the policy from the safety options.</summary>
    public DefaultSafetyPolicy(IOptions<SafetyOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
    }

    /// <inheritdoc />
    public IReadOnlyList<SafetyFinding> CheckPython(IReadOnlyList<CodeFact> facts, IReadOnlyCollection<string> allow)
    {
        ArgumentNullException.ThrowIfNull(facts);
        ArgumentNullException.ThrowIfNull(allow);
        var findings = new List<SafetyFinding>();
        foreach (var fact in facts)
        {
            switch (fact.Kind)
            {
                case "call":
                    if (Matches(_options.DeniedCalls, fact.Name) is { } call)
                    {
                        findings.Add(new("PY001", fact.Line, $"call to {fact.Name} is not allowed (runs processes, kills or deletes outside Python's control); use Python APIs instead, or allow '{call}' if you really need it", fact.Name));
                    }
                    if (!fact.ConstantArgs && _options.DynamicCodeCalls.Contains(fact.Name, StringComparer.Ordinal))
                    {
                        findings.Add(new("PY003", fact.Line, $"{fact.Name} with a computed argument runs code the check cannot see; pass a literal or allow 'PY003'", fact.Name));
                    }
                    break;
                case "import":
                    var root = fact.Name.Split('.')[0];
                    if (_options.DeniedImports.Contains(root, StringComparer.Ordinal))
                    {
                        findings.Add(new("PY002", fact.Line, $"import of {root} is not allowed (low-level system or network access); allow '{root}' if you really need it", root));
                    }
                    break;
                case "attribute":
                    var last = fact.Name[(fact.Name.LastIndexOf('.') + 1)..];
                    if (_options.DeniedAttributes.Contains(last, StringComparer.Ordinal))
                    {
                        findings.Add(new("PY004", fact.Line, $"access to {last} reaches interpreter internals; allow 'PY004' if you really need it", last));
                    }
                    break;
            }
        }
        return Filter(findings.DistinctBy(f => (f.RuleId, f.Line, f.Name)), allow);
    }

    /// <inheritdoc />
    public IReadOnlyList<SafetyFinding> CheckBash(string code, IReadOnlyCollection<string> allow)
    {
        ArgumentNullException.ThrowIfNull(code);
        ArgumentNullException.ThrowIfNull(allow);
        var findings = new List<SafetyFinding>();
        var lines = code.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            foreach (var (rule, regex, name, message) in BashRules)
            {
                if (regex.IsMatch(lines[i]))
                {
                    findings.Add(new(rule, i + 1, message, name));
                }
            }
        }
        return Filter(findings, allow);
    }

    private static readonly (string Rule, Regex Regex, string Name, string Message)[] BashRules =
    [
        ("SH001", RmRoot(), "rm-root", "recursive delete of / or a system directory"),
        ("SH002", ForkBomb(), "fork-bomb", "looks like a fork bomb"),
        ("SH003", NetTools(), "network-tools", "network tools cannot reach anything from a sandbox without network"),
        ("SH004", Privilege(), "privilege", "privilege changes (sudo, su, mount, chroot, nsenter, unshare) are not available in the sandbox"),
        ("SH005", DiskWipe(), "disk-wipe", "writes to raw devices or filesystems"),
    ];

    [GeneratedRegex(@"\brm\s+(-[a-zA-Z]*[rR][a-zA-Z]*\s+)+(--no-preserve-root\s+)?/(\s|$|\*|bin|boot|dev|etc|lib|proc|sys|usr|var)")]
    private static partial Regex RmRoot();
    [GeneratedRegex(@":\s*\(\s*\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:")]
    private static partial Regex ForkBomb();
    [GeneratedRegex(@"(^|[\s;|&(])(curl|wget|nc|ncat|netcat|ssh|scp|telnet)\s")]
    private static partial Regex NetTools();
    [GeneratedRegex(@"(^|[\s;|&(])(sudo|su|mount|umount|chroot|nsenter|unshare|setcap)(\s|$)")]
    private static partial Regex Privilege();
    [GeneratedRegex(@"(\bmkfs(\.\w+)?\b|\bdd\b.*\bof=/dev/|>\s*/dev/(sd|vd|nvme|xvd))")]
    private static partial Regex DiskWipe();

    private static string? Matches(IEnumerable<string> patterns, string name)
    {
        foreach (var p in patterns)
        {
            if (p.EndsWith('*') ? name.StartsWith(p[..^1], StringComparison.Ordinal) : name == p)
            {
                return p;
            }
        }
        return null;
    }

    private static List<SafetyFinding> Filter(IEnumerable<SafetyFinding> findings, IReadOnlyCollection<string> allow) =>
        findings.Where(f => !allow.Contains(f.RuleId) && !allow.Contains(f.Name)
                            && !allow.Any(a => a.EndsWith('*') && f.Name.StartsWith(a[..^1], StringComparison.Ordinal))
                            && !allow.Contains(f.Name.Split('.')[0] + ".*"))
            .ToList();
}
