using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Sandbox.Unit.Tests.DependencyInjection;

/// <summary>Options as the server binds them: every section validated at start, and moved keys named, not ignored.</summary>
public sealed class SandboxOptionsTests
{
    private static SandboxOptions Bind(params (string Key, string Value)[] settings)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)))
            .Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddSandbox().BindConfiguration(SandboxOptions.SectionName);
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<SandboxOptions>>().Value;
    }

    [Fact]
    public void Each_capability_reads_its_own_section()
    {
        var o = Bind(("Sandbox:Execution:MaxOutputChars", "5000"), ("Sandbox:Files:MaxUploadBytes", "7"), ("Sandbox:Pool:Size", "0"),
            ("Sandbox:Durability:Store", "Memory"), ("Sandbox:Execution:DefaultTimeout", "00:00:05"));
        Assert.Equal(5000, o.Execution.MaxOutputChars);
        Assert.Equal(7, o.Files.MaxUploadBytes);
        Assert.Equal(0, o.Pool.Size);
        Assert.Equal(Sandbox.Durability.StoreKind.Memory, o.Durability.Store);
        Assert.Equal(TimeSpan.FromSeconds(5), o.Execution.DefaultTimeout);
    }

    [Fact]
    public void A_key_that_moved_stops_the_start_and_names_its_new_place()
    {
        var e = Assert.Throws<OptionsValidationException>(() => Bind(("Sandbox:WarmPoolSize", "4"), ("Sandbox:MaxOutputChars", "10")));
        Assert.Contains(e.Failures, f => f.Contains("Sandbox:WarmPoolSize has moved to Sandbox:Pool:Size", StringComparison.Ordinal));
        Assert.Contains(e.Failures, f => f.Contains("Sandbox__Execution__MaxOutputChars", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Sandbox:Execution:MaxOutputChars", "10")]
    [InlineData("Sandbox:Execution:DefaultTimeout", "00:20:00")]
    [InlineData("Sandbox:Pool:Size", "1000")]
    [InlineData("Sandbox:Files:MaxDownloadBytes", "0")]
    public void Invalid_values_in_a_section_are_refused(string key, string value)
    {
        var e = Assert.Throws<OptionsValidationException>(() => Bind((key, value)));
        Assert.NotEmpty(e.Failures);
    }
}
