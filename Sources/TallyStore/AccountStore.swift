import Synchronization
import TallyCore

/// One account as changed at run time (created, moved, disabled, credentials issued...).
///
/// Secrets are only ever in hashed form: tokens and API keys as `sha256:<hex>`, the password
/// as `pbkdf2-sha256$<rounds>$<salt>$<hash>`. For an account the configuration also names, the
/// record holds only what was added at run time (its tokens and keys are the extra ones).
public struct AccountRecord: Sendable, Equatable {
    public var account: Account
    /// Counts password changes and disables; a login token (JWT) carries the count it was issued
    /// under and is refused once it moved on, so both end every session.
    public var sessionGeneration: Int64
    /// When the record was first written (epoch s); run-time accounts are listed in this order.
    public var createdAt: Int64

    public init(account: Account, sessionGeneration: Int64 = 0, createdAt: Int64) {
        self.account = account
        self.sessionGeneration = sessionGeneration
        self.createdAt = createdAt
    }
}

/// Where run-time account changes persist, so they survive restarts.
public protocol AccountStore: Sendable {
    /// Every record, in creation order.
    func accountRecords() async throws -> [AccountRecord]
    /// Writes a record (replacing the one with the same account id), durably, before returning.
    func save(_ record: AccountRecord) async throws
}

/// An `AccountStore` in memory: for `storage.kind: memory` and tests (nothing survives a restart).
public final class MemoryAccountStore: AccountStore {
    private let records = Mutex<[AccountRecord]>([])

    public init() {}

    public func accountRecords() async throws -> [AccountRecord] { records.withLock { $0 } }

    public func save(_ record: AccountRecord) async throws {
        records.withLock { all in
            if let i = all.firstIndex(where: { $0.account.id == record.account.id }) { all[i] = record } else { all.append(record) }
        }
    }
}
