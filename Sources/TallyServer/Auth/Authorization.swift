import HTTPTypes
import Hummingbird
import NIOPosix
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

/// Why a credential was refused. Dialects answer both the way their vendor does; the reason is
/// for their answer only, never a hint about other accounts.
public enum CredentialFailure: Error, Sendable, Equatable {
    /// No such credential, or its account is disabled.
    case unknown
    /// A valid key used from an address outside its account's `allowed_ips`.
    case ipNotAllowed
}

/// The one authorization rule, shared by every face: a caller reads its own account and its
/// descendants, nothing else. Every dialect resolves identifiers only through these functions.
extension TallyRuntime {
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    /// The longest secret looked at; longer ones are refused before hashing.
    static let maxSecretBytes = 512

    /// The bearer token of a request, if any (`Authorization: Bearer <token>`, scheme in any case).
    static func bearer(_ request: Request) -> String? {
        guard let h = request.headers[.authorization] else { return nil }
        let parts = h.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return String(parts[1]).trimmingCharacters(in: .whitespaces)
    }

    /// The principal of a bearer-token request, or nil when the token is missing or unknown.
    func principal(_ request: Request) -> Principal? {
        guard let token = TallyRuntime.bearer(request) else { return nil }
        if let p = tokenPrincipal(token, registry.snapshot) { return p }
        return jwtCaller(token).map { .account($0.account) }
    }

    /// The account caller of a bearer-token request: an account token, or a JWT from `login`.
    /// Service tokens read nothing, so they are nil here.
    func bearerCaller(_ request: Request) -> Caller? {
        guard let token = TallyRuntime.bearer(request) else { return nil }
        switch tokenPrincipal(token, registry.snapshot) {
        case .account(let id)?: return Caller(account: id, credential: "token:" + Secrets.credentialID(digest: Secrets.sha256Hex(token)))
        case .service?: return nil
        case nil: return jwtCaller(token)
        }
    }

    private func tokenPrincipal(_ token: String, _ s: AccountRegistry.Snapshot) -> Principal? {
        guard !token.isEmpty, token.utf8.count <= TallyRuntime.maxSecretBytes else { return nil }
        // A presented token is always hashed, even one spelled `sha256:...`; the table holds digests,
        // so a lookup compares digests, never secrets.
        return s.tokens[Secrets.sha256Hex(token)]
    }

    /// The caller of a JWT this server signed for an active account whose sessions it has not ended.
    private func jwtCaller(_ token: String) -> Caller? {
        guard token.utf8.count > 20, token.utf8.lazy.filter({ $0 == 46 }).count == 2,
              let claims = JWT.verify(token, keys: jwtKeys.keys(), now: now()) else { return nil }
        let s = registry.snapshot
        guard s.isActive(claims.subject), s.passwords[claims.subject] != nil,
              claims.generation == (s.sessionGenerations[claims.subject] ?? 0) else { return nil }
        return Caller(account: claims.subject, credential: "login:" + claims.subject)
    }

    /// The caller of an API key (Proxy-Seller's key in the path), checked against its account's
    /// `allowed_ips` with the client address of `clientAddress(_:context:)`.
    public func apiKeyCaller(_ key: String, request: Request, context: TallyContext) -> Result<Caller, CredentialFailure> {
        guard !key.isEmpty, key.utf8.count <= TallyRuntime.maxSecretBytes else { return .failure(.unknown) }
        let s = registry.snapshot
        let digest = Secrets.sha256Hex(key)
        guard let id = s.apiKeys[digest] else { return .failure(.unknown) }
        if let nets = s.networks[id] {
            guard let client = clientAddress(request, context: context), nets.contains(where: { $0.contains(client) }) else {
                return .failure(.ipNotAllowed)
            }
        }
        return .success(Caller(account: id, credential: "key:" + Secrets.credentialID(digest: digest)))
    }

    /// The client's address: the peer, or, when the peer is one of `auth.trusted_proxies`, the
    /// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
    public func clientAddress(_ request: Request, context: TallyContext) -> IPAddress? {
        guard let peerText = context.remoteAddress?.ipAddress, let peer = IPAddress(peerText) else { return nil }
        let trusted = config.auth.trustedProxies
        func isTrusted(_ a: IPAddress) -> Bool { trusted.contains { $0.contains(a) } }
        guard isTrusted(peer) else { return peer }
        let hops = request.headers[values: TallyRuntime.forwardedFor].flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
        var client = peer
        for hop in hops.reversed() {
            // An entry that is not an address ends the walk: nothing before it can be believed.
            guard let a = IPAddress(hop) else { return nil }
            client = a
            if !isTrusted(a) { break }
        }
        return client
    }

    /// A 24-hour HS256 JWT for an active account's username and password, nil for anything else.
    /// `bearerCaller` accepts the token until it expires, its signing key is removed, the account
    /// is disabled or its password changes.
    public func login(username: String, password: String) async -> String? {
        guard !username.isEmpty, username.utf8.count <= 256, password.utf8.count <= 1024 else { return nil }
        let s = registry.snapshot
        let account = s.directory.account(username: username).flatMap { s.isActive($0.id) ? $0 : nil }
        let verifier = account.flatMap { s.passwords[$0.id] }
        // One slow hash is computed whatever the user (unknown, or with a password configured in
        // clear), so timing does not tell them apart.
        let ok = await Self.offload { () -> Bool in
            if case .pbkdf2(let f)? = verifier { return PasswordVerifier.pbkdf2(f).verify(password) }
            _ = PasswordVerifier.decoy.verify(password)
            return verifier?.verify(password) ?? false
        }
        guard ok, let account, verifier != nil, let key = jwtKeys.keys().first else { return nil }
        return JWT.sign(subject: account.id, generation: s.sessionGenerations[account.id] ?? 0, issuedAt: now(), key: key)
    }

    /// Rate limit of a caller on a face (`native`, `iproyal`, `proxy_seller`, `goproxies`, `telnyx`,
    /// `openmeter`): call right after authentication, before any store work.
    public func admit(_ caller: Caller, face: String) -> RateDecision {
        rateLimiter.admit(credential: caller.credential, face: face, now: now())
    }

    /// Runs slow CPU work (a password hash) on NIO's blocking thread pool, so a burst of logins
    /// queues there instead of stalling the threads every request runs on.
    static func offload<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        if let v = try? await NIOThreadPool.singleton.runIfActive(work) { return v }
        return work()
    }

    /// The non-secret id of an admin token from `auth.admin_tokens`, nil for any other string.
    func adminCredential(_ token: String) -> String? {
        guard !token.isEmpty, token.utf8.count <= TallyRuntime.maxSecretBytes else { return nil }
        let presented = Array(Secrets.sha256Hex(token).utf8)
        var match: String?
        // Every admin token is compared, in constant time, so timing tells nothing.
        for t in config.auth.adminTokens {
            let digest = Secrets.digest(configured: t)
            if Secrets.constantTimeEqual(presented, Array(digest.utf8)) { match = Secrets.credentialID(digest: digest) }
        }
        return match
    }

    /// The account tree as it is now (accounts change at run time: read this, not `config.accounts`).
    public var directory: AccountDirectory { registry.snapshot.directory }

    /// Resolves an account identifier (of one kind, or id/username/hash) within the caller's
    /// subtree. Unknown, foreign and disabled identifiers are indistinguishable (nil for all).
    public func account(_ identifier: String, as kind: IdentifierKind = .any, within root: String) -> Account? {
        let s = registry.snapshot
        guard let a = s.directory.resolve(identifier, as: kind), s.isActive(a.id), s.isActive(root),
              s.directory.isWithin(a.id, subtreeOf: root) else { return nil }
        return a
    }
}
