using System.Text.Json;
using Microsoft.Extensions.Options;
using Sandbox.Runner;
using Sandbox.Safety;
using Sandbox.Sessions;
using static Sandbox.Runner.RunnerJson;

namespace Sandbox.Execution;

/// <summary>The static safety check before code runs: Python is parsed by Python itself in the sandbox's runner process
/// (not the user's interpreter), bash is checked on the host, and the policy decides; in enforce mode findings refuse the
/// code with <c>unsafe_code</c>.</summary>
public sealed class ExecutionSafety(ISafetyPolicy policy, IOptions<SafetyOptions> options)
{
    /// <summary>Code texts whose facts a session remembers (code run again, as agents and test loops do, skips the
    /// round trip to the runner). Per session: the facts come from that session's runner, so a sandbox that lied about
    /// its code would only fool its own later checks, which it could do anyway.</summary>
    private const int CachedPerSession = 256;
    private const int CacheableChars = 64 * 1024;

    private readonly SafetyOptions _options = options.Value;
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<Session, System.Collections.Concurrent.ConcurrentDictionary<string, List<CodeFact>>> _facts = new();

    internal async Task<IReadOnlyList<SafetyFinding>> CheckAsync(Session session, ExecutionRequest request, CancellationToken ct)
    {
        if (_options.Mode == SafetyMode.Off)
        {
            return [];
        }
        IReadOnlyList<SafetyFinding> findings;
        if (request.Language == "python")
        {
            // A syntax error is reported by Python itself when the code runs, with Python's exact message.
            findings = policy.CheckPython(await FactsAsync(session, request.Code, ct).ConfigureAwait(false), request.Allow.ToHashSet(StringComparer.Ordinal));
        }
        else if (request.Language == "bash")
        {
            var allow = request.Allow.ToHashSet(StringComparer.Ordinal);
            if (session.Docker is not null)
            {
                // Network tools reach the session's own containers (localhost, services:<port>, compose names).
                allow.Add("network-tools");
            }
            findings = policy.CheckBash(request.Code, allow);
        }
        else
        {
            findings = []; // no static policy for JavaScript: the container alone is the boundary
        }
        if (findings.Count > 0 && _options.Mode == SafetyMode.Enforce)
        {
            var lines = string.Join("; ", findings.Take(10).Select(f => $"line {f.Line}: [{f.RuleId}] {f.Message}"));
            throw new SandboxException(SandboxErrorCodes.UnsafeCode,
                $"The code was not run: the safety check found {findings.Count} problem(s): {lines}. Rewrite the code, or pass the rule ids or names in 'allow' if the code is intended.")
            {
                Details = findings,
            };
        }
        return findings;
    }

    private async Task<List<CodeFact>> FactsAsync(Session session, string code, CancellationToken ct)
    {
        var cache = _facts.GetOrCreateValue(session);
        if (cache.TryGetValue(code, out var known))
        {
            return known;
        }
        var reply = await session.Live.AskAsync(new AnalyzeRequest(code), TimeSpan.FromSeconds(10), "safety check", ct).ConfigureAwait(false);
        var facts = ParseFacts(reply.Body);
        if (reply.Type == "facts" && code.Length <= CacheableChars)
        {
            if (cache.Count >= CachedPerSession)
            {
                cache.Clear();
            }
            cache[code] = facts;
        }
        return facts;
    }

    private static List<CodeFact> ParseFacts(JsonElement body)
    {
        var list = new List<CodeFact>();
        if (!body.TryGetProperty("facts", out var facts) || facts.ValueKind != JsonValueKind.Array)
        {
            return list;
        }
        foreach (var f in facts.EnumerateArray())
        {
            if (f.ValueKind != JsonValueKind.Object || Str(f, "kind") is not { } kind || Str(f, "name") is not { } name)
            {
                continue;
            }
            var constant = !f.TryGetProperty("constant_args", out var c) || c.ValueKind != JsonValueKind.False;
            list.Add(new CodeFact(kind, name, Int(f, "line") ?? 0, constant));
        }
        return list;
    }
}
