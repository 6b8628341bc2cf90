using System.Text.Json;
using Sandbox.Execution;
using Sandbox.Runner;
using Sandbox.Sessions;

namespace Sandbox.Packages;

/// <summary>
/// <c>auto_install</c>: before code runs, the runner names the modules it imports that the session cannot find; each
/// becomes a package name (<see cref="DistributionOf"/>: PyPI's name where the import name differs), and they are
/// installed through <see cref="PackageInstaller"/> with the same policy, pins and fetcher, so the session still never
/// gets a network. A refused or unknown package fails the execution naming it; nothing runs half-installed.
/// </summary>
public sealed class AutoInstaller(PackageInstaller installer)
{
    // Import names whose distribution on PyPI has another name: the common mismatches.
    private static readonly Dictionary<string, string> PythonNames = new(StringComparer.Ordinal)
    {
        ["cv2"] = "opencv-python-headless", ["sklearn"] = "scikit-learn", ["skimage"] = "scikit-image", ["PIL"] = "pillow",
        ["yaml"] = "PyYAML", ["bs4"] = "beautifulsoup4", ["dateutil"] = "python-dateutil", ["dotenv"] = "python-dotenv",
        ["jwt"] = "PyJWT", ["Crypto"] = "pycryptodome", ["Cryptodome"] = "pycryptodomex", ["serial"] = "pyserial",
        ["attr"] = "attrs", ["magic"] = "python-magic", ["docx"] = "python-docx", ["pptx"] = "python-pptx",
        ["fitz"] = "PyMuPDF", ["OpenSSL"] = "pyOpenSSL", ["zmq"] = "pyzmq", ["usb"] = "pyusb", ["git"] = "GitPython",
        ["Levenshtein"] = "python-Levenshtein", ["google"] = "protobuf", ["multipart"] = "python-multipart",
        ["slugify"] = "python-slugify", ["jose"] = "python-jose", ["websocket"] = "websocket-client", ["Bio"] = "biopython",
        ["nacl"] = "PyNaCl", ["gi"] = "PyGObject", ["win32api"] = "pywin32", ["mpl_toolkits"] = "matplotlib",
        ["tensorflow_hub"] = "tensorflow-hub", ["sentence_transformers"] = "sentence-transformers", ["faiss"] = "faiss-cpu",
    };

    /// <summary>The package to install for import <paramref name="name"/> in <paramref name="language"/>.</summary>
    public static string DistributionOf(string language, string name) =>
        language == "python" && PythonNames.TryGetValue(name, out var dist) ? dist : name;

    /// <summary>Installs what <paramref name="request"/>'s code imports and <paramref name="session"/> lacks, minus its
    /// ignore list; the caller holds the session's gate. Returns what was installed (empty when nothing was missing).</summary>
    internal async Task<IReadOnlyList<InstalledPackage>> InstallMissingAsync(Session session, string owner, ExecutionRequest request, CancellationToken ct)
    {
        if (request.Language is not ("python" or "node"))
        {
            return [];
        }
        var reply = await session.Live.AskAsync(new MissingRequest(request.Language, request.Code), TimeSpan.FromSeconds(10), "import check", ct).ConfigureAwait(false);
        if (reply.Type != "missing")
        {
            throw new SandboxException(SandboxErrorCodes.Internal, "The sandbox could not check the code's imports: " + SafeText.Shorten(RunnerJson.Str(reply.Body, "message")));
        }
        var ignore = request.AutoInstallIgnore.ToHashSet(StringComparer.Ordinal);
        var wanted = Names(reply.Body)
            .Where(n => !ignore.Contains(n))
            .Select(n => DistributionOf(request.Language, n))
            .Where(d => !ignore.Contains(d))
            .Distinct(StringComparer.Ordinal)
            .ToList();
        if (wanted.Count == 0)
        {
            return [];
        }
        var manager = request.Language == "python" ? "pip" : "npm";
        var result = await installer.InstallHeldAsync(session, owner, new PackageInstallRequest { Manager = manager, Packages = wanted }, ct).ConfigureAwait(false);
        return result.Installed;
    }

    // The runner's answer is untrusted: names that are not plain package names are dropped (the policy checks the rest).
    private static IEnumerable<string> Names(JsonElement body) =>
        body.TryGetProperty("names", out var names) && names.ValueKind == JsonValueKind.Array
            ? names.EnumerateArray().Where(n => n.ValueKind == JsonValueKind.String).Select(n => n.GetString()!)
                .Where(n => n.Length is > 0 and <= 214 && n.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' or '@' or '/')).Take(50)
            : [];
}
