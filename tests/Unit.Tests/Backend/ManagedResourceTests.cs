using Sandbox.Backend;

namespace Sandbox.Unit.Tests.Backend;

public sealed class ManagedResourceTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Labels_are_read_and_a_resource_without_a_session_id_is_not_ours_to_judge()
    {
        var r = ManagedResource.FromLabels(new Dictionary<string, string>
        {
            [SandboxLabels.SessionId] = "abc", [SandboxLabels.Instance] = "one", [SandboxLabels.CreatedAt] = "2026-12-01T10:00:00.0000000+00:00",
        });
        Assert.Equal(new ManagedResource("abc", "one", Now.AddHours(-2)), r);
        Assert.Null(ManagedResource.FromLabels(new Dictionary<string, string> { [SandboxLabels.Instance] = "one" }));
        Assert.Null(ManagedResource.FromLabels(null));
        Assert.Null(ManagedResource.FromLabels(new Dictionary<string, string> { [SandboxLabels.SessionId] = "x", [SandboxLabels.CreatedAt] = "yesterday" })!.CreatedAt);
    }

    [Fact]
    public void Our_instances_resources_and_anyones_expired_ones_are_orphans()
    {
        var max = TimeSpan.FromHours(25);
        Assert.True(new ManagedResource("a", "me", Now).IsOrphan("me", Now, max));
        Assert.False(new ManagedResource("a", "other", Now.AddHours(-1)).IsOrphan("me", Now, max));
        Assert.True(new ManagedResource("a", "other", Now.AddHours(-26)).IsOrphan("me", Now, max));
        Assert.False(new ManagedResource("a", "other", null).IsOrphan("me", Now, max));
    }
}
