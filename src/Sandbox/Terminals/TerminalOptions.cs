using System.ComponentModel.DataAnnotations;

namespace Sandbox.Terminals;

/// <summary>Terminals held by sessions (<c>Sandbox:Terminals</c>).</summary>
public sealed class TerminalOptions : ISandboxOptionsSection
{
    /// <inheritdoc />
    public static string SectionName => "Sandbox:Terminals";

    /// <summary>How long a terminal nobody is attached to keeps running before it is closed (its shell and what it
    /// started are killed). A terminal ends earlier when its shell exits or its session ends.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "30.00:00:00")] public TimeSpan DetachedTimeout { get; set; } = TimeSpan.FromHours(24);

    /// <summary>The bytes of a terminal's latest output kept to replay to whoever attaches (the screen as it is now).</summary>
    [Range(4096, 4 << 20)] public int ReplayBytes { get; set; } = 256 * 1024;
}
