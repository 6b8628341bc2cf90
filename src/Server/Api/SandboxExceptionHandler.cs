using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;

namespace Sandbox.Server.Api;

/// <summary>Maps the engine's error family (and bad requests) to RFC 9457 problem details, once, for the REST face.</summary>
internal sealed partial class SandboxExceptionHandler(IProblemDetailsService problems, ILogger<SandboxExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken ct)
    {
        var (status, code, message, details) = exception switch
        {
            SandboxException e => (ContractErrors.HttpStatus(e.Code), e.Code, e.Message, e.Details),
            BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } =>
                (413, SandboxErrorCodes.LimitExceeded, "The request body is larger than the server accepts.", null),
            BadHttpRequestException { InnerException: JsonException } =>
                (400, SandboxErrorCodes.InvalidArgument, "The request body is not valid JSON for this endpoint.", null),
            BadHttpRequestException b => (b.StatusCode, SandboxErrorCodes.InvalidArgument, "Bad request: " + b.Message, (object?)null),
            JsonException => (400, SandboxErrorCodes.InvalidArgument, "The request body is not valid JSON for this endpoint.", null),
            OperationCanceledException when http.RequestAborted.IsCancellationRequested => (499, "cancelled", "The client went away.", null),
            _ => (500, SandboxErrorCodes.Internal, "Unexpected server error; see the server log.", null),
        };
        if (status >= 500)
        {
            LogUnexpected(logger, exception, http.Request.Path.Value ?? "");
        }
        if (http.Response.HasStarted)
        {
            return true;
        }
        http.Response.StatusCode = status;
        var extensions = new Dictionary<string, object?> { ["code"] = code };
        if (details is not null)
        {
            extensions["details"] = details;
        }
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            Exception = exception,
            ProblemDetails = new Microsoft.AspNetCore.Mvc.ProblemDetails
            {
                Status = status, Title = code, Detail = message, Type = $"urn:sandbox:error:{code}", Extensions = extensions,
            },
        });
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled error on {Path}")]
    private static partial void LogUnexpected(ILogger logger, Exception exception, string path);
}
