import Crypto
import Foundation
import Logging
import Synchronization
import TallyCore

/// HS256 JSON Web Tokens (RFC 7519) as the login endpoints issue them: `sub` is the account id.
enum JWT {
    /// A login lasts 24 hours.
    static let lifetime: Int64 = 86400
    /// Longer strings are not tokens of ours; refuse them before any work.
    static let maxLength = 4096
    /// Clock skew tolerated on `iat` (a token from a server a little ahead).
    static let skew: Int64 = 60
    static let header = Base64.encode(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8), url: true)

    /// `gen` is the account's session generation: a password change or disable moves it on.
    static func sign(subject: String, generation: Int64, issuedAt: Int64, key: SymmetricKey) -> String {
        let claims = #"{"iss":"tally","sub":"# + JSONValue.quote(subject) + #","gen":\#(generation),"iat":\#(issuedAt),"exp":\#(issuedAt + lifetime)}"#
        let input = header + "." + Base64.encode(Array(claims.utf8), url: true)
        let mac = HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: key)
        return input + "." + Base64.encode(Array(mac), url: true)
    }

    /// The subject and session generation of a token signed by one of `keys`, unexpired at `now`; nil otherwise.
    static func verify(_ token: String, keys: [SymmetricKey], now: Int64) -> (subject: String, generation: Int64)? {
        guard token.utf8.count <= maxLength else { return nil }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let mac = Base64.decode(parts[2]), mac.count == 32 else { return nil }
        let input = Array(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        // Every key is tried (no early exit), so timing does not tell which one matched.
        var valid = false
        for k in keys where HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: input, using: k) { valid = true }
        guard valid,
              let headerBytes = Base64.decode(parts[0]), let header = try? JSONParser.parse(String(decoding: headerBytes, as: UTF8.self)),
              header["alg"] == .string("HS256"),
              let claimBytes = Base64.decode(parts[1]), let claims = try? JSONParser.parse(String(decoding: claimBytes, as: UTF8.self)),
              case .string(let sub)? = claims["sub"], case .number(let iatText)? = claims["iat"], case .number(let expText)? = claims["exp"],
              case .number(let genText)? = claims["gen"], let gen = Int64(genText),
              let iat = Int64(iatText), let exp = Int64(expText),
              now < exp, iat <= now + skew else { return nil }
        return (sub, gen)
    }
}

/// The HS256 keys: `auth.jwt_keys`, plus `auth.jwt_keys_file` re-read whenever it changes, so keys
/// rotate without a restart (add the new key first; remove the old one once its tokens may die).
final class JWTKeyRing: Sendable {
    private struct FileState {
        var stamp: (Date?, Int)?
        var keys: [[UInt8]] = []
    }

    private let configured: [[UInt8]]
    private let file: String?
    private let ephemeral: [UInt8]?
    private let state = Mutex(FileState())
    private let logger: Logger

    init(config: AuthConfig, logger: Logger) {
        configured = config.jwtKeys.map { Array($0.utf8) }
        file = config.jwtKeysFile
        self.logger = logger
        if configured.isEmpty && file == nil {
            logger.notice("no auth.jwt_keys: login tokens are signed with a random key and end when the server stops")
            ephemeral = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        } else {
            ephemeral = nil
        }
        _ = keys()
    }

    /// The keys in order: the first signs, every one verifies.
    func keys() -> [SymmetricKey] { rawKeys().map { SymmetricKey(data: $0) } }

    private func rawKeys() -> [[UInt8]] {
        guard let file else { return configured + (ephemeral.map { [$0] } ?? []) }
        let attrs = try? FileManager.default.attributesOfItem(atPath: file)
        let stamp = (attrs?[.modificationDate] as? Date, (attrs?[.size] as? NSNumber)?.intValue ?? -1)
        return state.withLock { s in
            if let old = s.stamp, old.0 == stamp.0, old.1 == stamp.1 { return s.keys + configured }
            s.stamp = stamp
            guard let data = FileManager.default.contents(atPath: file) else {
                logger.error("cannot read auth.jwt_keys_file; keeping the keys read before", metadata: ["auth.file": "\(file)"])
                return s.keys + configured
            }
            let lines = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
            if let short = lines.firstIndex(where: { $0.utf8.count < AuthConfig.minimumKeyBytes }) {
                logger.error("auth.jwt_keys_file has a key shorter than \(AuthConfig.minimumKeyBytes) bytes; keeping the keys read before",
                             metadata: ["auth.file": "\(file)", "auth.line": "\(short + 1)"])
                return s.keys + configured
            }
            s.keys = lines.map { Array($0.utf8) }
            logger.info("read JWT signing keys", metadata: ["auth.file": "\(file)", "auth.keys": "\(s.keys.count)"])
            return s.keys + configured
        }
    }
}
