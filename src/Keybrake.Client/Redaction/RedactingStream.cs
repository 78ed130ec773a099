using System.Buffers;

namespace Keybrake.Client;

/// <summary>
/// Reads a response body with every form of the secret replaced, without holding the body in memory: it
/// reads in chunks and holds back the last few bytes of each (one byte fewer than the longest form), so a
/// secret split across two reads is still found whole.
/// </summary>
internal sealed class RedactingStream : Stream
{
    private const int ChunkBytes = 16 * 1024;

    private readonly Stream _source;
    private readonly SecretForms _secrets;
    private byte[]? _input;
    private int _inputLength;
    private byte[]? _output;
    private int _outputStart;
    private int _outputEnd;
    private bool _sourceDone;

    public RedactingStream(Stream source, SecretForms secrets)
    {
        _source = source;
        _secrets = secrets;
        _input = ArrayPool<byte>.Shared.Rent(ChunkBytes + secrets.MaxLength);

        // At worst every input byte belongs to a match, and each match of the shortest form grows to the replacement.
        var growth = secrets.MinFormLength == 0 ? 0 : ((_input.Length / secrets.MinFormLength) + 1) * SecretForms.ReplacementUtf8.Length;
        _output = ArrayPool<byte>.Shared.Rent(_input.Length + growth);
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_input is null, this);
        while (true)
        {
            if (_outputStart < _outputEnd || buffer.Length == 0)
            {
                return TakeOutput(buffer.Span);
            }

            if (_sourceDone && _inputLength == 0)
            {
                return 0;
            }

            if (!_sourceDone)
            {
                var read = await _source.ReadAsync(_input.AsMemory(_inputLength), cancellationToken).ConfigureAwait(false);
                _sourceDone = read == 0;
                _inputLength += read;
            }

            Process();
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_input is null, this);
        while (true)
        {
            if (_outputStart < _outputEnd || buffer.Length == 0)
            {
                return TakeOutput(buffer);
            }

            if (_sourceDone && _inputLength == 0)
            {
                return 0;
            }

            if (!_sourceDone)
            {
                var read = _source.Read(_input.AsSpan(_inputLength));
                _sourceDone = read == 0;
                _inputLength += read;
            }

            Process();
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _source.Dispose();
            ReturnBuffers();
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await _source.DisposeAsync().ConfigureAwait(false);
        ReturnBuffers();
        await base.DisposeAsync().ConfigureAwait(false);
    }

    private void ReturnBuffers()
    {
        if (_input is not null)
        {
            ArrayPool<byte>.Shared.Return(_input);
            _input = null;
        }

        if (_output is not null)
        {
            ArrayPool<byte>.Shared.Return(_output);
            _output = null;
        }
    }

    private int TakeOutput(Span<byte> buffer)
    {
        var count = Math.Min(buffer.Length, _outputEnd - _outputStart);
        _output.AsSpan(_outputStart, count).CopyTo(buffer);
        _outputStart += count;
        return count;
    }

    /// <summary>Moves what is certain from the input to the output: everything but a tail that may begin a form.</summary>
    private void Process()
    {
        var input = _input!;
        var output = _output!;
        _outputStart = 0;
        _outputEnd = 0;
        var position = 0;
        while (true)
        {
            var (index, length) = _secrets.FindFirst(input.AsSpan(position, _inputLength - position));
            if (index < 0)
            {
                break;
            }

            input.AsSpan(position, index).CopyTo(output.AsSpan(_outputEnd));
            _outputEnd += index;
            SecretForms.ReplacementUtf8.CopyTo(output.AsSpan(_outputEnd));
            _outputEnd += SecretForms.ReplacementUtf8.Length;
            position += index + length;
        }

        var holdBack = _sourceDone ? 0 : _secrets.MaxLength - 1;
        var certainEnd = Math.Max(position, _inputLength - holdBack);
        input.AsSpan(position, certainEnd - position).CopyTo(output.AsSpan(_outputEnd));
        _outputEnd += certainEnd - position;

        input.AsSpan(certainEnd, _inputLength - certainEnd).CopyTo(input);
        _inputLength -= certainEnd;
    }
}
