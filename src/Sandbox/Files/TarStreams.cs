using System.Globalization;
using System.Text;

namespace Sandbox.Files;

/// <summary>
/// The tar framing of files too large to hold: an archive made on the fly around a stream of known length (for the
/// engine's archive upload), and the header of a single-file archive read off a forward-only stream (for downloads).
/// </summary>
internal static class TarStreams
{
    private const int Block = 512;

    /// <summary>Directory entries for <paramref name="directories"/>, then a file entry for <paramref name="name"/> with
    /// <paramref name="length"/> bytes read from <paramref name="body"/>, then the end of the archive. The body must
    /// deliver exactly that many bytes; fewer fail the read (the archive would be cut).</summary>
    public static Stream Wrap(IEnumerable<string> directories, string name, Stream body, long length, DateTimeOffset now)
    {
        var head = new MemoryStream();
        foreach (var dir in directories)
        {
            WriteEntry(head, dir.TrimEnd('/') + "/", '5', 0, 0b111_101_101, now);
        }
        WriteEntry(head, name, '0', length, 0b110_100_100, now);
        head.Position = 0;
        var padding = (Block - (int)(length % Block)) % Block;
        return new ConcatStream([head, new ExactStream(body, length), new MemoryStream(new byte[padding + 2 * Block])]);
    }

    private static void WriteEntry(Stream to, string name, char type, long size, int mode, DateTimeOffset now)
    {
        var nameBytes = Encoding.UTF8.GetBytes(name);
        if (nameBytes.Length > 100)
        {
            // A PAX extended header carries the long name.
            var record = PaxRecord("path", name);
            WriteHeader(to, "././@PaxHeader", 'x', record.Length, 0b110_100_100, now);
            to.Write(record);
            to.Write(new byte[(Block - record.Length % Block) % Block]);
            nameBytes = Encoding.UTF8.GetBytes(name.Length > 90 ? name[^90..] : name);
        }
        WriteHeader(to, Encoding.UTF8.GetString(nameBytes), type, size, mode, now);
    }

    private static byte[] PaxRecord(string key, string value)
    {
        var body = $" {key}={value}\n";
        var length = Encoding.UTF8.GetByteCount(body);
        var total = length + length.ToString(CultureInfo.InvariantCulture).Length;
        if ((total).ToString(CultureInfo.InvariantCulture).Length != length.ToString(CultureInfo.InvariantCulture).Length)
        {
            total++;
        }
        return Encoding.UTF8.GetBytes(total.ToString(CultureInfo.InvariantCulture) + body);
    }

    private static void WriteHeader(Stream to, string name, char type, long size, int mode, DateTimeOffset now)
    {
        var h = new byte[Block];
        Put(h, 0, 100, Encoding.UTF8.GetBytes(name));
        Octal(h, 100, 8, mode);
        Octal(h, 108, 8, 1000);
        Octal(h, 116, 8, 1000);
        Octal(h, 124, 12, size);
        Octal(h, 136, 12, now.ToUnixTimeSeconds());
        h[156] = (byte)type;
        Put(h, 257, 6, "ustar\0"u8.ToArray());
        Put(h, 263, 2, "00"u8.ToArray());
        for (var i = 148; i < 156; i++)
        {
            h[i] = (byte)' ';
        }
        var sum = h.Sum(b => (long)b);
        Put(h, 148, 8, Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 "));
        to.Write(h);
    }

    private static void Put(byte[] h, int at, int width, byte[] value) => value.AsSpan(0, Math.Min(width, value.Length)).CopyTo(h.AsSpan(at));

    private static void Octal(byte[] h, int at, int width, long value)
    {
        var text = Convert.ToString(value, 8).PadLeft(width - 1, '0');
        if (text.Length > width - 1)
        {
            throw new SandboxException(SandboxErrorCodes.FileTooLarge, "The file is too large for the archive format (8 GiB at most).");
        }
        Put(h, at, width, Encoding.ASCII.GetBytes(text + "\0"));
    }

    /// <summary>Reads the headers of a single-file archive from a forward-only stream, leaving it at the file's first
    /// byte. Returns the file's size and whether it is a regular file.</summary>
    public static async Task<(long Size, bool Regular)> ReadFileHeaderAsync(Stream tar, CancellationToken ct)
    {
        var h = new byte[Block];
        while (true)
        {
            await tar.ReadExactlyAsync(h, ct).ConfigureAwait(false);
            var type = (char)h[156];
            var size = ParseSize(h.AsSpan(124, 12));
            if (type is 'x' or 'g' or 'L' or 'K')
            {
                // Extended headers (long names, PAX records) precede the entry they describe: skip them.
                await SkipAsync(tar, (size + Block - 1) / Block * Block, ct).ConfigureAwait(false);
                continue;
            }
            return (size, type is '0' or '\0' or '7');
        }
    }

    /// <summary>Reads and drops <paramref name="count"/> bytes.</summary>
    public static async Task SkipAsync(Stream from, long count, CancellationToken ct)
    {
        var buffer = new byte[81920];
        while (count > 0)
        {
            var n = await from.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, count)), ct).ConfigureAwait(false);
            if (n == 0)
            {
                throw new EndOfStreamException();
            }
            count -= n;
        }
    }

    private static long ParseSize(ReadOnlySpan<byte> field)
    {
        if ((field[0] & 0x80) != 0)
        {
            long big = 0;
            for (var i = 1; i < field.Length; i++)
            {
                big = (big << 8) | field[i];
            }
            return big;
        }
        var text = Encoding.ASCII.GetString(field).Trim('\0', ' ');
        return text.Length == 0 ? 0 : Convert.ToInt64(text, 8);
    }

    /// <summary>Exactly <c>length</c> bytes of the inner stream: an early end is an error, extra bytes are not read.</summary>
    private sealed class ExactStream : ForwardOnlyStream
    {
        private readonly Stream inner;
        private readonly long length;
        private long _left;

        public ExactStream(Stream inner, long length)
        {
            this.inner = inner;
            this.length = length;
            _left = length;
        }

        public override long Length => length;
        public override long Position { get => length - _left; set => throw new NotSupportedException(); }
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_left == 0)
            {
                return 0;
            }
            var n = await inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _left)], cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"The upload ended after {length - _left} of {length} bytes; nothing was written.");
            }
            _left -= n;
            return n;
        }
    }

    /// <summary>Streams one after the other.</summary>
    private sealed class ConcatStream(IReadOnlyList<Stream> parts) : ForwardOnlyStream
    {
        private int _index;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            while (_index < parts.Count)
            {
                var n = await parts[_index].ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (n > 0)
                {
                    return n;
                }
                _index++;
            }
            return 0;
        }
    }
}
