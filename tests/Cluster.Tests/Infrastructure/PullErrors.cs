using Docker.DotNet.Models;

namespace Sandbox.Cluster.Tests.Infrastructure;

/// <summary>The progress of an image pull or push: the engine reports a failure as a message in the stream, not as an
/// error of the call. Collects those and throws when there was one.</summary>
public sealed class PullErrors : IProgress<JSONMessage>
{
    private readonly List<string> _errors = [];

    public void Report(JSONMessage value)
    {
        if (value.Error?.Message is { Length: > 0 } message)
        {
            lock (_errors)
            {
                _errors.Add(message);
            }
        }
    }

    public void ThrowIfAny(string what)
    {
        lock (_errors)
        {
            if (_errors.Count > 0)
            {
                throw new InvalidOperationException($"{what} failed: {string.Join("; ", _errors)}");
            }
        }
    }
}
