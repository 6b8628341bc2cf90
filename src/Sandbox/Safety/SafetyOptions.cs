using System.ComponentModel.DataAnnotations;
using System.Text.RegularExpressions;

namespace Sandbox.Safety;

/// <summary>What the static safety check does with its findings.</summary>
public enum SafetyMode
{
    /// <summary>Findings refuse the code (<c>unsafe_code</c>) and nothing runs.</summary>
    Enforce,
    /// <summary>The code runs and the findings come back with the result.</summary>
    Warn,
    /// <summary>No check.</summary>
    Off,
}

/// <summary>Static safety check policy. The container is the security boundary; this is a guard rail.</summary>
public sealed partial class SafetyOptions : IValidatableObject, ISandboxOptionsSection
{
    /// <inheritdoc />
    public static string SectionName => "Sandbox:Safety";

    /// <summary>Default mode for every execution.</summary>
    public SafetyMode Mode { get; set; } = SafetyMode.Enforce;

    /// <summary>Calls (qualified names, import aliases resolved) refused as rule PY001. A trailing <c>.*</c> matches a module's members.</summary>
    public List<string> DeniedCalls { get; set; } =
    [
        "os.system", "os.popen", "os.exec*", "os.spawn*", "os.posix_spawn*", "os.fork", "os.forkpty", "os.kill", "os.killpg",
        "pty.spawn", "subprocess.*", "shutil.rmtree", "os.removedirs", "os.setuid", "os.setgid", "os.chroot",
        "multiprocessing.*",
    ];

    /// <summary>Modules whose import is refused as rule PY002.</summary>
    public List<string> DeniedImports { get; set; } = ["ctypes", "cffi", "socket", "pty", "fcntl", "mmap", "resource"];

    /// <summary>Calls refused as rule PY003 when their first argument is not a constant (dynamic code).</summary>
    public List<string> DynamicCodeCalls { get; set; } = ["eval", "exec", "compile", "__import__", "importlib.import_module", "getattr"];

    /// <summary>Attribute names that reach interpreter internals, refused as rule PY004.</summary>
    public List<string> DeniedAttributes { get; set; } =
        ["__subclasses__", "__globals__", "__builtins__", "__code__", "__closure__", "f_globals", "f_locals", "gi_frame"];

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var (name, list) in new[]
                 {
                     (nameof(DeniedCalls), DeniedCalls), (nameof(DeniedImports), DeniedImports),
                     (nameof(DynamicCodeCalls), DynamicCodeCalls), (nameof(DeniedAttributes), DeniedAttributes),
                 })
        {
            foreach (var entry in list.Where(e => !DottedName().IsMatch(e ?? "")))
            {
                yield return new ValidationResult($"'{entry}' is not a Python name (dotted, a trailing '*' allowed).", [name]);
            }
        }
    }

    // os.system, subprocess.*, os.exec*, __globals__.
    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(\.?\*)?$")]
    private static partial Regex DottedName();
}
