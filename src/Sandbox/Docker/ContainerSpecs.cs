using System.Globalization;
using Docker.DotNet.Models;
using Sandbox.Backend;
using Sandbox.Sessions;

namespace Sandbox.Docker;

/// <summary>The hardened shapes of the containers the backend starts: a session's container and workspace volume, and
/// the one-shot helper. Every limit and restriction they get is here, in one place.</summary>
internal static class ContainerSpecs
{
    /// <summary>The workspace: a tmpfs-backed named volume, bounded in size and inodes, owned by the sandbox user.</summary>
    public static VolumesCreateParameters SessionWorkspace(string name, SandboxLimits limits, IDictionary<string, string> labels) => new()
    {
        Name = name,
        Driver = "local",
        DriverOpts = new Dictionary<string, string>
        {
            ["type"] = "tmpfs",
            ["device"] = "tmpfs",
            ["o"] = string.Create(CultureInfo.InvariantCulture, $"size={limits.WorkspaceMb}m,nr_inodes={InodeBudget(limits.WorkspaceMb)},uid=1000,gid=1000,mode=0755,nosuid,nodev"),
        },
        Labels = labels,
    };

    /// <summary>The container: runner as its process, no network, read-only root, limits, no capabilities for user code.</summary>
    public static CreateContainerParameters Session(string name, SandboxSpec spec, IDictionary<string, string> labels)
    {
        var limits = spec.Limits;
        var memory = limits.MemoryMb * 1024L * 1024L;
        return new CreateContainerParameters
        {
            Name = name,
            Image = spec.ImageReference,
            Labels = labels,
            // The runner is the engine's own code, passed as an argument so any image with python3 works.
            Cmd = ["python3", "-I", "-u", "-c", EmbeddedScript.Runner.Value],
            Entrypoint = [],
            User = "0:0",
            WorkingDir = "/workspace",
            Env = ["SANDBOX_UID=1000", "SANDBOX_GID=1000", "PYTHONDONTWRITEBYTECODE=1", "MPLCONFIGDIR=/tmp/matplotlib", "HOME=/workspace"],
            AttachStdin = true,
            AttachStdout = true,
            AttachStderr = true,
            OpenStdin = true,
            StdinOnce = false,
            Tty = false,
            // Network mode none, not NetworkDisabled: a disabled network cannot be swapped for an agent run's internal
            // network (the container would get no interface and no resolver).
            HostConfig = new HostConfig
            {
                Init = true,
                NetworkMode = "none",
                Memory = memory,
                MemorySwap = memory,
                NanoCPUs = (long)(limits.Cpus * 1e9),
                PidsLimit = limits.Pids,
                ReadonlyRootfs = true,
                CapDrop = ["ALL"],
                // Only for the runner (uid 0): drop to uid 1000 for user code and stop runaway user processes.
                // User code runs as uid 1000 with no capabilities (no-new-privileges stops regaining any).
                CapAdd = ["SETUID", "SETGID", "KILL"],
                SecurityOpt = ["no-new-privileges"],
                Ulimits =
                [
                    new Ulimit { Name = "nofile", Soft = limits.NoFile, Hard = limits.NoFile },
                    new Ulimit { Name = "fsize", Soft = limits.FileSizeMb * 1024L * 1024L, Hard = limits.FileSizeMb * 1024L * 1024L },
                    new Ulimit { Name = "core", Soft = 0, Hard = 0 },
                ],
                Tmpfs = new Dictionary<string, string>
                {
                    ["/tmp"] = string.Create(CultureInfo.InvariantCulture, $"rw,nosuid,nodev,size={limits.TmpMb}m,nr_inodes={InodeBudget(limits.TmpMb)},mode=1777"),
                },
                ShmSize = 64L * 1024 * 1024,
                Mounts = [new Mount { Type = "volume", Source = name, Target = "/workspace" }],
                Runtime = spec.Runtime,
                LogConfig = new LogConfig { Type = "none" },
                RestartPolicy = new RestartPolicy { Name = RestartPolicyKind.No },
            },
        };
    }

    /// <summary>A throw-away helper for short read-only queries: no network, read-only, uid 1000, small limits.</summary>
    public static CreateContainerParameters OneShot(string name, string helperId, string imageReference, IList<string> command, string instanceId, string? runtime) => new()
    {
        Name = name,
        Image = imageReference,
        Cmd = command,
        Entrypoint = [],
        User = "1000:1000",
        AttachStdout = true,
        AttachStderr = true,
        NetworkDisabled = true,
        Labels = new Dictionary<string, string>
        {
            [SandboxLabels.Product] = SandboxLabels.ProductValue, [SandboxLabels.Instance] = instanceId,
            [SandboxLabels.SessionId] = helperId,
        },
        HostConfig = new HostConfig
        {
            NetworkMode = "none", Memory = 256L << 20, MemorySwap = 256L << 20, PidsLimit = 64, NanoCPUs = 1_000_000_000,
            ReadonlyRootfs = true, CapDrop = ["ALL"], SecurityOpt = ["no-new-privileges"],
            Tmpfs = new Dictionary<string, string> { ["/tmp"] = "rw,nosuid,nodev,size=16m" },
            Runtime = runtime,
        },
    };

    /// <summary>
    /// Inodes a tmpfs of <paramref name="sizeMb"/> may hold: one per 4 KiB, at least 1024. Empty files use no blocks,
    /// so without this bound millions of empty files would turn into kernel memory charged to the session's cgroup
    /// until the OOM killer ends the session instead of the write failing with "No space left on device".
    /// </summary>
    internal static long InodeBudget(int sizeMb) => Math.Max(1024L, sizeMb * 256L);
}
