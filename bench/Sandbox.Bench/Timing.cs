using System.Diagnostics;
using System.Globalization;

/// <summary>How every figure of the benchmark is taken: warm-up calls, then timed calls, sorted; and percentiles of them.</summary>
internal static class Timing
{
    /// <summary>Runs <paramref name="op"/> up to 10 times untimed, then <paramref name="n"/> times timed; the times in ms, sorted.</summary>
    public static async Task<double[]> SampleAsync(int n, Func<Task> op)
    {
        for (var i = 0; i < Math.Min(10, n); i++)
        {
            await op(); // warm-up
        }
        var samples = new double[n];
        for (var i = 0; i < n; i++)
        {
            var sw = Stopwatch.StartNew();
            await op();
            samples[i] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(samples);
        return samples;
    }

    /// <summary>The <paramref name="p"/>th percentile of sorted samples (nearest rank).</summary>
    public static double P(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p / 100 * sorted.Length) - 1)];

    /// <summary>The server's stages of a REST execution, from its Server-Timing header (0 where absent).</summary>
    public static (double Check, double Run, double Engine) ServerTiming(HttpResponseMessage r)
    {
        var values = r.Headers.TryGetValues("Server-Timing", out var v) ? string.Join(",", v) : "";
        double Get(string name) => values.Split(',').Select(x => x.Trim()).Where(x => x.StartsWith(name + ";dur=", StringComparison.Ordinal))
            .Select(x => double.Parse(x[(name.Length + 5)..], CultureInfo.InvariantCulture)).FirstOrDefault();
        return (Get("check"), Get("run"), Get("engine"));
    }
}
