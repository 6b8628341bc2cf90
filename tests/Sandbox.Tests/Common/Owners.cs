namespace Sandbox.Tests.Common;

public static class Owners
{
    public const string Alice = "alice";
    public const string Bob = "bob";
}
