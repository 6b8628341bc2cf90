// The namespaces every MCP tool class uses.
global using System.ComponentModel;
global using ModelContextProtocol;
global using ModelContextProtocol.Protocol;
global using ModelContextProtocol.Server;
global using Sandbox.Client.Contracts;
global using Sandbox.Server.Contracts;
