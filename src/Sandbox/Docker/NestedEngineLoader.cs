using System.Text;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace Sandbox.Docker;

/// <summary>Moves an image of the host's engine into a session's own engine without a registry: the host's engine saves
/// it as a tar stream, which is piped into <c>docker load</c> run in the sandbox as the sandbox user (whose group may use
/// the nested engine's socket). Nothing is written to the host's disk on the way.</summary>
internal static class NestedEngineLoader
{
    public static async Task LoadAsync(IDockerClient client, string containerId, string imageReference, string dockerHost, CancellationToken ct)
    {
        await using var image = await DockerCall.Run(() => client.Images.SaveImageAsync(imageReference, ct)).ConfigureAwait(false);
        var exec = await DockerCall.Run(() => client.Exec.CreateContainerExecAsync(containerId, new ContainerExecCreateParameters
        {
            Cmd = ["docker", "--host", dockerHost, "load", "--quiet"],
            User = "1000:1000",
            AttachStdin = true, AttachStdout = true, AttachStderr = true, TTY = false,
        }, ct)).ConfigureAwait(false);
        using var stream = await DockerCall.Run(() => client.Exec.StartContainerExecAsync(exec.ID, new ContainerExecStartParameters { TTY = false }, ct)).ConfigureAwait(false);
        // Output is read while the image is written: docker load may answer (an error) before it has read everything.
        var output = stream.ReadOutputToEndAsync(ct);
        var buffer = new byte[81920];
        try
        {
            int n;
            while ((n = await image.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
            {
                await stream.WriteAsync(buffer, 0, n, ct).ConfigureAwait(false);
            }
        }
        catch (IOException) when (output.IsCompleted)
        {
            // docker load ended early; its own message says why.
        }
        stream.CloseWrite();
        var (stdout, stderr) = await output.ConfigureAwait(false);
        var inspect = await DockerCall.Run(() => client.Exec.InspectContainerExecAsync(exec.ID, ct)).ConfigureAwait(false);
        if (inspect.ExitCode != 0)
        {
            var why = new StringBuilder().Append(stderr.Trim()).Append(' ').Append(stdout.Trim()).ToString().Trim();
            throw new SandboxException(SandboxErrorCodes.DockerUnavailable,
                $"Loading image '{imageReference}' into the session's engine failed (exit {inspect.ExitCode}): {SafeText.Shorten(why, 400)}");
        }
    }
}
