import Foundation

/// The `auth:` section: admin token, JWT signing keys, trusted proxies and rate limits.
public struct AuthConfig: Sendable {
    /// One rate limit: at most `limit` requests per credential in each fixed window of `window`
    /// seconds aligned to the epoch (a `1m` window is the calendar minute).
    public struct RateLimit: Sendable, Equatable {
        public var limit: Int
        public var window: Int64
        public init(limit: Int, window: Int64) {
            self.limit = limit
            self.window = window
        }
    }

    /// The faces a rate limit can be set for (the `face` argument of `TallyRuntime.admit`).
    public static let faces = ["native", "iproyal", "proxy_seller", "goproxies", "telnyx", "openmeter", "admin"]

    /// Proxy-Seller's documented 1000 requests per calendar minute per key; every other face
    /// allows 6000 a minute per credential unless configured.
    public static let defaultRateLimits: [String: RateLimit] = Dictionary(uniqueKeysWithValues: faces.map {
        ($0, $0 == "proxy_seller" ? RateLimit(limit: 1000, window: 60) : RateLimit(limit: 6000, window: 60))
    })

    /// `auth.admin_tokens` (or env `TALLY_ADMIN_TOKEN`): bearer tokens of the `/v1/admin` API,
    /// in clear or as `sha256:<hex>`. None: the admin API answers 401 to everyone.
    public var adminTokens: [String] = []
    /// `auth.jwt_keys` (or env `TALLY_JWT_KEYS`, comma-separated): HS256 keys of at least 32 bytes;
    /// the first signs, all verify. None and no file: a random key per process (logins end at restart).
    public var jwtKeys: [String] = []
    /// `auth.jwt_keys_file`: a file of keys, one a line, the first signing; re-read when it changes,
    /// so keys rotate without a restart. Its keys come before `jwt_keys`.
    public var jwtKeysFile: String?
    /// `auth.trusted_proxies`: CIDR blocks whose `X-Forwarded-For` is believed (default none).
    public var trustedProxies: [IPNetwork] = []
    /// `auth.rate_limits.<face>: { limit, window }`: per credential; `limit: 0` turns a face's limit off.
    public var rateLimits: [String: RateLimit] = AuthConfig.defaultRateLimits

    public init() {}

    /// The smallest JWT signing key, in bytes (HS256 wants at least the hash size).
    public static let minimumKeyBytes = 32

    /// Whether a configured secret is a well-formed `sha256:<64 hex>` digest, or clear text.
    static func checkDigestSyntax(_ value: String, _ path: String, _ r: ConfigReader) {
        guard value.hasPrefix("sha256:") else { return }
        let hex = value.dropFirst(7)
        if hex.count != 64 || !hex.allSatisfy(\.isHexDigit) { r.fail(path, "sha256: must be followed by 64 hex digits") }
    }

    /// Whether a configured password is clear text, or a well-formed `pbkdf2-sha256$<rounds>$<salt>$<hash>`.
    static func checkPasswordSyntax(_ value: String, _ path: String, _ r: ConfigReader) {
        guard value.hasPrefix("pbkdf2-sha256$") else { return }
        if PasswordHashFormat(value) == nil {
            r.fail(path, "expected pbkdf2-sha256$<rounds 210000...10000000>$<base64 salt>$<base64 32-byte hash>")
        }
    }

    static func load(_ node: ConfigNode?, accounts: ConfigNode?, environment: [String: String], _ r: ConfigReader) -> AuthConfig {
        var auth = AuthConfig()
        r.checkKeys(node, "auth", known: ["admin_tokens", "jwt_keys", "jwt_keys_file", "trusted_proxies", "rate_limits"])
        auth.adminTokens = r.strings(node?["admin_tokens"], "auth.admin_tokens")
        if node?["admin_tokens"] == nil, let t = environment["TALLY_ADMIN_TOKEN"], !t.isEmpty { auth.adminTokens = [t] }
        for (i, t) in auth.adminTokens.enumerated() {
            if t.isEmpty { r.fail("auth.admin_tokens[\(i)]", "must not be empty") }
            checkDigestSyntax(t, "auth.admin_tokens[\(i)]", r)
        }
        auth.jwtKeys = r.strings(node?["jwt_keys"], "auth.jwt_keys")
        if node?["jwt_keys"] == nil, let k = environment["TALLY_JWT_KEYS"] {
            auth.jwtKeys = k.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        for (i, k) in auth.jwtKeys.enumerated() where k.utf8.count < minimumKeyBytes {
            // The length only: a key is a secret and never appears in an error.
            r.fail("auth.jwt_keys[\(i)]", "a signing key needs at least \(minimumKeyBytes) bytes, this one has \(k.utf8.count)")
        }
        auth.jwtKeysFile = r.string(node?["jwt_keys_file"], "auth.jwt_keys_file")
        for (i, t) in r.strings(node?["trusted_proxies"], "auth.trusted_proxies").enumerated() {
            if let n = IPNetwork(t) { auth.trustedProxies.append(n) } else { r.fail("auth.trusted_proxies[\(i)]", "expected an IPv4 or IPv6 address or CIDR block, got \"\(t.prefix(64))\"") }
        }
        for (face, limitNode) in r.map(node?["rate_limits"], "auth.rate_limits") {
            let p = "auth.rate_limits.\(face)"
            guard faces.contains(face) else {
                r.fail(p, "unknown face (expected one of: \(faces.joined(separator: ", ")))")
                continue
            }
            r.checkKeys(limitNode, p, known: ["limit", "window"])
            var limit = auth.rateLimits[face]!
            if let l = r.int(limitNode["limit"], "\(p).limit", range: 0...1_000_000_000) { limit.limit = l }
            if let w = r.duration(limitNode["window"], "\(p).window") {
                if (1...86400).contains(w) { limit.window = w } else { r.fail("\(p).window", "expected a window from 1s to 1d") }
            }
            auth.rateLimits[face] = limit
        }
        checkAccountSecrets(accounts, r)
        return auth
    }

    /// Checks the secrets and IP lists of every account node (the tree itself is read by `loadAccounts`).
    static func checkAccountSecrets(_ node: ConfigNode?, _ r: ConfigReader) {
        func visit(_ node: ConfigNode, _ path: String) {
            guard case .map = node else { return }
            for key in ["tokens", "api_keys"] {
                for (i, t) in r.stringsQuietly(node[key]).enumerated() {
                    if t.isEmpty { r.fail("\(path).\(key)[\(i)]", "must not be empty") }
                    checkDigestSyntax(t, "\(path).\(key)[\(i)]", r)
                }
            }
            if let pw = r.stringsQuietly(node["password"]).first, case .scalar? = node["password"] {
                if pw.isEmpty { r.fail("\(path).password", "must not be empty") }
                checkPasswordSyntax(pw, "\(path).password", r)
            }
            for (i, ip) in r.stringsQuietly(node["allowed_ips"]).enumerated() where IPNetwork(ip) == nil {
                r.fail("\(path).allowed_ips[\(i)]", "expected an IPv4 or IPv6 address or CIDR block, got \"\(ip.prefix(64))\"")
            }
            if case .list(let children)? = node["children"] {
                for (i, c) in children.enumerated() { visit(c, "\(path).children[\(i)]") }
            }
        }
        if case .list(let items)? = node {
            for (i, n) in items.enumerated() { visit(n, "accounts[\(i)]") }
        }
    }
}

/// The parts of a `pbkdf2-sha256$<rounds>$<salt>$<hash>` password hash (salt and hash in base64).
public struct PasswordHashFormat: Sendable, Equatable {
    public static let prefix = "pbkdf2-sha256"
    /// The rounds new hashes use: swift-crypto's floor for PBKDF2. OWASP asks 600,000 for
    /// SHA-256, which costs over a second per login on a loaded 2-core machine; a hash carries its
    /// rounds, so a configured hash may use more.
    public static let defaultRounds = 210_000
    public static let roundsRange = 210_000...10_000_000
    public var rounds: Int
    public var salt: [UInt8]
    public var hash: [UInt8]

    public init(rounds: Int, salt: [UInt8], hash: [UInt8]) {
        self.rounds = rounds
        self.salt = salt
        self.hash = hash
    }

    public init?(_ text: String) {
        let parts = text.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == PasswordHashFormat.prefix, parts[1].count <= 8, let rounds = Int(parts[1]),
              PasswordHashFormat.roundsRange.contains(rounds),
              let salt = Base64.decode(parts[2]), (8...64).contains(salt.count),
              let hash = Base64.decode(parts[3]), hash.count == 32 else { return nil }
        self.init(rounds: rounds, salt: salt, hash: hash)
    }

    public var text: String { "\(PasswordHashFormat.prefix)$\(rounds)$\(Base64.encode(salt))$\(Base64.encode(hash))" }
}

/// Standard base64 (with or without padding) and base64url, with no Foundation dependency.
public enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    static let urlAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    public static func encode(_ bytes: some Collection<UInt8>, url: Bool = false) -> String {
        let table = url ? urlAlphabet : alphabet
        let b = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity((b.count + 2) / 3 * 4)
        var i = 0
        while i < b.count {
            let n = Int(b[i]) << 16 | (i + 1 < b.count ? Int(b[i + 1]) << 8 : 0) | (i + 2 < b.count ? Int(b[i + 2]) : 0)
            out.append(table[n >> 18 & 63])
            out.append(table[n >> 12 & 63])
            if i + 1 < b.count { out.append(table[n >> 6 & 63]) } else if !url { out.append(61) }
            if i + 2 < b.count { out.append(table[n & 63]) } else if !url { out.append(61) }
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes either alphabet, padded or not; nil for anything else.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        var bits = 0
        var acc = 0
        var out: [UInt8] = []
        var padding = 0
        for c in text.utf8 {
            let v: Int
            switch c {
            case 65...90: v = Int(c) - 65
            case 97...122: v = Int(c) - 71
            case 48...57: v = Int(c) + 4
            case 43, 45: v = 62
            case 47, 95: v = 63
            case 61:
                padding += 1
                continue
            default: return nil
            }
            if padding > 0 { return nil }
            acc = (acc << 6 | v) & 0xFFFFFF
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> bits))
            }
        }
        if bits >= 6 || padding > 2 || (acc & ((1 << bits) - 1)) != 0 { return nil }
        return out
    }
}

extension ConfigReader {
    /// The strings of a list or scalar, without reporting anything (its owner reports shape problems).
    func stringsQuietly(_ node: ConfigNode?) -> [String] {
        let quiet = ConfigReader(environment: environment)
        switch node {
        case .scalar(let s)?: return [quiet.expand(s, "")]
        case .list(let items)?: return items.compactMap { if case .scalar(let s) = $0 { quiet.expand(s, "") } else { nil } }
        default: return []
        }
    }
}
