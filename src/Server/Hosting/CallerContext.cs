namespace Sandbox.Server.Hosting;

/// <summary>Who is calling: the owner name sessions are filed under.</summary>
public static class CallerContext
{
    private const string ItemKey = "sandbox.caller";

    /// <summary>Owner when no token is configured (HTTP).</summary>
    public const string Anonymous = "anonymous";

    /// <summary>Owner of the stdio face (one local user per process).</summary>
    public const string Local = "local";

    /// <summary>Records the authenticated caller on the request.</summary>
    public static void Set(HttpContext context, string owner) => context.Items[ItemKey] = owner;

    /// <summary>The caller of this request.</summary>
    public static string Get(HttpContext? context) =>
        context is null ? Local : context.Items.TryGetValue(ItemKey, out var o) && o is string s ? s : Anonymous;
}
