using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Sandbox.Unit.Tests.DependencyInjection;

/// <summary>Options as the server binds them: each component reads its own section, every section is validated when
/// the host starts (by its own validator), and a bad value stops the start with a message naming its full key.</summary>
public sealed class SandboxOptionsTests
{
    private static ServiceProvider Provider(params (string Key, string Value)[] settings)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)))
            .Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddSandbox();
        return services.BuildServiceProvider();
    }

    /// <summary>What the host runs before it starts: every section registered with ValidateOnStart.</summary>
    private static IReadOnlyList<string> StartupFailures(params (string Key, string Value)[] settings)
    {
        using var provider = Provider(settings);
        try
        {
            provider.GetRequiredService<IStartupValidator>().Validate();
            return [];
        }
        catch (OptionsValidationException e)
        {
            return e.Failures.ToList();
        }
        catch (AggregateException e)
        {
            return e.InnerExceptions.OfType<OptionsValidationException>().SelectMany(x => x.Failures).ToList();
        }
    }

    [Fact]
    public void The_defaults_start()
    {
        Assert.Empty(StartupFailures());
    }

    [Fact]
    public void Each_capability_reads_its_own_section()
    {
        using var provider = Provider(("Sandbox:Execution:MaxOutputChars", "5000"), ("Sandbox:Files:MaxUploadBytes", "7"), ("Sandbox:Pool:Size", "0"),
            ("Sandbox:Durability:Store", "Memory"), ("Sandbox:Execution:DefaultTimeout", "00:00:05"), ("Sandbox:MaxSessions", "9"));
        var execution = provider.GetRequiredService<IOptions<Sandbox.Execution.ExecutionOptions>>().Value;
        Assert.Equal(5000, execution.MaxOutputChars);
        Assert.Equal(TimeSpan.FromSeconds(5), execution.DefaultTimeout);
        Assert.Equal(7, provider.GetRequiredService<IOptions<Sandbox.Files.WorkspaceFileOptions>>().Value.MaxUploadBytes);
        Assert.Equal(0, provider.GetRequiredService<IOptions<Sandbox.Pool.PoolOptions>>().Value.Size);
        Assert.Equal(Sandbox.Durability.StoreKind.Memory, provider.GetRequiredService<IOptions<Sandbox.Durability.DurabilityOptions>>().Value.Store);
        Assert.Equal(9, provider.GetRequiredService<IOptions<SandboxOptions>>().Value.MaxSessions);
    }

    [Fact]
    public void A_key_that_moved_stops_the_start_and_names_its_new_place()
    {
        var failures = StartupFailures(("Sandbox:WarmPoolSize", "4"), ("Sandbox:MaxOutputChars", "10"));
        Assert.Contains(failures, f => f.Contains("Sandbox:WarmPoolSize has moved to Sandbox:Pool:Size", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("Sandbox__Execution__MaxOutputChars", StringComparison.Ordinal));
    }

    /// <summary>One bad value per section (and one in a nested object): the start fails, naming the key.</summary>
    [Theory]
    [InlineData("Sandbox:InstanceId", "not an id!", "Sandbox:InstanceId")]
    [InlineData("Sandbox:DefaultLimits:MemoryMb", "1", "Sandbox:DefaultLimits:MemoryMb")]
    [InlineData("Sandbox:Isolation:GvisorRuntime", "run sc", "Sandbox:Isolation:GvisorRuntime")]
    [InlineData("Sandbox:Egress:MaxConnections", "0", "Sandbox:Egress:MaxConnections")]
    [InlineData("Sandbox:Execution:MaxOutputChars", "10", "Sandbox:Execution:MaxOutputChars")]
    [InlineData("Sandbox:Snapshots:MaxForks", "0", "Sandbox:Snapshots:MaxForks")]
    [InlineData("Sandbox:Links:InlineMaxBytes", "0", "Sandbox:Links:InlineMaxBytes")]
    [InlineData("Sandbox:Links:PreviewGrantExpiry", "8.00:00:00", "Sandbox:Links:PreviewGrantExpiry")]
    [InlineData("Sandbox:Terminals:DetachedTimeout", "00:00:10", "Sandbox:Terminals:DetachedTimeout")]
    [InlineData("Sandbox:Terminals:ReplayBytes", "10", "Sandbox:Terminals:ReplayBytes")]
    [InlineData("Sandbox:Git:BranchPrefix", "-x", "Sandbox:Git:BranchPrefix")]
    [InlineData("Sandbox:Setup:MaxCommands", "1000", "Sandbox:Setup:MaxCommands")]
    [InlineData("Sandbox:Context:Directories:data", "relative/path", "Sandbox:Context:Directories")]
    [InlineData("Sandbox:Processes:MaxPerSession", "1000", "Sandbox:Processes:MaxPerSession")]
    [InlineData("Sandbox:Files:MaxDownloadBytes", "0", "Sandbox:Files:MaxDownloadBytes")]
    [InlineData("Sandbox:Pool:Size", "1000", "Sandbox:Pool:Size")]
    [InlineData("Sandbox:Durability:Store", "Postgres", "Sandbox:Durability:ConnectionString")]
    [InlineData("Sandbox:Agents:MaxConcurrentRuns", "0", "Sandbox:Agents:MaxConcurrentRuns")]
    [InlineData("Sandbox:Packages:MaxPackagesPerCall", "0", "Sandbox:Packages:MaxPackagesPerCall")]
    [InlineData("Sandbox:Safety:DeniedImports:0", "not a module", "Sandbox:Safety:DeniedImports")]
    public void A_bad_value_in_any_section_stops_the_start_naming_its_key(string key, string value, string named)
    {
        var failures = StartupFailures((key, value));
        Assert.Contains(failures, f => f.StartsWith(named + ":", StringComparison.Ordinal) || f.StartsWith(named + ",", StringComparison.Ordinal));
    }

    [Fact]
    public void A_cluster_setting_is_validated_only_when_the_cluster_is_on()
    {
        Assert.Empty(StartupFailures(("Sandbox:Cluster:AdvertiseUrl", "ftp://x")));
        var failures = StartupFailures(("Sandbox:Cluster:Enabled", "true"), ("Sandbox:Cluster:AdvertiseUrl", "ftp://x"),
            ("Sandbox:Durability:Store", "Postgres"), ("Sandbox:Durability:ConnectionString", "Host=db;Database=sandbox"));
        Assert.Contains(failures, f => f.StartsWith("Sandbox:Cluster:AdvertiseUrl:", StringComparison.Ordinal));
    }

    /// <summary>Every section the engine registers has its own validator: none can be bound unchecked.</summary>
    [Fact]
    public void Every_registered_section_has_its_own_validator()
    {
        var services = new ServiceCollection();
        services.AddSandbox();
        var sections = typeof(SandboxOptions).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(ISandboxOptionsSection).IsAssignableFrom(t)).ToList();
        Assert.Equal(20, sections.Count);
        foreach (var section in sections)
        {
            var validator = typeof(IValidateOptions<>).MakeGenericType(section);
            Assert.Contains(services, d => d.ServiceType == validator && d.ImplementationType == typeof(SectionValidator<>).MakeGenericType(section));
        }
    }
}
