/// One validated usage event: its account resolved to an id, its dimensions and metrics in
/// the product's declared order, metric values in their smallest exact unit.
public struct UsageEvent: Sendable, Equatable {
    public var id: String?
    public var source: String?
    /// Epoch seconds (UTC).
    public var time: Int64
    public var account: String
    public var product: String
    public var dimensions: [String]
    public var metrics: [Int64]

    public init(id: String? = nil, source: String? = nil, time: Int64, account: String, product: String, dimensions: [String], metrics: [Int64]) {
        self.id = id
        self.source = source
        self.time = time
        self.account = account
        self.product = product
        self.dimensions = dimensions
        self.metrics = metrics
    }

    /// The key deduplication uses, nil when the event carries no id.
    public var dedupKey: String? { id.map { (source ?? "") + "\u{1F}" + $0 } }
}

/// What a committed batch did: how many events were counted and how many were duplicates.
public struct IngestReceipt: Sendable, Equatable, Codable {
    public var accepted: Int
    public var duplicates: Int
    /// True when this answer is the stored answer of an earlier request with the same idempotency key.
    public var replayed: Bool

    public init(accepted: Int, duplicates: Int, replayed: Bool = false) {
        self.accepted = accepted
        self.duplicates = duplicates
        self.replayed = replayed
    }
}
