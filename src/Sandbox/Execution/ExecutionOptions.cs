using System.ComponentModel.DataAnnotations;

namespace Sandbox.Execution;

/// <summary>Code execution settings, bound from <c>Sandbox:Execution</c>.</summary>
public sealed class ExecutionOptions : IValidatableObject, ISandboxOptionsSection
{
    /// <inheritdoc />
    public static string SectionName => "Sandbox:Execution";

    /// <summary>Timeout of an execution that names none.</summary>
    public TimeSpan DefaultTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest timeout an execution may ask for.</summary>
    public TimeSpan MaxTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Most executions running at once (all sessions together); beyond: <c>capacity_exceeded</c>.</summary>
    [Range(1, 10000)] public int MaxConcurrent { get; set; } = 32;

    /// <summary>Characters of stdout and of stderr kept per execution; the rest is dropped and marked truncated.</summary>
    [Range(1024, 256 * 1024 * 1024)] public int MaxOutputChars { get; set; } = 1024 * 1024;

    /// <summary>Largest code accepted, in characters.</summary>
    [Range(1024, 16 * 1024 * 1024)] public int MaxCodeChars { get; set; } = 1024 * 1024;

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (DefaultTimeout <= TimeSpan.Zero || MaxTimeout <= TimeSpan.Zero)
        {
            yield return new ValidationResult("DefaultTimeout and MaxTimeout must be positive.", [nameof(DefaultTimeout)]);
        }
        if (DefaultTimeout > MaxTimeout)
        {
            yield return new ValidationResult("DefaultTimeout is above MaxTimeout.", [nameof(DefaultTimeout)]);
        }
    }
}
