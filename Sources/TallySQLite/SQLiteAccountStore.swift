import CSQLite
import Dispatch
import Foundation
import Logging
import TallyCore
import TallyStore

/// The SQLite `AccountStore`: run-time account changes in their own tables, in the usage
/// database file itself when storage is SQLite (one file to back up), through its own connection.
public final class SQLiteAccountStore: AccountStore, @unchecked Sendable {
    public let path: String
    let logger: Logger
    private let queue = DispatchQueue(label: "tally.sqlite.accounts")
    private let connection: Connection  // only touched on queue

    static let schema = """
    CREATE TABLE IF NOT EXISTS account_records(
      id TEXT PRIMARY KEY, parent TEXT, name TEXT, hash TEXT, username TEXT, package_key TEXT, password TEXT,
      allowed_ips TEXT NOT NULL, disabled INTEGER NOT NULL, session_generation INTEGER NOT NULL, created_at INTEGER NOT NULL) WITHOUT ROWID, STRICT;
    CREATE TABLE IF NOT EXISTS account_credentials(
      account TEXT NOT NULL, kind TEXT NOT NULL, digest TEXT NOT NULL, position INTEGER NOT NULL,
      PRIMARY KEY(account, kind, digest)) WITHOUT ROWID, STRICT;
    """

    /// Opens (creating when missing) the account tables in the database at `path`.
    public init(path: String, logger: Logger) throws {
        self.path = path
        self.logger = logger
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        connection = try Connection(path: path, readOnly: false)
        try connection.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
        try connection.execute(SQLiteAccountStore.schema)
    }

    private func onQueue<T: Sendable>(_ work: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { c in
            queue.async {
                do {
                    c.resume(returning: try work(self.connection))
                } catch {
                    self.logger.error("account store failed", metadata: ["error": "\(error)"])
                    c.resume(throwing: StoreError(.unavailable, "the account store is unavailable"))
                }
            }
        }
    }

    public func accountRecords() async throws -> [AccountRecord] {
        try await onQueue { db in
            var credentials: [String: (tokens: [String], keys: [String])] = [:]
            let c = try db.prepare("SELECT account, kind, digest FROM account_credentials ORDER BY account, kind, position")
            while try c.step() {
                let digest = "sha256:" + c.text(2)
                if c.text(1) == "token" { credentials[c.text(0), default: ([], [])].tokens.append(digest) } else { credentials[c.text(0), default: ([], [])].keys.append(digest) }
            }
            var out: [AccountRecord] = []
            let s = try db.prepare("SELECT id, parent, name, hash, username, package_key, password, allowed_ips, disabled, session_generation, created_at FROM account_records ORDER BY created_at, id")
            while try s.step() {
                func optional(_ col: Int32) -> String? { s.isNull(col) ? nil : s.text(col) }
                let id = s.text(0)
                let ips = s.text(7)
                let account = Account(id: id, name: optional(2), hash: optional(3), username: optional(4), packageKey: optional(5),
                                      tokens: credentials[id]?.tokens ?? [], apiKeys: credentials[id]?.keys ?? [], password: optional(6),
                                      allowedIPs: ips.isEmpty ? [] : ips.split(separator: ",").map(String.init), parentID: optional(1), disabled: s.int(8) != 0)
                out.append(AccountRecord(account: account, sessionGeneration: s.int(9), createdAt: s.int(10)))
            }
            return out
        }
    }

    public func save(_ record: AccountRecord) async throws {
        try await onQueue { db in
            try db.execute("BEGIN IMMEDIATE")
            do {
                let a = record.account
                let s = try db.prepare("""
                    INSERT INTO account_records(id, parent, name, hash, username, package_key, password, allowed_ips, disabled, session_generation, created_at)
                    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                    ON CONFLICT(id) DO UPDATE SET parent = ?2, name = ?3, hash = ?4, username = ?5, package_key = ?6, password = ?7,
                      allowed_ips = ?8, disabled = ?9, session_generation = ?10
                    """)
                s.bind(1, a.id)
                for (i, v) in [a.parentID, a.name, a.hash, a.username, a.packageKey, a.password].enumerated() {
                    if let v { s.bind(Int32(i + 2), v) } else { s.bindNull(Int32(i + 2)) }
                }
                s.bind(8, a.allowedIPs.joined(separator: ","))
                s.bind(9, a.disabled ? 1 : 0)
                s.bind(10, record.sessionGeneration)
                s.bind(11, record.createdAt)
                try s.run()
                let d = try db.prepare("DELETE FROM account_credentials WHERE account = ?1")
                d.bind(1, a.id)
                try d.run()
                let ins = try db.prepare("INSERT INTO account_credentials(account, kind, digest, position) VALUES (?1, ?2, ?3, ?4)")
                for (kind, list) in [("token", a.tokens), ("api_key", a.apiKeys)] {
                    for (i, t) in list.enumerated() {
                        ins.reset()
                        ins.bind(1, a.id)
                        ins.bind(2, kind)
                        // Only digests are ever written: a clear value is refused, never stored.
                        guard t.hasPrefix("sha256:") else { throw StoreError(.invalid, "account credentials are saved as sha256:<hex> digests only") }
                        ins.bind(3, String(t.dropFirst(7)))
                        ins.bind(4, Int64(i))
                        try ins.run()
                    }
                }
                try db.execute("COMMIT")
            } catch {
                try? db.execute("ROLLBACK")
                throw error
            }
        }
    }
}

extension Statement {
    func bindNull(_ i: Int32) { sqlite3_bind_null(pointer, i) }
}
