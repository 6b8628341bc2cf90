using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Sandbox;

/// <summary>
/// Options that moved into a capability's own section refuse to start under their old name, naming the new one: a
/// setting an operator made must never be ignored without a word.
/// </summary>
internal sealed class MovedOptionsValidator(IServiceProvider services) : IValidateOptions<SandboxOptions>
{
    /// <summary>Old key under <c>Sandbox</c> → new key.</summary>
    internal static readonly IReadOnlyDictionary<string, string> Moved = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["WarmPoolSize"] = "Pool:Size",
        ["MaxConcurrentExecutions"] = "Execution:MaxConcurrent",
        ["DefaultExecutionTimeout"] = "Execution:DefaultTimeout",
        ["MaxExecutionTimeout"] = "Execution:MaxTimeout",
        ["MaxOutputChars"] = "Execution:MaxOutputChars",
        ["MaxCodeChars"] = "Execution:MaxCodeChars",
        ["MaxUploadBytes"] = "Files:MaxUploadBytes",
        ["MaxDownloadBytes"] = "Files:MaxDownloadBytes",
        ["Store"] = "Durability:Store",
        ["DataDirectory"] = "Durability:DataDirectory",
        ["KeepSessionsOnShutdown"] = "Durability:KeepSessionsOnShutdown",
        ["Runtime"] = "Isolation:ContainerRuntime",
    };

    public ValidateOptionsResult Validate(string? name, SandboxOptions options)
    {
        if (services.GetService<IConfiguration>()?.GetSection(SandboxOptions.SectionName) is not { } section)
        {
            return ValidateOptionsResult.Success;
        }
        var errors = section.GetChildren()
            .Where(c => Moved.ContainsKey(c.Key) && c.Value is not null)
            .Select(c => $"Sandbox:{c.Key} has moved to Sandbox:{Moved[c.Key]} (environment: Sandbox__{Moved[c.Key].Replace(":", "__", StringComparison.Ordinal)}).")
            .ToList();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
