using System.Text;

namespace Sandbox;

/// <summary>Helpers for the line buffers that split streamed output into lines.</summary>
internal static class StringBuilderExtensions
{
    /// <summary>The first position of <paramref name="c"/>, or -1.</summary>
    public static int IndexOf(this StringBuilder text, char c)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == c)
            {
                return i;
            }
        }
        return -1;
    }
}
