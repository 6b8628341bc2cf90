using Microsoft.Extensions.Options;
using Sandbox.Durability;

namespace Sandbox.Cluster;

/// <summary>A cluster needs a store its nodes share: <c>Sandbox:Cluster:Enabled</c> with the memory store is refused at start.</summary>
internal sealed class ClusterStoreValidator(IOptions<DurabilityOptions> durability) : IValidateOptions<ClusterOptions>
{
    public ValidateOptionsResult Validate(string? name, ClusterOptions options) =>
        options.Enabled && durability.Value.Store == StoreKind.Memory
            ? ValidateOptionsResult.Fail("Sandbox:Cluster:Enabled needs a store the nodes share (Sandbox:Durability:Store=Postgres, or Sqlite for servers on one machine), not Memory.")
            : ValidateOptionsResult.Success;
}
