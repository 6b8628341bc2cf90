using System.Net;
using System.Net.Sockets;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace Sandbox.Server.Hosting;

/// <summary>
/// The client that carries requests to the other nodes of a cluster, made by YARP's client factory (its defaults: no
/// proxy, no redirects, no decompression, no cookies, no activity headers) with connections that notice a dead node:
/// a killed machine answers nothing, so a request sent on a kept-alive connection to it would otherwise wait as long as
/// a forward may (an hour) while TCP retransmits. Unacknowledged data or keep-alive probes unanswered for 10 s end the
/// connection (the caller gets node_unavailable, then session_lost once the node is declared gone); a live node that
/// takes long to answer keeps its connection, since its kernel acknowledges both.
/// </summary>
public sealed class NodeClientFactory : ForwarderHttpClientFactory
{
    private readonly Lazy<HttpMessageInvoker> _client;

    /// <summary>Creates the factory (the client is made at the first forward).</summary>
    public NodeClientFactory(ILogger<ForwarderHttpClientFactory> logger) : base(logger) =>
        _client = new(() => CreateClient(new ForwarderHttpClientContext { NewConfig = HttpClientConfig.Empty }));

    /// <summary>The one client every forward uses (its connections are pooled across requests).</summary>
    public HttpMessageInvoker Client => _client.Value;

    /// <inheritdoc />
    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        handler.ConnectTimeout = TimeSpan.FromSeconds(5);
        handler.PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2);
        handler.EnableMultipleHttp2Connections = true;
        handler.ConnectCallback = ConnectToNodeAsync;
    }

    private static async ValueTask<Stream> ConnectToNodeAsync(SocketsHttpConnectionContext context, CancellationToken ct)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, 5);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, 2);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, 3);
            if (OperatingSystem.IsLinux())
            {
                // TCP_USER_TIMEOUT (IPPROTO_TCP 6, option 18), in milliseconds.
                socket.SetRawSocketOption(6, 18, BitConverter.GetBytes(10_000));
            }
            await socket.ConnectAsync(context.DnsEndPoint, ct).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
