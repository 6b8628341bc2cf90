namespace Sandbox;

/// <summary>The scripts embedded in this assembly (the runner, the model proxy, the package fetcher). Each is passed
/// to <c>python3 -c</c>, so any image with Python runs it and nothing is baked into images.</summary>
internal static class EmbeddedScript
{
    /// <summary>The runner's parts (<c>Runner/py/</c>) in the order they are joined into one program: settings and
    /// helpers first, the parts the supervisor is made of next, the supervisor and its entry point last.</summary>
    public static readonly IReadOnlyList<string> RunnerParts =
        ["common", "memory", "streams", "workspace", "archives", "analysis", "kernel", "executions", "processes", "terminals", "docker", "main"];

    /// <summary>The runner: its parts joined into the one text <c>python3 -c</c> runs.</summary>
    public static readonly Lazy<string> Runner = new(() =>
        string.Join("\n\n\n", RunnerParts.Select(part => Load($"Sandbox.Runner.py.{part}.py").Value.TrimEnd('\n'))) + "\n");
    public static readonly Lazy<string> ModelProxy = Load("Sandbox.Agents.model_proxy.py");
    public static readonly Lazy<string> GitGuard = Load("Sandbox.Agents.git_guard.py");
    public static readonly Lazy<string> PackageFetcher = Load("Sandbox.Packages.fetcher.py");
    public static readonly Lazy<string> EgressProxy = Load("Sandbox.Egress.egress_proxy.py");
    public static readonly Lazy<string> GitHelper = Load("Sandbox.Git.git_helper.py");

    private static Lazy<string> Load(string resource) => new(() =>
    {
        using var stream = typeof(EmbeddedScript).Assembly.GetManifestResourceStream(resource)
                           ?? throw new InvalidOperationException(resource + " is not embedded");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });
}
