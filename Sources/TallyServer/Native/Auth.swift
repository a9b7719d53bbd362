import Hummingbird
import TallyCore

extension TallyRuntime {
    /// The bearer token of a request, if any (`Authorization: Bearer <token>`, scheme in any case).
    static func bearer(_ request: Request) -> String? {
        guard let h = request.headers[.authorization] else { return nil }
        let parts = h.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return String(parts[1]).trimmingCharacters(in: .whitespaces)
    }

    /// The principal of a bearer-token request, or nil when the token is missing or unknown.
    func principal(_ request: Request) -> Principal? {
        TallyRuntime.bearer(request).flatMap { tokens.principal(bearer: $0) }
    }

    /// Resolves an account identifier (id, username or hash) within the caller's subtree.
    /// Unknown and foreign identifiers are indistinguishable (nil for both).
    func account(_ identifier: String, within root: String) -> Account? {
        guard let a = config.accounts.resolve(identifier), config.accounts.isWithin(a.id, subtreeOf: root) else { return nil }
        return a
    }
}
