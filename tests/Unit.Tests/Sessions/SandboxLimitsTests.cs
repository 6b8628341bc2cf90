using Sandbox.Backend;
using Sandbox.Sessions;

namespace Sandbox.Unit.Tests.Sessions;

public sealed class SandboxLimitsTests
{
    private static readonly SandboxLimits Defaults = new();
    private static readonly SandboxLimits Maxima = new() { MemoryMb = 1024, Cpus = 2, Pids = 256, NoFile = 4096, FileSizeMb = 512, WorkspaceMb = 512, TmpMb = 128 };

    [Fact]
    public void Unset_values_take_the_defaults()
    {
        Assert.Equal(Defaults, new LimitsRequest().Resolve(Defaults, Maxima));
    }

    [Fact]
    public void A_request_may_lower_limits()
    {
        var r = new LimitsRequest { MemoryMb = 128, Cpus = 0.5, Pids = 32 }.Resolve(Defaults, Maxima);
        Assert.Equal((128, 0.5, 32), (r.MemoryMb, r.Cpus, r.Pids));
    }

    [Theory]
    [InlineData("memory_mb")]
    [InlineData("cpus")]
    [InlineData("pids")]
    [InlineData("workspace_mb")]
    public void Raising_past_a_maximum_names_the_limit(string name)
    {
        var request = name switch
        {
            "memory_mb" => new LimitsRequest { MemoryMb = 2048 },
            "cpus" => new LimitsRequest { Cpus = 4 },
            "pids" => new LimitsRequest { Pids = 1000 },
            _ => new LimitsRequest { WorkspaceMb = 4096 },
        };
        var e = Assert.Throws<SandboxException>(() => request.Resolve(Defaults, Maxima));
        Assert.Equal(SandboxErrorCodes.LimitExceeded, e.Code);
        Assert.Contains(name, e.Message);
    }

    [Fact]
    public void Nonsense_values_are_invalid()
    {
        Assert.Equal(SandboxErrorCodes.InvalidArgument, Assert.Throws<SandboxException>(() => new LimitsRequest { MemoryMb = 0 }.Resolve(Defaults, Maxima)).Code);
        Assert.Equal(SandboxErrorCodes.InvalidArgument, Assert.Throws<SandboxException>(() => new LimitsRequest { Cpus = -1 }.Resolve(Defaults, Maxima)).Code);
    }

    [Fact]
    public void Defaults_above_maxima_are_clamped()
    {
        var low = new SandboxLimits { MemoryMb = 256, Cpus = 0.5, Pids = 64, NoFile = 512, FileSizeMb = 64, WorkspaceMb = 64, TmpMb = 32 };
        Assert.Equal(low, new LimitsRequest().Resolve(Defaults, low));
    }

    [Fact]
    public void The_ceiling_follows_the_machine_under_the_configured_maxima()
    {
        var configured = new SandboxLimits { MemoryMb = 65536, Cpus = 64, Pids = 512 };
        var small = SessionCeiling.From(configured, new HostResources(2, 4L << 30), 1024);
        Assert.Equal((3072, 2.0, 512), (small.Maxima.MemoryMb, small.Maxima.Cpus, small.Maxima.Pids));
        var refused = Assert.Throws<SandboxException>(() => new LimitsRequest { Cpus = 4 }.Resolve(Defaults, small.Maxima, small.Reason));
        Assert.Equal(SandboxErrorCodes.LimitExceeded, refused.Code);
        Assert.Contains("maximum of 2 (this machine has 2 cores and 4096 MiB of memory, of which 1024 MiB is kept for the host)", refused.Message);

        var big = SessionCeiling.From(configured, new HostResources(16, 64L << 30), 1024);
        Assert.Equal((4, 8192), (new LimitsRequest { Cpus = 4, MemoryMb = 8192 }.Resolve(Defaults, big.Maxima, big.Reason) is var r ? (r.Cpus, r.MemoryMb) : default));

        // An operator's lower maxima stay, and a machine above them gives no reason.
        var capped = SessionCeiling.From(Maxima, new HostResources(16, 64L << 30), 1024);
        Assert.Equal((Maxima, (string?)null), (capped.Maxima, capped.Reason));
        Assert.Equal(256, SessionCeiling.From(configured, new HostResources(1, 512L << 20), 1024).Maxima.MemoryMb);
    }
}
