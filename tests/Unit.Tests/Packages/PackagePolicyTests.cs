using Microsoft.Extensions.Options;
using Sandbox.Packages;

namespace Sandbox.Unit.Tests.Packages;

public sealed class PackagePolicyTests
{
    private static PackagePolicy Policy(Action<PackageOptions>? configure = null)
    {
        var options = new PackageOptions();
        configure?.Invoke(options);
        return new PackagePolicy(Options.Create(options));
    }

    private static PackageInstallRequest Pip(params string[] specs) => new() { Manager = "pip", Packages = specs };

    [Fact]
    public void Exact_versions_and_bare_names_are_accepted()
    {
        var wanted = Policy().Resolve(Pip("requests==2.32.3", "numpy"));
        Assert.Equal([new WantedPackage("requests", "2.32.3"), new WantedPackage("numpy", null)], wanted);
        var npm = Policy().Resolve(new PackageInstallRequest { Manager = "npm", Packages = ["@scope/pkg@1.2.3", "lodash"] });
        Assert.Equal([new WantedPackage("@scope/pkg", "1.2.3"), new WantedPackage("lodash", null)], npm);
    }

    [Theory]
    [InlineData("requests>=2")]
    [InlineData("requests==2.*")]
    [InlineData("git+https://example.invalid/x.git")]
    [InlineData("../evil")]
    [InlineData("")]
    public void Ranges_urls_and_paths_are_invalid(string spec)
    {
        var e = Assert.Throws<SandboxException>(() => Policy().Resolve(Pip(spec)));
        Assert.Equal(SandboxErrorCodes.InvalidArgument, e.Code);
    }

    [Fact]
    public void Pins_are_forced_and_a_conflicting_version_is_refused()
    {
        var policy = Policy(o => o.PipPins["requests"] = "2.31.0");
        Assert.Equal([new WantedPackage("requests", "2.31.0")], policy.Resolve(Pip("requests")));
        var e = Assert.Throws<SandboxException>(() => policy.Resolve(Pip("requests==2.32.3")));
        Assert.Equal(SandboxErrorCodes.Forbidden, e.Code);
        Assert.Contains("pins requests to 2.31.0", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Deny_wins_over_allow_and_every_refusal_is_named()
    {
        var policy = Policy(o =>
        {
            o.Allow = ["pip:req*", "pip:six"];
            o.Deny = ["pip:requests-*"];
        });
        Assert.Single(policy.Resolve(Pip("requests")));
        var e = Assert.Throws<SandboxException>(() => policy.Resolve(Pip("requests-oauthlib", "numpy", "six")));
        Assert.Equal(SandboxErrorCodes.Forbidden, e.Code);
        Assert.Contains("requests-oauthlib", e.Message, StringComparison.Ordinal);
        Assert.Contains("numpy", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("six", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_manager_empty_and_oversized_requests_get_stable_codes()
    {
        Assert.Equal(SandboxErrorCodes.InvalidArgument,
            Assert.Throws<SandboxException>(() => Policy().Resolve(new PackageInstallRequest { Manager = "apt", Packages = ["curl"] })).Code);
        Assert.Equal(SandboxErrorCodes.InvalidArgument, Assert.Throws<SandboxException>(() => Policy().Resolve(Pip())).Code);
        var many = Enumerable.Range(0, 21).Select(i => $"pkg{i}").ToArray();
        Assert.Equal(SandboxErrorCodes.LimitExceeded, Assert.Throws<SandboxException>(() => Policy().Resolve(Pip(many))).Code);
    }
}
