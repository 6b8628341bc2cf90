using System.Net.Http.Headers;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Sandbox.Client;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the sandbox client.</summary>
public static class SandboxClientServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="SandboxClientFactory"/> (either transport) and, for REST, an injectable <see cref="ISandboxClient"/>
    /// built on a named <see cref="HttpClient"/> from <c>IHttpClientFactory</c>.
    /// </summary>
    public static IServiceCollection AddSandboxClient(this IServiceCollection services, Action<SandboxClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<SandboxClientOptions>().Configure(configure)
            .Validate(o => o.BaseAddress.IsAbsoluteUri, "BaseAddress must be an absolute URI.");
        services.AddHttpClient(SandboxClientFactory.HttpClientName, (sp, http) =>
        {
            var o = sp.GetRequiredService<IOptions<SandboxClientOptions>>().Value;
            http.BaseAddress = o.BaseAddress;
            // Executions can legitimately run for minutes; their own timeout is enforced by the server.
            http.Timeout = Timeout.InfiniteTimeSpan;
            if (!string.IsNullOrEmpty(o.Token))
            {
                http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", o.Token);
            }
        });
        services.TryAddSingleton<SandboxClientFactory>();
        services.TryAddTransient<ISandboxClient>(sp =>
            new SandboxRestClient(sp.GetRequiredService<IHttpClientFactory>().CreateClient(SandboxClientFactory.HttpClientName)));
        return services;
    }
}
