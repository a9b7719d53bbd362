import HTTPTypes
import Hummingbird
import NIOCore
import TallyCore
import TallyIngest
import TallyStore

/// `POST /v1/events` (native NDJSON or JSON array) and `POST /api/v1/events` (CloudEvents).
struct IngestController {
    let runtime: TallyRuntime

    func addRoutes(to group: RouterGroup<TallyContext>) {
        group.post("v1/events") { request, context in try await ingest(request, context, cloudEvents: false) }
    }

    /// The OpenMeter-compatible route answers in its own dialect (problem+json, 204).
    func addCloudEventRoutes(to router: Router<TallyContext>) {
        router.post("api/v1/events") { request, context in
            do {
                _ = try await ingest(request, context, cloudEvents: true)
                return Response(status: .noContent)
            } catch let e as NativeError {
                let body = "{\"type\":\"about:blank\",\"title\":" + JSONValue.quote(e.status.reasonPhrase) + ",\"status\":\(e.status.code),\"detail\":" +
                    JSONValue.quote(([e.message] + e.details.map { "\($0.0): \($0.1)" }).joined(separator: "; ")) + "}"
                var h = e.headers
                h[.contentType] = "application/problem+json"
                return Response(status: e.status, headers: h, body: .init(byteBuffer: ByteBuffer(string: body)))
            }
        }
    }

    func ingest(_ request: Request, _ context: TallyContext, cloudEvents: Bool) async throws -> Response {
        let started = ContinuousClock.now
        guard let principal = runtime.principal(request) else { throw NativeError.unauthorized }
        try runtime.admitNative(request)
        let scope: String? = if case .account(let id) = principal { id } else { nil }
        let body = try await Self.collectBody(request, limit: runtime.config.ingest.maxBodyBytes)
        let validator = runtime.validator(scope: scope)
        let decoded = body.withUnsafeReadableBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            return cloudEvents ? EventDecoder.cloudEvents(bytes, validator: validator) : EventDecoder.native(bytes, validator: validator)
        }
        if !decoded.problems.isEmpty {
            runtime.metrics.eventsRejected.increment(by: Int64(decoded.problems.count))
            let shown = decoded.problems.prefix(1000)
            throw NativeError(.badRequest, "invalid_events", "\(decoded.problems.count) invalid event(s); nothing was stored",
                              details: shown.map { (String($0.line), $0.message) })
        }
        if decoded.columns.isEmpty { throw NativeError(.badRequest, "empty_batch", "the request holds no events") }
        let key = try idempotencyKey(request, principal: principal)
        let receipt: IngestReceipt
        do {
            receipt = try await runtime.commit(decoded.columns, idempotencyKey: key)
        } catch let e as StoreError {
            throw e.code == .overflow
                ? NativeError(.unprocessableContent, "overflow", e.message)
                : NativeError(.serviceUnavailable, "unavailable", "the store could not commit the batch; nothing was stored, retry later")
        }
        runtime.metrics.ingestLatency.record(ContinuousClock.now - started)
        var headers: HTTPFields = [.contentType: "application/json"]
        if receipt.replayed { headers[HTTPField.Name("Idempotent-Replayed")!] = "true" }
        let json = "{\"accepted\":\(receipt.accepted),\"duplicates\":\(receipt.duplicates)}"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: json)))
    }

    /// The whole request body in one buffer, allocated once at its `Content-Length` when the
    /// request gives one (growing a buffer chunk by chunk copies a large batch several times).
    static func collectBody(_ request: Request, limit: Int) async throws -> ByteBuffer {
        let tooLarge = NativeError(.contentTooLarge, "too_large", "the request body is larger than \(limit) bytes")
        let declared = request.headers[.contentLength].flatMap { Int($0) } ?? 0
        if declared > limit { throw tooLarge }
        var body = ByteBufferAllocator().buffer(capacity: declared)
        do {
            try await request.body.collect(upTo: limit, into: &body)
        } catch is NIOTooManyBytesError {
            throw tooLarge
        }
        return body
    }

    /// The caller's `Idempotency-Key`, scoped to the caller so keys never collide across tenants.
    func idempotencyKey(_ request: Request, principal: Principal) throws -> String? {
        guard let k = request.headers[HTTPField.Name("Idempotency-Key")!] else { return nil }
        guard !k.isEmpty, k.utf8.count <= 256 else { throw NativeError(.badRequest, "invalid_idempotency_key", "Idempotency-Key must be 1 to 256 bytes") }
        switch principal {
        case .service: return "service\u{1F}" + k
        case .account(let id): return "account:" + id + "\u{1F}" + k
        }
    }
}
