using System.Collections;
using System.ComponentModel.DataAnnotations;
using System.Reflection;
using Microsoft.Extensions.Options;

namespace Sandbox;

/// <summary>
/// Validates one options section: data annotations and <see cref="IValidatableObject"/> on the section and on every
/// nested options object of the engine's own types (limits, credentials, model endpoints), each failure prefixed
/// with the full key it is about (<c>Sandbox:Execution:MaxOutputChars: ...</c>) so the operator knows what to change.
/// </summary>
/// <typeparam name="TOptions">The section's options type.</typeparam>
public sealed class SectionValidator<TOptions> : IValidateOptions<TOptions> where TOptions : class, ISandboxOptionsSection
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, TOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        Collect(options, TOptions.SectionName, errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Collect(object value, string path, List<string> errors)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(value, new ValidationContext(value), results, validateAllProperties: true);
        foreach (var result in results)
        {
            var members = result.MemberNames.ToList();
            errors.Add(members.Count == 0
                ? $"{path}: {result.ErrorMessage}"
                : $"{string.Join(", ", members.Select(m => $"{path}:{m}"))}: {result.ErrorMessage}");
        }
        foreach (var property in value.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length > 0 || property.GetValue(value) is not { } nested)
            {
                continue;
            }
            if (IsOptionsObject(nested.GetType()))
            {
                Collect(nested, $"{path}:{property.Name}", errors);
            }
            else if (nested is IDictionary map)
            {
                foreach (DictionaryEntry entry in map)
                {
                    if (entry.Value is { } item && IsOptionsObject(item.GetType()))
                    {
                        Collect(item, $"{path}:{property.Name}:{entry.Key}", errors);
                    }
                }
            }
        }
    }

    // Nested settings objects are the engine's own classes; strings, collections and framework types are values.
    private static bool IsOptionsObject(Type type) =>
        type.IsClass && type.Assembly == typeof(SectionValidator<>).Assembly && !typeof(IEnumerable).IsAssignableFrom(type);
}
