using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sandbox.Git;

/// <summary>What the git helper (<c>Git/git_helper.py</c>) is asked: one JSON line on its stdin, <c>op</c> naming it,
/// the other fields in snake_case. <see cref="Proxy"/> and <see cref="Ca"/> are filled in by the backend that starts
/// the helper (its egress proxy and that proxy's CA).</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "op")]
[JsonDerivedType(typeof(GitCloneRequest), "clone")]
[JsonDerivedType(typeof(GitPushRequest), "push")]
public abstract record GitHelperRequest
{
    /// <summary>The proxy URL the helper's git goes through.</summary>
    public string? Proxy { get; init; }

    /// <summary>The PEM of the CA the proxy terminates TLS with.</summary>
    public string? Ca { get; init; }

    /// <summary>The request as the line the helper reads (without the newline).</summary>
    public byte[] Serialize() => JsonSerializer.SerializeToUtf8Bytes(this, GitHelperJson.Default.GitHelperRequest);
}

/// <summary>Clones a repository into the (empty) workspace. Outcome: <c>head</c>, <c>branch</c>, <c>shallow</c>, <c>commits</c>.</summary>
/// <param name="Url">The repository.</param>
/// <param name="Ref">A branch, tag or commit; null: the default branch.</param>
/// <param name="Depth">1 for a shallow clone, 0 for all history.</param>
/// <param name="Submodules">Whether submodules are cloned too.</param>
/// <param name="Name">The commit author's name in the workspace.</param>
/// <param name="Email">The commit author's email.</param>
public sealed record GitCloneRequest(string Url, string? Ref, int Depth, bool Submodules, string Name, string Email) : GitHelperRequest;

/// <summary>Pushes a commit of the (read-only) workspace to a branch. Outcome: <c>commit</c>, <c>branch</c>, <c>output</c>.</summary>
/// <param name="Url">The repository.</param>
/// <param name="Commit">The commit pushed.</param>
/// <param name="Branch">The remote branch it goes to.</param>
/// <param name="Force">Whether the branch may be rewound.</param>
public sealed record GitPushRequest(string Url, string Commit, string Branch, bool Force) : GitHelperRequest;

/// <summary>The helper protocol's JSON: generated at build time, snake_case, nulls left out.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(GitHelperRequest))]
internal sealed partial class GitHelperJson : JsonSerializerContext;
