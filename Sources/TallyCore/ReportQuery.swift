/// One report request, whatever face it came from: the only input of the report engine.
public struct ReportQuery: Sendable, Equatable {
    public struct Sort: Sendable, Equatable {
        /// `start`, `account`, a group-by dimension or a metric.
        public var field: String
        public var descending: Bool
        public init(field: String, descending: Bool = false) {
            self.field = field
            self.descending = descending
        }
    }

    /// Accounts whose usage is summed (already resolved and authorized by the caller's face).
    public var accounts: [String]
    /// Keep accounts apart in the result (one row per account and group).
    public var groupByAccount = false
    public var product: String
    /// Epoch seconds, inclusive.
    public var from: Int64
    /// Epoch seconds, exclusive.
    public var to: Int64
    public var bucket: Bucket = .day
    public var zone: Zone = .utc
    public var weekStart: WeekStart = .monday
    public var groupBy: [String] = []
    /// Dimension → accepted values (OR within a dimension, AND across dimensions).
    public var filters: [String: [String]] = [:]
    /// Dimension → rejected values (AND with `filters`): usage whose value is listed is left out.
    public var exclusions: [String: [String]] = [:]
    /// Metrics to return, in order; empty means every metric of the product.
    public var metrics: [String] = []
    /// Emit a zero row for every bucket that has no usage (without group-by or account split).
    public var fillGaps = false
    public var sort: [Sort] = []

    public init(accounts: [String], product: String, from: Int64, to: Int64) {
        self.accounts = accounts
        self.product = product
        self.from = from
        self.to = to
    }

    /// Longest range a query may cover (about 100 years), which bounds every loop over it.
    public static let maxRange: Int64 = 100 * 366 * 86400

    /// Every problem of the query against the catalog, each tied to its parameter.
    public func validate(catalog: ProductCatalog) -> [QueryProblem] {
        var problems: [QueryProblem] = []
        guard let spec = catalog[product] else {
            return [QueryProblem("product", "unknown product \"\(product)\" (expected one of: \(catalog.names.joined(separator: ", ")))")]
        }
        if to <= from { problems.append(QueryProblem("to", "must be after from")) }
        if to - from > ReportQuery.maxRange { problems.append(QueryProblem("to", "range longer than 100 years")) }
        if floorMod(from, 900) != 0 { problems.append(QueryProblem("from", "must fall on a quarter hour (data is kept at 15-minute resolution)")) }
        if floorMod(to, 900) != 0 { problems.append(QueryProblem("to", "must fall on a quarter hour (data is kept at 15-minute resolution)")) }
        for g in groupBy where spec.dimensionIndex(g) == nil {
            problems.append(QueryProblem("group_by", "unknown dimension \"\(g)\" of \(product) (expected: \(spec.dimensions.joined(separator: ", ")))"))
        }
        if Set(groupBy).count != groupBy.count { problems.append(QueryProblem("group_by", "a dimension is listed twice")) }
        for f in filters.keys.sorted() where spec.dimensionIndex(f) == nil {
            problems.append(QueryProblem("filter[\(f)]", "unknown dimension \"\(f)\" of \(product) (expected: \(spec.dimensions.joined(separator: ", ")))"))
        }
        for f in exclusions.keys.sorted() where spec.dimensionIndex(f) == nil {
            problems.append(QueryProblem("exclude[\(f)]", "unknown dimension \"\(f)\" of \(product) (expected: \(spec.dimensions.joined(separator: ", ")))"))
        }
        for m in metrics where spec.metricIndex(m) == nil {
            problems.append(QueryProblem("metrics", "unknown metric \"\(m)\" of \(product) (expected: \(spec.metrics.map(\.name).joined(separator: ", ")))"))
        }
        let sortable = Set(["start", "account"] + groupBy + spec.metrics.map(\.name))
        for s in sort where !sortable.contains(s.field) {
            problems.append(QueryProblem("sort", "cannot sort by \"\(s.field)\" (expected one of: \(sortable.sorted().joined(separator: ", ")))"))
        }
        return problems
    }
}

/// A problem with one parameter of a query.
public struct QueryProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var parameter: String
    public var message: String
    public init(_ parameter: String, _ message: String) {
        self.parameter = parameter
        self.message = message
    }
    public var description: String { "\(parameter): \(message)" }
}

/// A report row: one bucket (clipped to the range), its group values and metric sums.
public struct ReportRow: Sendable, Equatable {
    public var start: Int64
    public var end: Int64
    public var account: String?
    public var groups: [String]
    /// Exact sums in each metric's smallest unit, in the order of `ReportResult.metrics`.
    public var values: [Int64]

    public init(start: Int64, end: Int64, account: String? = nil, groups: [String], values: [Int64]) {
        self.start = start
        self.end = end
        self.account = account
        self.groups = groups
        self.values = values
    }
}
