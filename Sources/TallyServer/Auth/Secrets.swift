import Crypto
import Foundation
import TallyCore
import _CryptoExtras

/// Hashing, generation and constant-time comparison of secrets (tokens, keys, passwords).
/// A secret in clear lives only in the request that carries it: tables hold digests.
public enum Secrets {
    /// Lower-case hex SHA-256 of a string's UTF-8 bytes.
    public static func sha256Hex(_ s: String) -> String { hex(SHA256.hash(data: Data(s.utf8))) }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in bytes { out += [digits[Int(b >> 4)], digits[Int(b & 15)]] }
        return String(decoding: out, as: UTF8.self)
    }

    static func bytes(hex: some StringProtocol) -> [UInt8]? {
        var out: [UInt8] = []
        var high: UInt8?
        for c in hex.utf8 {
            let v: UInt8
            switch c {
            case 48...57: v = c - 48
            case 97...102: v = c - 87
            case 65...70: v = c - 55
            default: return nil
            }
            if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
        }
        return high == nil ? out : nil
    }

    /// The digest of a configured or stored token or key: `sha256:<hex>` is already hashed.
    public static func digest(configured value: String) -> String {
        value.hasPrefix("sha256:") ? String(value.dropFirst(7)).lowercased() : sha256Hex(value)
    }

    /// The stored (hashed) form of a token or key: `sha256:<hex>`.
    public static func storedForm(_ value: String) -> String { "sha256:" + digest(configured: value) }

    /// The stable, non-secret name of a token or key: the first 12 hex digits of its digest.
    public static func credentialID(digest: String) -> String { String(digest.prefix(12)) }

    /// Compares two byte strings in time that depends only on their lengths.
    public static func constantTimeEqual(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for (x, y) in zip(a, b) { diff |= x ^ y }
        return diff == 0
    }

    /// A new random secret: `prefix` then 32 random bytes in base64url (256 bits).
    public static func generate(prefix: String) -> String {
        let key = SymmetricKey(size: .bits256)
        return prefix + key.withUnsafeBytes { Base64.encode($0, url: true) }
    }

    /// The slow, salted hash of a password, in the `pbkdf2-sha256$<rounds>$<salt>$<hash>` form.
    public static func hashPassword(_ password: String, rounds: Int = PasswordHashFormat.defaultRounds) -> String {
        let salt = SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) }
        return PasswordHashFormat(rounds: rounds, salt: salt, hash: pbkdf2(password, salt: salt, rounds: rounds)).text
    }

    static func pbkdf2(_ password: String, salt: [UInt8], rounds: Int) -> [UInt8] {
        // The rounds come from a validated PasswordHashFormat, so derivation cannot fail.
        let key = try! KDF.Insecure.PBKDF2.deriveKey(from: Array(password.utf8), salt: salt, using: .sha256, outputByteCount: 32, rounds: rounds)
        return key.withUnsafeBytes { Array($0) }
    }
}

/// How a password is checked: a slow salted hash, or (for a password the configuration gives
/// in clear, which is never stored) its SHA-256 kept in memory.
enum PasswordVerifier: Sendable {
    case pbkdf2(PasswordHashFormat)
    case sha256([UInt8])

    /// The form a directory keeps: a `pbkdf2-sha256$...` hash as given, a clear one as `sha256:<hex>`.
    static func normalized(configured: String) -> String {
        PasswordHashFormat(configured) != nil ? configured : "sha256:" + Secrets.sha256Hex(configured)
    }

    /// The verifier of a normalized password (see `normalized(configured:)`).
    init?(normalized: String?) {
        guard let normalized else { return nil }
        if let f = PasswordHashFormat(normalized) {
            self = .pbkdf2(f)
        } else if normalized.hasPrefix("sha256:"), let d = Secrets.bytes(hex: normalized.dropFirst(7)), d.count == 32 {
            self = .sha256(d)
        } else {
            return nil
        }
    }

    func verify(_ password: String) -> Bool {
        switch self {
        case .pbkdf2(let f): Secrets.constantTimeEqual(Secrets.pbkdf2(password, salt: f.salt, rounds: f.rounds), f.hash)
        case .sha256(let d): Secrets.constantTimeEqual(Array(SHA256.hash(data: Data(password.utf8))), d)
        }
    }

    /// A hash to spend the same time on when the username is unknown, so timing does not tell.
    static let decoy = PasswordVerifier.pbkdf2(PasswordHashFormat(rounds: PasswordHashFormat.defaultRounds, salt: Array(repeating: 7, count: 16), hash: Array(repeating: 0, count: 32)))
}
