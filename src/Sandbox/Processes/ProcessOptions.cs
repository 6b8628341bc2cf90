using System.ComponentModel.DataAnnotations;

namespace Sandbox.Processes;

/// <summary>Background processes (<c>Sandbox:Processes</c>).</summary>
public sealed class ProcessOptions : ISandboxOptionsSection
{
    /// <inheritdoc />
    public static string SectionName => "Sandbox:Processes";

    /// <summary>Background processes one session may run at once.</summary>
    [Range(0, 256)] public int MaxPerSession { get; set; } = 8;
}
