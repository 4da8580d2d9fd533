namespace Tally.Core;

/// <summary>
/// Tally's one seeding policy. A user gives one integer seed; every random choice inside a call draws from a stream
/// derived from it by <see cref="Stream(ulong, ulong)"/> — one stream per purpose, per agent, per worker, per round —
/// never from a generator shared between threads. So a result depends on the seed and the input only: not on the
/// number of threads, the order they run in, or the machine.
/// </summary>
/// <remarks>
/// Streams are SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014),
/// whose finaliser <see cref="Mix"/> turns nearby integers into unrelated 64-bit states.
/// </remarks>
public static class Seeding
{
    /// <summary>The seed used when none is given, by every options record and every command: 0.</summary>
    public const int DefaultSeed = 0;

    /// <summary>The SplitMix64 finaliser: a bijection on 64-bit words that scatters nearby inputs.</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>The base state of a user seed (negative seeds are distinct from positive ones).</summary>
    public static ulong Base(int seed) => Mix(unchecked((ulong)(long)seed) + 0x2545F4914F6CDD1DUL);

    /// <summary>Sub-stream <paramref name="stream"/> of <paramref name="seed"/>.</summary>
    public static ulong Stream(ulong seed, ulong stream) => Mix(seed ^ Mix(stream + 0x632BE59BD9B4E019UL));

    /// <summary>Sub-stream (<paramref name="a"/>, <paramref name="b"/>) of <paramref name="seed"/>.</summary>
    public static ulong Stream(ulong seed, ulong a, ulong b) => Stream(Stream(seed, a), b);

    /// <summary>Sub-stream (<paramref name="a"/>, <paramref name="b"/>, <paramref name="c"/>) of <paramref name="seed"/>.</summary>
    public static ulong Stream(ulong seed, ulong a, ulong b, ulong c) => Stream(Stream(Stream(seed, a), b), c);

    /// <summary>An <see cref="int"/> seed for an API that takes one (e.g. a nested algorithm's options), from a stream.</summary>
    public static int ToInt(ulong state) => unchecked((int)(state >> 32) ^ (int)state);

    /// <summary>The derived int seed of sub-stream <paramref name="stream"/> of user seed <paramref name="seed"/>.</summary>
    public static int Derive(int seed, ulong stream) => ToInt(Stream(Base(seed), stream));

    /// <summary>The derived int seed of sub-stream (<paramref name="a"/>, <paramref name="b"/>) of <paramref name="seed"/>.</summary>
    public static int Derive(int seed, ulong a, ulong b) => ToInt(Stream(Base(seed), a, b));

    /// <summary>
    /// A <see cref="System.Random"/> for sequential draws (shuffles, random starts, MathNet's samplers): stream 0 is
    /// <c>new Random(seed)</c> itself — .NET keeps the sequence of a seeded Random fixed across versions and machines —
    /// and stream s &gt; 0 is <c>new Random(Derive(seed, s))</c>, an independent sequence for a second purpose.
    /// </summary>
    public static Random Random(int seed, ulong stream = 0) => new(stream == 0 ? seed : Derive(seed, stream));
}

/// <summary>
/// A SplitMix64 stream as a value: allocation-free, owned by one agent, worker or pair, so draws never depend on thread
/// scheduling. See <see cref="Seeding"/>.
/// </summary>
public struct SplitMix64
{
    private ulong _state;

    /// <summary>A stream starting from <paramref name="state"/> (use <see cref="Seeding.Stream(ulong, ulong)"/> to make one).</summary>
    public SplitMix64(ulong state) => _state = state;

    /// <summary>Stream <paramref name="stream"/> under <paramref name="baseSeed"/>.</summary>
    public static SplitMix64 For(ulong baseSeed, ulong stream) => new(Seeding.Stream(baseSeed, stream));

    /// <summary>The stream of the unordered pair {a, b} (the same whichever asks), distinct from the single-index streams.</summary>
    public static SplitMix64 ForPair(ulong baseSeed, int a, int b)
    {
        ulong lo = (ulong)Math.Min(a, b), hi = (ulong)Math.Max(a, b);
        return new(Seeding.Mix(Seeding.Mix(baseSeed + 0xD1B54A32D192ED03UL) ^ Seeding.Mix((hi << 32 | lo) ^ 0x8CB92BA72F3D8DD7UL)));
    }

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        return Seeding.Mix(z);
    }

    /// <summary>Uniform in [0, n) by the multiply-shift method (bias below n / 2³², irrelevant here).</summary>
    public int Next(int n) => (int)(((NextUInt64() >> 32) * (uint)n) >> 32);

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in (0, 1), never 0 or 1 (for logs).</summary>
    public double NextOpenDouble() => ((NextUInt64() >> 11) + 0.5) * (1.0 / (1UL << 53));
}

/// <summary>
/// <see cref="System.Random"/> over a <see cref="SplitMix64"/> stream, for library samplers (MathNet) that take a
/// Random; <see cref="Reset"/> re-seeds it in place so hot loops can reuse one instance per thread.
/// </summary>
public sealed class SplitMixRandom : Random
{
    private SplitMix64 _stream;

    /// <summary>A generator on the stream starting at <paramref name="state"/>.</summary>
    public SplitMixRandom(ulong state) : base(0) => _stream = new SplitMix64(state);

    /// <summary>Restarts the generator on the stream starting at <paramref name="state"/>.</summary>
    public void Reset(ulong state) => _stream = new SplitMix64(state);

    /// <inheritdoc />
    public override double NextDouble() => _stream.NextDouble();

    /// <inheritdoc />
    protected override double Sample() => _stream.NextDouble();

    /// <inheritdoc />
    public override int Next() => (int)(_stream.NextUInt64() >> 33);

    /// <inheritdoc />
    public override int Next(int maxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxValue);
        return maxValue == 0 ? 0 : _stream.Next(maxValue);
    }

    /// <inheritdoc />
    public override int Next(int minValue, int maxValue)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minValue, maxValue);
        long range = (long)maxValue - minValue;
        return range <= int.MaxValue ? minValue + Next((int)range) : (int)(minValue + (long)(_stream.NextDouble() * range));
    }

    /// <inheritdoc />
    public override long NextInt64() => (long)(_stream.NextUInt64() >> 1);

    /// <inheritdoc />
    public override long NextInt64(long minValue, long maxValue)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minValue, maxValue);
        ulong range = (ulong)(maxValue - minValue);
        return range == 0 ? minValue : minValue + (long)(_stream.NextUInt64() % range);
    }

    /// <inheritdoc />
    public override void NextBytes(Span<byte> buffer)
    {
        for (int i = 0; i < buffer.Length; i++) buffer[i] = (byte)(_stream.NextUInt64() >> 56);
    }

    /// <inheritdoc />
    public override void NextBytes(byte[] buffer) => NextBytes(buffer.AsSpan());
}
