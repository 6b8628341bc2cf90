using System.ComponentModel.DataAnnotations;

namespace Sandbox.Links;

/// <summary>Signed, expiring file links (<c>Sandbox:Links</c>).</summary>
public sealed class LinkOptions : IValidatableObject, ISandboxOptionsSection
{
    /// <inheritdoc />
    public static string SectionName => "Sandbox:Links";

    /// <summary>The file holding the server's link key (32 random bytes, made on first start with mode 0600). Empty: <c>link-key</c>
    /// in the data directory. Deleting it (and restarting) rotates the key: every link handed out dies.</summary>
    public string? KeyFile { get; set; }

    /// <summary>How long a link lives when the call names no time.</summary>
    public TimeSpan DefaultExpiry { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>The longest a link may live.</summary>
    public TimeSpan MaxExpiry { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How long a preview grant opens its preview (the dashboard asks for a new one at each click; a browser
    /// that holds one past this time is asked to open the preview again).</summary>
    public TimeSpan PreviewGrantExpiry { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The largest file one upload link takes (the workspace's free space bounds it too).</summary>
    [Range(1, long.MaxValue)] public long MaxUploadBytes { get; set; } = 4L << 30;

    /// <summary>The most bytes <c>download_file</c> and <c>upload_file</c> carry inside an MCP message; larger content
    /// gets a link instead.</summary>
    [Range(1, 64L << 20)] public long InlineMaxBytes { get; set; } = 1L << 20;

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (MaxExpiry <= TimeSpan.Zero || DefaultExpiry <= TimeSpan.Zero || DefaultExpiry > MaxExpiry)
        {
            yield return new ValidationResult("DefaultExpiry and MaxExpiry must be positive, DefaultExpiry at most MaxExpiry.", [nameof(DefaultExpiry)]);
        }
        if (PreviewGrantExpiry <= TimeSpan.Zero || PreviewGrantExpiry > TimeSpan.FromDays(7))
        {
            yield return new ValidationResult("PreviewGrantExpiry must be positive and at most 7 days.", [nameof(PreviewGrantExpiry)]);
        }
        if (MaxUploadBytes >= 8L << 30)
        {
            yield return new ValidationResult("MaxUploadBytes must be below 8 GiB (the archive format's limit for one file).", [nameof(MaxUploadBytes)]);
        }
    }
}
