import TallyCore

/// A resolution at which aggregates are kept; each is aligned to UTC.
public enum Tier: Int64, Sendable, CaseIterable, Comparable {
    case quarterHour = 900
    case hour = 3600
    case day = 86400

    public var seconds: Int64 { rawValue }
    public static func < (a: Tier, b: Tier) -> Bool { a.rawValue < b.rawValue }
}

/// A batch to commit atomically: all of it, or nothing.
public struct IngestBatch: Sendable {
    /// The events, in columns (what stores read; see `EventColumns`).
    public var columns: EventColumns
    /// A retry with the same key returns the first receipt and counts nothing again.
    public var idempotencyKey: String?
    /// A reader position (for example a log file offset) committed in the same transaction.
    public var checkpoint: Checkpoint?
    /// When the batch was received (epoch seconds): the dedup window is measured from it.
    public var receivedAt: Int64

    public init(columns: EventColumns, idempotencyKey: String? = nil, checkpoint: Checkpoint? = nil, receivedAt: Int64) {
        self.columns = columns
        self.idempotencyKey = idempotencyKey
        self.checkpoint = checkpoint
        self.receivedAt = receivedAt
    }

    public init(events: [UsageEvent], idempotencyKey: String? = nil, checkpoint: Checkpoint? = nil, receivedAt: Int64) {
        self.init(columns: EventColumns(events), idempotencyKey: idempotencyKey, checkpoint: checkpoint, receivedAt: receivedAt)
    }

    /// The number of events.
    public var count: Int { columns.count }

    /// The events one by one (built from `columns` on each call: prefer `columns` and `count`).
    public var events: [UsageEvent] { columns.events }
}

/// A durable position of a named reader.
public struct Checkpoint: Sendable, Equatable {
    public var reader: String
    public var position: String
    public init(reader: String, position: String) {
        self.reader = reader
        self.position = position
    }
}

/// What a backend reads: sums of one product's metrics over `[from, to)` at one tier,
/// grouped by tier bucket, optionally account, and some dimensions.
public struct StoreQuery: Sendable, Equatable {
    public var accounts: [String]
    public var product: String
    public var tier: Tier
    public var from: Int64
    public var to: Int64
    public var groupByAccount: Bool
    /// Indexes into the product's dimensions.
    public var groupBy: [Int]
    /// Dimension index → accepted values.
    public var filters: [Int: [String]]

    public init(accounts: [String], product: String, tier: Tier, from: Int64, to: Int64, groupByAccount: Bool = false, groupBy: [Int] = [], filters: [Int: [String]] = [:]) {
        self.accounts = accounts
        self.product = product
        self.tier = tier
        self.from = from
        self.to = to
        self.groupByAccount = groupByAccount
        self.groupBy = groupBy
        self.filters = filters
    }
}

/// One aggregate read back: the tier bucket's start, the groups and all metric sums (product order).
public struct StoreRow: Sendable, Equatable {
    public var bucket: Int64
    public var account: String?
    public var groups: [String]
    public var metrics: [Int64]

    public init(bucket: Int64, account: String? = nil, groups: [String], metrics: [Int64]) {
        self.bucket = bucket
        self.account = account
        self.groups = groups
        self.metrics = metrics
    }
}

/// Figures about a store for operations and metrics.
public struct StoreStats: Sendable, Equatable {
    public var bytesOnDisk: Int64
    /// Epoch seconds of the last commit (0 when nothing was ever committed).
    public var lastCommit: Int64
    public init(bytesOnDisk: Int64, lastCommit: Int64) {
        self.bytesOnDisk = bytesOnDisk
        self.lastCommit = lastCommit
    }
}

/// Storage errors a client may see described (never a backend's own message).
public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable { case overflow, unavailable, invalid, layout }
    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "\(code.rawValue): \(message)" }
}

/// Where exact usage aggregates live.
///
/// Every implementation keeps aggregates at every `Tier`, commits batches atomically with
/// their dedup keys, idempotency receipt and checkpoint, and passes `TallyStoreConformance`.
public protocol UsageStore: Sendable {
    /// Creates or migrates what the products need; idempotent.
    func prepare(products: ProductCatalog) async throws
    /// Commits a batch: all of it or nothing. Returns the stored receipt for a known idempotency key.
    func commit(_ batch: IngestBatch, dedupWindow: Int64) async throws -> IngestReceipt
    /// Sums at one tier; rows ordered by bucket, then account, then group values.
    func aggregate(_ query: StoreQuery) async throws -> [StoreRow]
    /// The last committed position of a reader.
    func checkpoint(reader: String) async throws -> String?
    func stats() async throws -> StoreStats
    func close() async throws
    /// Hints that about `events` events are about to be committed, so a store can size its
    /// in-memory state once instead of growing it batch by batch. Any number is safe.
    func expect(events: Int)
}

extension UsageStore {
    public func expect(events: Int) {}
}
