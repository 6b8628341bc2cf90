using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Sandbox.Durability;

namespace Sandbox.Storage;

/// <summary>Makes the store <c>Sandbox:Durability:Store</c> names: SQLite (the default), PostgreSQL or memory.</summary>
internal sealed class SessionStoreFactory(IServiceProvider services, IOptions<SandboxOptions> options, IOptions<DurabilityOptions> durability)
{
    public ISessionStore Create() => durability.Value.Store switch
    {
        StoreKind.Memory => new InMemorySessionStore(options.Value.InstanceId),
        StoreKind.Postgres => ActivatorUtilities.CreateInstance<PostgresSessionStore>(services),
        _ => ActivatorUtilities.CreateInstance<SqliteSessionStore>(services),
    };
}
