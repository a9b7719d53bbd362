import Hummingbird
import TallyCore

/// A verified caller: the account it acts for, and a stable non-secret name of the credential
/// it used (the rate-limit key and the log field; never the secret itself).
public struct Caller: Sendable, Equatable {
    public let account: String
    public let credential: String
    public init(account: String, credential: String) {
        self.account = account
        self.credential = credential
    }
}

/// The one authorization rule, shared by every face: a caller reads its own account and its
/// descendants, nothing else. Every dialect resolves identifiers only through these functions.
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

    /// The account caller of a bearer-token request (service tokens read nothing, so they are nil here).
    func bearerCaller(_ request: Request) -> Caller? {
        guard let token = TallyRuntime.bearer(request), case .account(let id) = tokens.principal(bearer: token) else { return nil }
        return Caller(account: id, credential: "token:" + String(TokenTable.sha256Hex(token).prefix(12)))
    }

    /// The account tree as it is now.
    var directory: AccountDirectory { config.accounts }

    /// Resolves an account identifier (of one kind, or id/username/hash) within the caller's
    /// subtree. Unknown, foreign and disabled identifiers are indistinguishable (nil for all).
    func account(_ identifier: String, as kind: IdentifierKind = .any, within root: String) -> Account? {
        let d = directory
        guard let a = d.resolve(identifier, as: kind), !a.disabled, d.isWithin(a.id, subtreeOf: root) else { return nil }
        return a
    }
}
