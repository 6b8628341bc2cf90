using Sandbox.Isolation;
using Sandbox.Sessions;

namespace Sandbox.Unit.Tests.Sessions;

/// <summary>When the reaper may close a session: idle past its timeout, unless a program it holds (an interactive
/// agent working unattended) still runs; never past its maximum lifetime.</summary>
public sealed class SessionExpiryTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 7, 8, 0, 0, TimeSpan.Zero);

    private static Session NewSession() => new()
    {
        Id = "s1", Image = "agent", Owner = "alice", Limits = new SandboxLimits(), CreatedAt = Start, MaxLifetime = TimeSpan.FromHours(24),
        IdleTimeout = TimeSpan.FromMinutes(30), ContainerId = "c1", Isolation = IsolationTier.Container, LastUsedAt = Start,
    };

    [Fact]
    public void A_held_program_keeps_an_idle_session_until_it_ends_then_the_idle_time_counts_from_its_end()
    {
        var session = NewSession();
        Assert.Equal("idle timeout", session.ExpiredBecause(Start.AddMinutes(31)));

        session.HoldProgram();
        Assert.Null(session.ExpiredBecause(Start.AddHours(5)));
        Assert.Equal("maximum lifetime", session.ExpiredBecause(Start.AddHours(24)));

        session.ReleaseProgram(Start.AddHours(5));
        Assert.Null(session.ExpiredBecause(Start.AddHours(5).AddMinutes(29)));
        Assert.Equal("idle timeout", session.ExpiredBecause(Start.AddHours(5).AddMinutes(30)));
    }
}
