using System.ComponentModel.DataAnnotations;

namespace Sandbox.Agents;

/// <summary>Coding agents run inside sessions (<c>Sandbox:Agents</c>).</summary>
public sealed class AgentOptions : IValidatableObject, ISandboxOptionsSection
{
    /// <inheritdoc />
    public static string SectionName => "Sandbox:Agents";

    /// <summary>The model API the agents talk to (through the run's model proxy). The proxy forwards to this URL only.</summary>
    [Required] public string ModelEndpoint { get; set; } = "https://api.anthropic.com";

    /// <summary>The model API key. Held by the model proxy, which adds it to each forwarded request: it never enters
    /// the session container. Set it through the environment (<c>Sandbox__Agents__ApiKey</c>), not a file in git.</summary>
    public string? ApiKey { get; set; }

    /// <summary>The request header that carries the key: <c>x-api-key</c> (Anthropic) or <c>authorization</c>
    /// (sent as <c>Bearer KEY</c>, for OpenAI-style endpoints).</summary>
    [Required, RegularExpression("^(x-api-key|authorization)$")] public string AuthHeader { get; set; } = "x-api-key";

    /// <summary>Further model endpoints a caller may name per run (exact URLs). Empty: only <see cref="ModelEndpoint"/>.</summary>
    public List<string> AllowedModelEndpoints { get; set; } = [];

    /// <summary>Request paths the model proxy forwards (a trailing <c>*</c> allows a prefix; empty: every path). The
    /// default lets the key serve model calls only, not the provider's other APIs (files, batches, administration).</summary>
    public List<string> AllowedPaths { get; set; } = ["/v1/messages", "/v1/messages/count_tokens", "/v1/models*"];

    /// <summary>The Docker network that gives the model proxy its way out (it joins it for the run only).</summary>
    [Required] public string EgressNetwork { get; set; } = "bridge";

    /// <summary>Image of the model proxy (needs python3 and CA certificates). Empty: the session's own image.</summary>
    public string? ProxyImage { get; set; }

    /// <summary>Time limit of a run that names none.</summary>
    public TimeSpan DefaultTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The longest time limit a run may ask for.</summary>
    public TimeSpan MaxTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long an interactive agent (its own interface in a terminal) may live, attached or not, and the
    /// longest a caller may ask for: it is closed then.</summary>
    public TimeSpan InteractiveTimeout { get; set; } = TimeSpan.FromHours(24);

    /// <summary>What agents may do with git unless a run says otherwise: <c>Full</c> or <c>ReadOnly</c>.</summary>
    public AgentGitPolicy GitPolicy { get; set; } = AgentGitPolicy.Full;

    /// <summary>How often a running agent's commits are looked for (each new one is an event of the run).</summary>
    public TimeSpan CommitWatchInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Most turns of a Claude Code (or command) run that names none (<c>max_turns</c>); null for no limit.</summary>
    [Range(1, 1000)] public int? DefaultMaxTurns { get; set; } = 300;

    /// <summary>A server folder of bundled skills (one folder per skill, each with a <c>SKILL.md</c>) callers may name
    /// per run (<c>skills</c>); listed by <c>GET /api/skills</c>. Empty: none.</summary>
    public string? SkillsDirectory { get; set; }

    /// <summary>Agent runs at once, all sessions together.</summary>
    [Range(1, 1000)] public int MaxConcurrentRuns { get; set; } = 4;

    /// <summary>Characters of agent output (the trajectory) kept per run.</summary>
    [Range(64 * 1024, 256 * 1024 * 1024)] public int MaxTrajectoryChars { get; set; } = 16 * 1024 * 1024;

    /// <summary>Characters of the workspace diff kept per run.</summary>
    [Range(1024, 64 * 1024 * 1024)] public int MaxDiffChars { get; set; } = 1024 * 1024;

    /// <summary>Longest prompt accepted, in characters.</summary>
    [Range(1, 120_000)] public int MaxPromptChars { get; set; } = 100_000;

    /// <summary>Finished runs kept in memory per server (older ones are read from the store).</summary>
    [Range(1, 100_000)] public int RecentRunsKept { get; set; } = 200;

    /// <summary>The OpenAI-style model API of agents that speak it (Codex): its own endpoint, key and paths.</summary>
    [Required] public OpenAIModelOptions OpenAI { get; set; } = new();

    /// <summary>The endpoints a run may use: the configured one and the allowed extras.</summary>
    public IEnumerable<string> Endpoints() => AllowedModelEndpoints.Prepend(ModelEndpoint);

    /// <summary>The settings of one model API: the Anthropic one (this section's own) or the OpenAI one.</summary>
    internal (string Endpoint, IEnumerable<string> Endpoints, string? ApiKey, string AuthHeader, IReadOnlyList<string> Paths, string Section) Api(AgentModelApi api) =>
        api == AgentModelApi.OpenAI
            ? (OpenAI.ModelEndpoint, OpenAI.AllowedModelEndpoints.Prepend(OpenAI.ModelEndpoint), OpenAI.ApiKey, "authorization", OpenAI.AllowedPaths, "Sandbox:Agents:OpenAI")
            : (ModelEndpoint, Endpoints(), ApiKey, AuthHeader, AllowedPaths, "Sandbox:Agents");

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var endpoint in Endpoints().Concat(OpenAI.AllowedModelEndpoints.Prepend(OpenAI.ModelEndpoint)))
        {
            if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")
                || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.UserInfo))
            {
                yield return new ValidationResult($"Agents model endpoint '{endpoint}' must be an http(s) URL without query or credentials.",
                    [nameof(ModelEndpoint)]);
            }
        }
        if (DefaultTimeout <= TimeSpan.Zero || DefaultTimeout > MaxTimeout)
        {
            yield return new ValidationResult("Agents.DefaultTimeout must be positive and at most Agents.MaxTimeout.", [nameof(DefaultTimeout)]);
        }
        if (CommitWatchInterval < TimeSpan.FromMilliseconds(200) || CommitWatchInterval > TimeSpan.FromMinutes(1))
        {
            yield return new ValidationResult("Agents.CommitWatchInterval must be between 200 ms and one minute.", [nameof(CommitWatchInterval)]);
        }
        if (InteractiveTimeout < TimeSpan.FromMinutes(1) || InteractiveTimeout > TimeSpan.FromDays(7))
        {
            yield return new ValidationResult("Agents.InteractiveTimeout must be between one minute and seven days.", [nameof(InteractiveTimeout)]);
        }
    }
}

/// <summary>Which model API an agent speaks (and so which endpoint, key and paths its model proxy uses).</summary>
public enum AgentModelApi
{
    /// <summary>Anthropic's Messages API (<c>Sandbox:Agents</c>): Claude Code.</summary>
    Anthropic,
    /// <summary>OpenAI's Responses API (<c>Sandbox:Agents:OpenAI</c>): Codex.</summary>
    OpenAI,
}

/// <summary>The OpenAI-style model API agents such as Codex use (<c>Sandbox:Agents:OpenAI</c>); the key is sent as
/// <c>Authorization: Bearer</c> by the run's model proxy and never enters the session.</summary>
public sealed class OpenAIModelOptions
{
    /// <summary>The API's base URL (the agent calls <c>/v1/responses</c> under it).</summary>
    [Required] public string ModelEndpoint { get; set; } = "https://api.openai.com";

    /// <summary>The API key. Set it through the environment (<c>Sandbox__Agents__OpenAI__ApiKey</c>).</summary>
    public string? ApiKey { get; set; }

    /// <summary>Further endpoints a caller may name per run (exact URLs).</summary>
    public List<string> AllowedModelEndpoints { get; set; } = [];

    /// <summary>Request paths the model proxy forwards (a trailing <c>*</c> allows a prefix): model calls only.</summary>
    public List<string> AllowedPaths { get; set; } = ["/v1/responses", "/v1/responses/*", "/v1/models*"];
}
