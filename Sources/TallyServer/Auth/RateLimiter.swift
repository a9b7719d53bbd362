import Synchronization
import TallyCore

/// The answer of a rate limit for one request.
public struct RateDecision: Sendable, Equatable {
    public var admitted: Bool
    /// Requests allowed per window (0: this face has no limit; send no rate headers).
    public var limit: Int
    /// Requests left in the current window after this one.
    public var remaining: Int
    /// When the current window ends (epoch seconds).
    public var resetAt: Int64
    /// Seconds until a refused caller may try again (0 when admitted).
    public var retryAfter: Int64

    public init(admitted: Bool, limit: Int, remaining: Int, resetAt: Int64, retryAfter: Int64) {
        self.admitted = admitted
        self.limit = limit
        self.remaining = remaining
        self.resetAt = resetAt
        self.retryAfter = retryAfter
    }
}

/// Fixed-window request counters per face and credential, windows aligned to the epoch (a 60 s
/// window is the calendar minute). Memory is bounded by the credentials seen in the current window:
/// a face's counters are dropped whole when its window moves on.
final class RateLimiter: Sendable {
    private struct FaceWindow {
        var start: Int64 = .min
        var counts: [String: Int] = [:]
    }

    private let limits: [String: AuthConfig.RateLimit]
    private let windows = Mutex<[String: FaceWindow]>([:])

    init(limits: [String: AuthConfig.RateLimit]) { self.limits = limits }

    func admit(credential: String, face: String, now: Int64) -> RateDecision {
        let rule = limits[face] ?? limits["native"] ?? AuthConfig.RateLimit(limit: 0, window: 60)
        let start = now - ((now % rule.window) + rule.window) % rule.window
        let reset = start + rule.window
        guard rule.limit > 0 else { return RateDecision(admitted: true, limit: 0, remaining: 0, resetAt: reset, retryAfter: 0) }
        let used = windows.withLock { all -> Int in
            var w = all[face] ?? FaceWindow()
            if w.start != start {
                // A clock that steps back into an older window starts a fresh one too.
                w = FaceWindow(start: start)
            }
            let n = (w.counts[credential] ?? 0) + 1
            // Refused requests are not counted, so the counter never passes limit + 1.
            if n <= rule.limit { w.counts[credential] = n }
            all[face] = w
            return n
        }
        if used <= rule.limit {
            return RateDecision(admitted: true, limit: rule.limit, remaining: rule.limit - used, resetAt: reset, retryAfter: 0)
        }
        return RateDecision(admitted: false, limit: rule.limit, remaining: 0, resetAt: reset, retryAfter: max(1, reset - now))
    }
}
