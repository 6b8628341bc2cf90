namespace Sandbox.Client;

/// <summary>An error reported by the sandbox server, with its stable code (the same on REST and MCP).</summary>
public sealed class SandboxClientException : Exception
{
    /// <summary>Creates the exception.</summary>
    public SandboxClientException(string code, string message, int? httpStatus = null, Exception? inner = null) : base(message, inner)
    {
        Code = code;
        HttpStatus = httpStatus;
    }

    /// <summary>The stable error code, e.g. <c>session_not_found</c>, <c>unsafe_code</c>, <c>invalid_path</c>.</summary>
    public string Code { get; }

    /// <summary>The HTTP status when the error came over REST.</summary>
    public int? HttpStatus { get; }
}
