using Sandbox.Client.Contracts;
using Sandbox.Execution;

namespace Sandbox.Server.Contracts;

/// <summary>Executions, their events and outputs, and background processes between the wire and the engine.</summary>
internal static partial class ContractMapping
{
    public static ExecutionRequest ToEngine(this ExecuteRequest r)
    {
        if (r.Code is null)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, "code is required.");
        }
        var timeout = ContractValidation.Timeout(r.TimeoutSeconds, 86_400);
        return new ExecutionRequest
        {
            Code = r.Code,
            Language = string.IsNullOrEmpty(r.Language) ? "python" : r.Language,
            Timeout = timeout,
            Fresh = r.Fresh ?? false,
            Allow = r.Allow ?? [],
            WaitFor = ContractValidation.Wait(r.WaitSeconds),
            MaxOutputChars = r.MaxOutputChars,
            AutoInstall = r.AutoInstall ?? false,
            AutoInstallIgnore = r.AutoInstallIgnore ?? [],
        };
    }

    public static ExecutionResultDto ToDto(this ExecutionResult r) => new()
    {
        ExecutionId = r.ExecutionId, Stdout = r.Stdout, Stderr = r.Stderr, ExitCode = r.ExitCode,
        Error = r.Error is { } e ? new ExecutionErrorDto(e.Type, e.Message, e.Traceback) : null,
        TimedOut = r.TimedOut, Truncated = r.Truncated, StateLost = r.StateLost, DurationMs = Math.Round(r.DurationMs, 3),
        Images = r.Images.Select(i => new ImageDto(i.Format, i.Base64)).ToList(),
        Findings = r.Findings.Select(f => new FindingDto(f.RuleId, f.Line, f.Message, f.Name)).ToList(),
        AutoInstalled = r.AutoInstalled.Select(i => new InstalledPackageDto(i.Name, i.Version, i.Manager, i.Cached, i.Bytes)).ToList(),
        Status = r.Status.ToString().ToLowerInvariant(), Failure = r.Failure is { } x ? new ErrorDto(x.Code, x.Message) : null,
        Cursor = r.Cursor, StdoutBytes = r.StdoutBytes, StderrBytes = r.StderrBytes, OutputLog = r.OutputLog,
    };

    public static Sandbox.Processes.ProcessRequest ToEngine(this StartProcessRequest r) => new()
    {
        Command = r.Command, Argv = r.Argv, Cwd = r.Cwd, Env = r.Env, Allow = r.Allow ?? [],
    };

    public static ProcessDto ToDto(this Sandbox.Processes.ProcessInfo p) =>
        new(p.ProcessId, p.Command, p.Running, p.ExitCode, p.StartedAt, p.StdoutBytes, p.StderrBytes, p.OutputLog);

    public static ProcessOutputDto ToDto(this Sandbox.Processes.ProcessOutput o) =>
        new(o.Process.ToDto(), o.Stdout, o.Stderr, o.StdoutCursor, o.StderrCursor, o.SkippedBytes);

    public static ExecutionSummaryDto ToDto(this ExecutionSummary s) =>
        new(s.ExecutionId, s.Language, s.Status.ToString().ToLowerInvariant(), s.StartedAt, Math.Round(s.DurationMs, 3));

    public static OutputSliceDto ToDto(this OutputSlice s) => new(s.ExecutionId, s.Stream, s.Offset, s.Length, s.TotalBytes, s.Text);

    public static OutputMatchesDto ToDto(this OutputMatches m) =>
        new(m.ExecutionId, m.Stream, m.Matches.Select(x => new OutputMatchDto(x.Line, x.Offset, x.Text)).ToList(), m.More);

    public static ExecutionStreamEvent ToDto(this ExecutionEvent e) => e switch
    {
        OutputEvent o => new ExecutionStreamEvent { Type = "output", Stream = o.Stream, Text = o.Text },
        ImageEvent i => new ExecutionStreamEvent { Type = "image", Image = new ImageDto(i.Image.Format, i.Image.Base64) },
        CompletedEvent c => new ExecutionStreamEvent { Type = "result", Result = c.Result.ToDto() },
        _ => throw new ArgumentOutOfRangeException(nameof(e)),
    };
}
