using System.Collections.Concurrent;
using System.Net.Sockets;

namespace Keybrake.Client.Tests;

/// <summary>
/// A handler inside the guard's gRPC client to the budget service (added to the named client the gRPC client
/// factory builds it from): counts the calls that reach the wire, by method, and plays network faults on
/// chosen calls: a reply lost after the service acted, a connection that fails, a call that hangs until its
/// deadline or its caller gives up.
/// </summary>
internal sealed class BudgetServiceWire
{
    public const string Authorize = "Authorize";
    public const string Settle = "Settle";
    public const string GetKeyStatus = "GetKeyStatus";
    public const string SubmitAudit = "SubmitAudit";

    private readonly ConcurrentDictionary<string, int> _attempts = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _lostReplies = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _failures = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _hangs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _hanging = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (int Count, int Status)> _refusals = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _hangAll = new(StringComparer.Ordinal);

    private readonly ConcurrentQueue<(string Method, int Port)> _sent = new();

    /// <summary>The ports (replicas) <paramref name="method"/> was sent to, in order, every retry included.</summary>
    public IReadOnlyList<int> Ports(string method) => _sent.Where(s => s.Method == method).Select(s => s.Port).ToList();

    /// <summary>The ports (replicas) every call was sent to, in order, every retry included.</summary>
    public IReadOnlyList<int> Ports() => _sent.Select(s => s.Port).ToList();

    /// <summary>How many times <paramref name="method"/> was sent (every retry counts).</summary>
    public int Attempts(string method) => _attempts.GetValueOrDefault(method);

    /// <summary>The next <paramref name="count"/> calls reach the service, which acts on them; their replies are lost.</summary>
    public void LoseReplies(string method, int count = 1) => _lostReplies[method] = count;

    /// <summary>The next <paramref name="count"/> calls fail before they leave, as a refused connection.</summary>
    public void Fail(string method, int count) => _failures[method] = count;

    /// <summary>The next call never gets an answer: it waits until its deadline passes or its caller cancels it.</summary>
    public Task HangNext(string method)
    {
        _hangs[method] = 1;
        return _hanging.GetOrAdd(method, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
    }

    /// <summary>Every call from now on hangs until its deadline passes or its caller cancels it, as a frozen service.</summary>
    public void HangAll(string method) => _hangAll[method] = true;

    /// <summary>The next <paramref name="count"/> calls are answered by the "service" with the gRPC status <paramref name="status"/> and no reply.</summary>
    public void Refuse(string method, Grpc.Core.StatusCode status, int count = 1) => _refusals[method] = (count, (int)status);

    public DelegatingHandler CreateHandler() => new Handler(this);

    private bool TakeRefusal(string method, out int status)
    {
        while (_refusals.TryGetValue(method, out var refusal) && refusal.Count > 0)
        {
            if (_refusals.TryUpdate(method, (refusal.Count - 1, refusal.Status), refusal))
            {
                status = refusal.Status;
                return true;
            }
        }

        status = 0;
        return false;
    }

    private static bool Take(ConcurrentDictionary<string, int> faults, string method)
    {
        while (faults.TryGetValue(method, out var left) && left > 0)
        {
            if (faults.TryUpdate(method, left - 1, left))
            {
                return true;
            }
        }

        return false;
    }

    private sealed class Handler(BudgetServiceWire wire) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var method = request.RequestUri!.Segments[^1];
            wire._attempts.AddOrUpdate(method, 1, (_, count) => count + 1);
            wire._sent.Enqueue((method, request.RequestUri.Port));
            if (Take(wire._hangs, method))
            {
                wire._hanging.GetOrAdd(method, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            if (wire._hangAll.ContainsKey(method))
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            if (wire.TakeRefusal(method, out var status))
            {
                // A trailers-only gRPC answer: the status in the headers, no message.
                var refusal = new HttpResponseMessage(System.Net.HttpStatusCode.OK) { Version = request.Version, RequestMessage = request, Content = new ByteArrayContent([]) };
                refusal.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
                refusal.Headers.Add("grpc-status", status.ToString(System.Globalization.CultureInfo.InvariantCulture));
                refusal.Headers.Add("grpc-message", "refused by the test");
                return refusal;
            }

            if (Take(wire._failures, method))
            {
                throw new HttpRequestException($"{method}: connection refused (a fault the test plays)", new SocketException((int)SocketError.ConnectionRefused));
            }

            var response = await base.SendAsync(request, cancellationToken);
            if (!Take(wire._lostReplies, method))
            {
                return response;
            }

            // Read the whole reply, so the service has finished the call, then lose it as a broken connection would.
            await response.Content.ReadAsByteArrayAsync(cancellationToken);
            response.Dispose();
            throw new HttpRequestException(
                $"{method}: connection reset after the service answered (a fault the test plays)",
                new IOException("connection reset", new SocketException((int)SocketError.ConnectionReset)));
        }
    }
}
