namespace Sandbox.Server.Contracts;

/// <summary>Checks of wire values that the engine takes in another unit (seconds to a time span).</summary>
internal static class ContractValidation
{
    /// <summary>The bytes of a base64 argument; anything but valid base64 is <c>invalid_argument</c> naming it.</summary>
    public static byte[] Base64(string? content, string name)
    {
        try
        {
            return Convert.FromBase64String(content ?? "");
        }
        catch (FormatException)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"{name} is not valid base64.");
        }
    }

    /// <summary>The engine's wait in seconds, checked.</summary>
    public static TimeSpan? Wait(double? seconds, string name = "wait_seconds") => seconds switch
    {
        null => null,
        { } w when double.IsNaN(w) || w < 0 || w > 3600 => throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"{name} must be between 0 and 3600 seconds."),
        { } w => TimeSpan.FromSeconds(w),
    };

    /// <summary>A time limit in seconds (positive, at most <paramref name="most"/>), checked; null stays null (the
    /// engine's default).</summary>
    public static TimeSpan? Timeout(double? seconds, double most) => seconds switch
    {
        null => null,
        { } t when double.IsNaN(t) || t <= 0 || t > most => throw new SandboxException(SandboxErrorCodes.InvalidArgument, "timeout_seconds must be a positive number of seconds."),
        { } t => TimeSpan.FromSeconds(t),
    };
}
