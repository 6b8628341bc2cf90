using System.Text.Json;
using Sandbox.Client.Contracts;

namespace Sandbox.Server.Contracts;

/// <summary>Engine errors on the wire: the error body and the HTTP status of each stable code.</summary>
internal static class ContractErrors
{
    public static ErrorDto ToError(this SandboxException e) => new(e.Code, e.Message,
        e.Details is null ? null : JsonSerializer.SerializeToElement(e.Details, SandboxJson.Options));

    /// <summary>HTTP status for each stable error code (RFC 9457 problem details carry the code too).</summary>
    public static int HttpStatus(string code) => code switch
    {
        SandboxErrorCodes.SessionNotFound or SandboxErrorCodes.FileNotFound or SandboxErrorCodes.RunNotFound or SandboxErrorCodes.ToolNotFound or SandboxErrorCodes.VolumeNotFound or SandboxErrorCodes.ExecutionNotFound or SandboxErrorCodes.ProcessNotFound or SandboxErrorCodes.TerminalNotFound or SandboxErrorCodes.SnapshotNotFound => StatusCodes.Status404NotFound,
        SandboxErrorCodes.SessionBusy or SandboxErrorCodes.VolumeBusy or SandboxErrorCodes.ExecutionCancelled => StatusCodes.Status409Conflict,
        SandboxErrorCodes.SessionLost => StatusCodes.Status410Gone,
        SandboxErrorCodes.LimitExceeded or SandboxErrorCodes.InvalidArgument or SandboxErrorCodes.InvalidPath
            or SandboxErrorCodes.ImageNotFound or SandboxErrorCodes.AgentUnavailable or SandboxErrorCodes.DockerUnavailable => StatusCodes.Status400BadRequest,
        SandboxErrorCodes.CapacityExceeded => StatusCodes.Status429TooManyRequests,
        SandboxErrorCodes.Timeout => StatusCodes.Status504GatewayTimeout,
        SandboxErrorCodes.UnsafeCode or SandboxErrorCodes.PackageUnavailable or SandboxErrorCodes.IsolationUnavailable
            or SandboxErrorCodes.InvalidArchive or SandboxErrorCodes.UnsafeArchive => StatusCodes.Status422UnprocessableEntity,
        SandboxErrorCodes.WorkspaceFull => StatusCodes.Status507InsufficientStorage,
        SandboxErrorCodes.FileTooLarge => StatusCodes.Status413PayloadTooLarge,
        SandboxErrorCodes.EngineUnavailable => StatusCodes.Status503ServiceUnavailable,
        SandboxErrorCodes.StoreUnavailable => StatusCodes.Status503ServiceUnavailable,
        SandboxErrorCodes.NodeUnavailable => StatusCodes.Status503ServiceUnavailable,
        SandboxErrorCodes.Forbidden or SandboxErrorCodes.EgressNotPermitted => StatusCodes.Status403Forbidden,
        SandboxErrorCodes.GitRefNotFound or SandboxErrorCodes.GitRepoNotFound or SandboxErrorCodes.NotAGitSession
            or SandboxErrorCodes.SetupFailed => StatusCodes.Status422UnprocessableEntity,
        SandboxErrorCodes.GitAuthFailed or SandboxErrorCodes.GitUnreachable or SandboxErrorCodes.GitFailed => StatusCodes.Status502BadGateway,
        SandboxErrorCodes.GitPushRejected => StatusCodes.Status409Conflict,
        SandboxErrorCodes.NameTaken => StatusCodes.Status409Conflict,
        SandboxErrorCodes.GitConflict => StatusCodes.Status409Conflict,
        _ => StatusCodes.Status500InternalServerError,
    };
}
