using System.Reflection;

namespace Sandbox.Server.Contracts;

/// <summary>The server's version as both faces and the health answer report it.</summary>
internal static class ContractVersion
{
    public static string ServerVersion { get; } =
        typeof(ContractVersion).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";
}
