using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Sandbox;
using Sandbox.Docker;
using Sandbox.Safety;
using Sandbox.Sessions;
using Sandbox.Storage;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the sandbox engine.</summary>
public static class SandboxServiceCollectionExtensions
{
    /// <summary>Adds the engine (Docker backend, safety policy, session manager, reaper) with validated options.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Optional extra configuration applied after binding.</param>
    public static OptionsBuilder<SandboxOptions> AddSandbox(this IServiceCollection services, Action<SandboxOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var builder = services.AddOptions<SandboxOptions>().ValidateDataAnnotations().ValidateOnStart();
        if (configure is not null)
        {
            builder.Configure(configure);
        }
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SandboxOptions>, SandboxOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<DockerBackend>();
        services.TryAddSingleton<ISandboxBackend>(sp => sp.GetRequiredService<DockerBackend>());
        services.TryAddSingleton<ISafetyPolicy, DefaultSafetyPolicy>();
        services.TryAddSingleton<ISessionStore>(sp => sp.GetRequiredService<IOptions<SandboxOptions>>().Value.Store == StoreKind.Memory
            ? new InMemorySessionStore()
            : ActivatorUtilities.CreateInstance<SqliteSessionStore>(sp));
        services.TryAddSingleton<SessionManager>();
        services.AddHostedService<SessionReaper>();
        return builder;
    }
}

/// <summary>Validates the nested limits and agent settings, which data annotations on the options object do not reach.</summary>
internal sealed class SandboxOptionsValidator : IValidateOptions<SandboxOptions>
{
    public ValidateOptionsResult Validate(string? name, SandboxOptions options)
    {
        var errors = new List<string>();
        foreach (var (label, limits) in new object[][] { ["DefaultLimits", options.DefaultLimits], ["MaxLimits", options.MaxLimits], ["Agents", options.Agents], ["Packages", options.Packages] }
                     .Select(pair => ((string)pair[0], pair[1])))
        {
            var results = new List<System.ComponentModel.DataAnnotations.ValidationResult>();
            if (!System.ComponentModel.DataAnnotations.Validator.TryValidateObject(limits, new(limits), results, true))
            {
                errors.AddRange(results.Select(r => $"{label}: {r.ErrorMessage}"));
            }
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
