namespace Sandbox;

/// <summary>
/// One component's options: bound from its own configuration section and validated at start by its own
/// <see cref="Microsoft.Extensions.Options.IValidateOptions{TOptions}"/> (<see cref="SectionValidator{TOptions}"/>), so a
/// section cannot be bound without being checked.
/// </summary>
public interface ISandboxOptionsSection
{
    /// <summary>The configuration key of the section, e.g. <c>Sandbox:Execution</c>.</summary>
    static abstract string SectionName { get; }
}
