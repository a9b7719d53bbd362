import HTTPTypes
import Hummingbird
import TallyCore

/// The native answer to a rate limit: `429` with `Retry-After` and the `RateLimit-*` headers.
extension TallyRuntime {
    /// Throws the native `429` for a refused decision.
    func enforce(_ decision: RateDecision) throws {
        guard !decision.admitted else { return }
        var e = NativeError(.tooManyRequests, "rate_limited", "too many requests for this credential; retry after \(decision.retryAfter) s")
        e.headers[.retryAfter] = String(decision.retryAfter)
        e.headers[HTTPField.Name("RateLimit-Limit")!] = String(decision.limit)
        e.headers[HTTPField.Name("RateLimit-Remaining")!] = "0"
        e.headers[HTTPField.Name("RateLimit-Reset")!] = String(decision.retryAfter)
        throw e
    }

    /// Applies the `native` rate limit to the account credential of a request (service tokens,
    /// the ingest pipes of the operator, are not limited). Call right after authentication.
    func admitNative(_ request: Request) throws {
        guard let caller = bearerCaller(request) else { return }
        try enforce(admit(caller, face: "native"))
    }
}
