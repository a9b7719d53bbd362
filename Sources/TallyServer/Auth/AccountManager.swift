import Foundation
import Logging
import TallyCore
import TallySQLite
import TallyStore

/// A refused account change: status, stable code and a message naming only what the admin sent.
public struct AccountChangeError: Error, Sendable, Equatable {
    public enum Kind: Sendable { case invalid, notFound, conflict }
    public var kind: Kind
    public var code: String
    public var message: String
    init(_ kind: Kind, _ code: String, _ message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }
}

/// Fields of an account an admin may set; nil leaves a field as it is (`.some(nil)` clears it).
public struct AccountChange: Sendable {
    public var name: String??
    public var hash: String??
    public var username: String??
    public var packageKey: String??
    /// The new parent's id; `.some(nil)` makes the account top-level (a move).
    public var parent: String??
    public var disabled: Bool?
    /// A new password in clear (hashed before it is kept); `.some(nil)` removes it.
    public var password: String??
    public var allowedIPs: [String]?
    public init() {}
}

/// Manages accounts at run time: applies each change to the store first, then swaps the
/// registry's snapshot, so a change is durable before anyone sees it and every face sees it at once.
///
/// The configuration is the bootstrap and wins for what it names: a field it sets cannot be
/// changed here (`configured`), its tokens and keys cannot be revoked here, and its tree cannot
/// be moved. Everything else (new accounts, extra credentials, disabling, unset fields) is kept
/// in the `AccountStore` as records and merged over the configuration at start.
public actor AccountManager {
    public nonisolated let registry: AccountRegistry
    let store: any AccountStore
    /// The configured accounts, secrets normalized, in configuration order.
    let configured: [Account]
    let configuredByID: [String: Account]
    var records: [String: AccountRecord]
    let logger: Logger
    let now: @Sendable () -> Int64
    /// The change running now; the next one waits for it (changes never interleave).
    private var tail: Task<Void, Never>?

    /// The smallest run-time password and given token or key, in bytes.
    public static let minimumPasswordBytes = 8
    public static let minimumSecretBytes = 16

    init(config: TallyConfig, store: any AccountStore, records: [AccountRecord], logger: Logger, now: @escaping @Sendable () -> Int64) {
        self.configured = config.accounts.accounts.map(AccountRegistry.normalized)
        self.configuredByID = Dictionary(configured.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        self.store = store
        self.records = Dictionary(records.map { ($0.account.id, $0) }, uniquingKeysWith: { _, b in b })
        self.logger = logger
        self.now = now
        let merged = AccountManager.merge(configured: configured, records: records, logger: logger)
        registry = AccountRegistry(normalized: merged.accounts, serviceTokens: config.ingest.tokens, sessionGenerations: merged.sessions)
    }

    /// Opens the store's records and merges them over the configuration.
    public static func open(config: TallyConfig, store: any AccountStore, logger: Logger, now: @escaping @Sendable () -> Int64) async throws -> AccountManager {
        AccountManager(config: config, store: store, records: try await store.accountRecords(), logger: logger, now: now)
    }

    // MARK: Merging

    /// The effective accounts: configured ones with their run-time additions, then run-time ones
    /// in creation order. Conflicts the configuration created since a record was written (an
    /// identifier now configured elsewhere, a parent gone) are dropped with a warning.
    static func merge(configured: [Account], records: [AccountRecord], logger: Logger) -> (accounts: [Account], sessions: [String: Int64]) {
        let byID = Dictionary(records.map { ($0.account.id, $0) }, uniquingKeysWith: { _, b in b })
        var out: [Account] = []
        var sessions: [String: Int64] = [:]
        var identifiers: [String: String] = [:]  // value → holder id
        var credentials = Set<String>()
        for c in configured {
            for v in [c.id, c.hash, c.username, c.packageKey].compactMap({ $0 }) { identifiers[v] = identifiers[v] ?? c.id }
            credentials.formUnion(c.tokens + c.apiKeys)
        }
        func keepIdentifier(_ v: String?, of id: String, _ field: String) -> String? {
            guard let v else { return nil }
            if let holder = identifiers[v], holder != id {
                logger.warning("dropping a run-time identifier now held by another account", metadata: ["account.id": "\(id)", "account.field": "\(field)"])
                return nil
            }
            identifiers[v] = id
            return v
        }
        func extraCredentials(_ list: [String], of id: String) -> [String] {
            list.filter { credentials.insert($0).inserted }
        }
        for c in configured {
            var a = c
            if let r = byID[c.id] {
                let x = r.account
                a.name = c.name ?? x.name
                a.hash = c.hash ?? keepIdentifier(x.hash, of: c.id, "hash")
                a.username = c.username ?? keepIdentifier(x.username, of: c.id, "username")
                a.packageKey = c.packageKey ?? keepIdentifier(x.packageKey, of: c.id, "package_key")
                a.password = c.password ?? x.password
                a.allowedIPs = c.allowedIPs.isEmpty ? x.allowedIPs : c.allowedIPs
                a.disabled = c.disabled || x.disabled
                a.tokens = c.tokens + extraCredentials(x.tokens, of: c.id)
                a.apiKeys = c.apiKeys + extraCredentials(x.apiKeys, of: c.id)
                sessions[c.id] = r.sessionGeneration
            }
            out.append(a)
        }
        var known = Set(out.map(\.id))
        let runtime = records.filter { !known.contains($0.account.id) }.sorted { ($0.createdAt, $0.account.id) < ($1.createdAt, $1.account.id) }
        for r in runtime {
            if let holder = identifiers[r.account.id], holder != r.account.id {
                logger.warning("skipping a run-time account whose id is now another account's identifier", metadata: ["account.id": "\(r.account.id)"])
                continue
            }
            var a = r.account
            identifiers[a.id] = a.id
            a.hash = keepIdentifier(a.hash, of: a.id, "hash")
            a.username = keepIdentifier(a.username, of: a.id, "username")
            a.packageKey = keepIdentifier(a.packageKey, of: a.id, "package_key")
            a.tokens = extraCredentials(a.tokens, of: a.id)
            a.apiKeys = extraCredentials(a.apiKeys, of: a.id)
            known.insert(a.id)
            out.append(a)
            sessions[a.id] = r.sessionGeneration
        }
        // Parents that no longer exist, or that would close a cycle, make an account top-level.
        let index = Dictionary(out.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { a, _ in a })
        for i in out.indices {
            guard let p = out[i].parentID else { continue }
            var seen: Set<String> = [out[i].id]
            var cur: String? = p
            while let c = cur, index[c] != nil, seen.insert(c).inserted { cur = out[index[c]!].parentID }
            if index[p] == nil || cur != nil {
                logger.warning("an account's parent is gone; it is now top-level", metadata: ["account.id": "\(out[i].id)"])
                out[i].parentID = nil
            }
        }
        return (out, sessions)
    }

    // MARK: Changes

    /// Runs one change at a time, in arrival order.
    private func serialized<T: Sendable>(_ change: @escaping @Sendable (isolated AccountManager) async throws -> T) async throws -> T {
        let previous = tail
        let task = Task { () async throws -> T in
            _ = await previous?.value
            return try await change(self)
        }
        tail = Task { _ = try? await task.value }
        return try await task.value
    }

    /// Writes `record`, then publishes the merged state.
    private func commit(_ record: AccountRecord) async throws {
        try await store.save(record)
        records[record.account.id] = record
        let merged = AccountManager.merge(configured: configured, records: Array(records.values), logger: logger)
        registry.replace(normalized: merged.accounts, sessionGenerations: merged.sessions)
    }

    /// The record of an existing account (a fresh, empty overlay for a configured one).
    private func record(for id: String) throws -> AccountRecord {
        if let r = records[id] { return r }
        guard let c = configuredByID[id] else { throw AccountChangeError(.notFound, "account_not_found", "no account \"\(id.prefix(128))\"") }
        return AccountRecord(account: Account(id: c.id, parentID: c.parentID), createdAt: now())
    }

    /// Creates an account under `parent` (or top-level) with the given fields.
    public func create(id: String, parent: String?, change: AccountChange) async throws -> Account {
        try await serialized { m in
            try AccountManager.checkIdentifier(id, "id")
            if m.registry.snapshot.directory.accounts.contains(where: { [$0.id, $0.hash, $0.username, $0.packageKey].contains(id) }) {
                throw AccountChangeError(.conflict, "duplicate", "id \"\(id)\" is already used by an account")
            }
            var r = AccountRecord(account: Account(id: id), createdAt: m.now())
            var c = change
            c.parent = .some(parent)
            try m.apply(c, to: &r, isNew: true)
            try await m.commit(r)
            return try m.current(id)
        }
    }

    /// Changes fields of an account (move, disable, identifiers, password, allowed IPs).
    public func update(id: String, change: AccountChange) async throws -> Account {
        try await serialized { m in
            var r = try m.record(for: id)
            try m.apply(change, to: &r, isNew: false)
            try await m.commit(r)
            return try m.current(id)
        }
    }

    /// The account as the registry now shows it.
    private func current(_ id: String) throws -> Account {
        guard let a = registry.snapshot.directory[id] else { throw AccountChangeError(.notFound, "account_not_found", "no account \"\(id.prefix(128))\"") }
        return a
    }

    /// Issues a token (`kind` token) or API key (`kind` apiKey): a random one, or `given`.
    /// Returns the secret (shown this once) and its non-secret id.
    public func issue(_ kind: CredentialKind, for id: String, given: String? = nil) async throws -> (id: String, secret: String) {
        try await serialized { m in
            var r = try m.record(for: id)
            let secret = given ?? Secrets.generate(prefix: kind == .token ? "tly_" : "tlk_")
            if given != nil {
                guard secret.utf8.count >= AccountManager.minimumSecretBytes, secret.utf8.count <= TallyRuntime.maxSecretBytes,
                      secret.unicodeScalars.allSatisfy({ $0.value > 32 && $0.value < 127 }) else {
                    throw AccountChangeError(.invalid, "invalid_secret", "a given \(kind.name) must be \(AccountManager.minimumSecretBytes) to \(TallyRuntime.maxSecretBytes) printable ASCII characters without spaces")
                }
            }
            let stored = Secrets.storedForm(secret)
            let s = m.registry.snapshot
            let digest = Secrets.digest(configured: stored)
            let inUse = s.tokens[digest] != nil || s.apiKeys[digest] != nil
                || s.directory.accounts.contains { $0.tokens.contains(stored) || $0.apiKeys.contains(stored) }
            if inUse { throw AccountChangeError(.conflict, "duplicate", "that \(kind.name) is already in use") }
            switch kind {
            case .token: r.account.tokens.append(stored)
            case .apiKey: r.account.apiKeys.append(stored)
            }
            try await m.commit(r)
            return (Secrets.credentialID(digest: digest), secret)
        }
    }

    /// Revokes a run-time token or key by its id (the first 12 hex digits of its digest).
    public func revoke(_ kind: CredentialKind, credential: String, of id: String) async throws {
        try await serialized { m in
            var r = try m.record(for: id)
            func matches(_ stored: String) -> Bool { Secrets.credentialID(digest: Secrets.digest(configured: stored)) == credential.lowercased() }
            if let c = m.configuredByID[id], (kind == .token ? c.tokens : c.apiKeys).contains(where: matches) {
                throw AccountChangeError(.conflict, "configured", "that \(kind.name) is set by the configuration; remove it there")
            }
            let before = kind == .token ? r.account.tokens : r.account.apiKeys
            let after = before.filter { !matches($0) }
            if after.count == before.count { throw AccountChangeError(.notFound, "credential_not_found", "account \"\(id)\" has no \(kind.name) \"\(credential.prefix(64))\"") }
            if kind == .token { r.account.tokens = after } else { r.account.apiKeys = after }
            try await m.commit(r)
        }
    }

    /// Validates and applies `change` to a record (a new account when `isNew`).
    private func apply(_ change: AccountChange, to r: inout AccountRecord, isNew: Bool) throws {
        let id = r.account.id
        let c = configuredByID[id]
        let s = registry.snapshot
        var problems: [String] = []
        func refuseConfigured(_ field: String, _ named: Bool) throws {
            if named { throw AccountChangeError(.conflict, "configured", "\(field) of \"\(id)\" is set by the configuration; change it there") }
        }
        func setIdentifier(_ value: String??, _ field: String, _ keyPath: WritableKeyPath<Account, String?>, configured: String?) throws {
            guard let value else { return }
            try refuseConfigured(field, configured != nil)
            if let v = value {
                try AccountManager.checkIdentifier(v, field)
                if s.directory.accounts.contains(where: { $0.id != id && [$0.id, $0.hash, $0.username, $0.packageKey].contains(v) }) {
                    throw AccountChangeError(.conflict, "duplicate", "\(field) \"\(v)\" is already used by another account")
                }
            }
            r.account[keyPath: keyPath] = value
        }
        try setIdentifier(change.hash, "hash", \.hash, configured: c?.hash)
        try setIdentifier(change.username, "username", \.username, configured: c?.username)
        try setIdentifier(change.packageKey, "package_key", \.packageKey, configured: c?.packageKey)
        if let name = change.name {
            try refuseConfigured("name", c?.name != nil)
            if let n = name, n.isEmpty || n.utf8.count > 256 { problems.append("name must be 1 to 256 bytes") }
            r.account.name = name
        }
        if let parent = change.parent {
            try refuseConfigured("parent", c != nil)
            if let p = parent {
                guard s.directory[p] != nil else { throw AccountChangeError(.notFound, "parent_not_found", "no account \"\(p.prefix(128))\" to be the parent") }
                if !isNew && s.directory.isWithin(p, subtreeOf: id) {
                    throw AccountChangeError(.conflict, "cycle", "\"\(p)\" is \"\(id)\" or below it")
                }
            }
            r.account.parentID = parent
        }
        if let disabled = change.disabled {
            try refuseConfigured("disabled", c?.disabled == true)
            if disabled && !r.account.disabled { r.sessionGeneration += 1 }
            r.account.disabled = disabled
        }
        if let ips = change.allowedIPs {
            try refuseConfigured("allowed_ips", !(c?.allowedIPs.isEmpty ?? true))
            var nets: [String] = []
            for ip in ips {
                if let n = IPNetwork(ip) { nets.append(n.description) } else { problems.append("allowed_ips: \"\(ip.prefix(64))\" is not an IPv4 or IPv6 address or CIDR block") }
            }
            if nets.count > 256 { problems.append("allowed_ips: at most 256 entries") }
            r.account.allowedIPs = nets
        }
        if let password = change.password {
            try refuseConfigured("password", c?.password != nil)
            if let p = password {
                if p.utf8.count < AccountManager.minimumPasswordBytes || p.utf8.count > 1024 {
                    problems.append("password must be \(AccountManager.minimumPasswordBytes) to 1024 bytes")
                } else {
                    r.account.password = Secrets.hashPassword(p)
                }
            } else {
                r.account.password = nil
            }
            r.sessionGeneration += 1
        }
        if !problems.isEmpty { throw AccountChangeError(.invalid, "invalid_account", problems.joined(separator: "; ")) }
    }

    /// Identifiers set at run time are URL-path safe: letters, digits and `. _ - @ :`, 1 to 128 bytes.
    static func checkIdentifier(_ v: String, _ field: String) throws {
        let ok = !v.isEmpty && v.utf8.count <= 128 && v.utf8.allSatisfy {
            ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || [46, 95, 45, 64, 58].contains($0)
        }
        if !ok { throw AccountChangeError(.invalid, "invalid_account", "\(field) must be 1 to 128 letters, digits or . _ - @ :") }
    }

    /// Which fields the configuration names for an account (empty for a run-time account).
    public nonisolated func configuredFields(_ id: String) -> [String] {
        guard let c = configuredByID[id] else { return [] }
        var f = ["id", "parent"]
        if c.name != nil { f.append("name") }
        if c.hash != nil { f.append("hash") }
        if c.username != nil { f.append("username") }
        if c.packageKey != nil { f.append("package_key") }
        if c.password != nil { f.append("password") }
        if !c.allowedIPs.isEmpty { f.append("allowed_ips") }
        if c.disabled { f.append("disabled") }
        return f
    }

    /// Whether a stored token or key comes from the configuration.
    public nonisolated func isConfigured(_ stored: String, of id: String) -> Bool {
        guard let c = configuredByID[id] else { return false }
        return c.tokens.contains(stored) || c.apiKeys.contains(stored)
    }
}

/// The kinds of secret credentials an admin issues.
public enum CredentialKind: Sendable {
    case token, apiKey
    var name: String { self == .token ? "token" : "API key" }
}

extension TallyRuntime {
    /// Opens the account store for the configured storage: the SQLite file itself for `sqlite`,
    /// memory for `memory`, and a SQLite file at `storage.accounts_path` for `clickhouse`.
    public static func openAccounts(_ config: TallyConfig, logger: Logger, now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) async throws -> AccountManager {
        let store: any AccountStore = switch config.storage.kind {
        case "memory": MemoryAccountStore()
        case "sqlite": try SQLiteAccountStore(path: config.storage.path, logger: logger)
        default: try SQLiteAccountStore(path: config.storage.accountsPath, logger: logger)
        }
        return try await AccountManager.open(config: config, store: store, logger: logger, now: now)
    }

    /// The account tree with run-time changes, for commands that work on the store directly.
    public static func accountDirectory(_ config: TallyConfig, logger: Logger) async throws -> AccountDirectory {
        try await openAccounts(config, logger: logger).registry.snapshot.directory
    }
}
