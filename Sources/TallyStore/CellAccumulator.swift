import TallyCore

/// The key of one 15-minute aggregate cell.
public struct CellKey: Hashable, Sendable {
    public var account: String
    public var product: String
    /// Epoch seconds of the quarter hour's start.
    public var quarter: Int64
    public var dimensions: [String]
}

/// Folds events into 15-minute cells before they reach a backend, deduplicating by event key.
public struct CellAccumulator: Sendable {
    public private(set) var cells: [CellKey: [Int64]] = [:]
    public private(set) var accepted = 0
    public private(set) var duplicates = 0

    public init() {}

    /// Adds an event to its cell; throws on Int64 overflow.
    public mutating func add(_ e: UsageEvent) throws(StoreError) {
        let key = CellKey(account: e.account, product: e.product, quarter: floorDiv(e.time, 900) * 900, dimensions: e.dimensions)
        try cells.addExactly(e.metrics, at: key)
        accepted += 1
    }

    public mutating func countDuplicate() { duplicates += 1 }

    /// Cells sorted by account, product, dimensions and time, for locality in B-tree inserts.
    public func sortedCells() -> [(CellKey, [Int64])] {
        cells.sorted { a, b in
            if a.key.account != b.key.account { return a.key.account < b.key.account }
            if a.key.product != b.key.product { return a.key.product < b.key.product }
            if a.key.dimensions != b.key.dimensions { return a.key.dimensions.lexicographicallyPrecedes(b.key.dimensions) }
            return a.key.quarter < b.key.quarter
        }
    }
}
