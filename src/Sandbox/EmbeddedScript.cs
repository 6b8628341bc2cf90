namespace Sandbox;

/// <summary>The scripts embedded in this assembly (the runner, the model proxy, the package fetcher). Each is passed
/// to <c>python3 -c</c>, so any image with Python runs it and nothing is baked into images.</summary>
internal static class EmbeddedScript
{
    public static readonly Lazy<string> Runner = Load("Sandbox.Runner.runner.py");
    public static readonly Lazy<string> ModelProxy = Load("Sandbox.Agents.model_proxy.py");
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
