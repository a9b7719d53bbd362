import TallyCore

extension ReportEngine {
    /// The values of `dimension` that have usage within a query's accounts, range and filters, sorted.
    ///
    /// Answered by the engine itself (one `total` bucket grouped by the dimension), so faces
    /// that list values (a vendor's "countries used") or exclude them need no query of their own.
    public func distinctValues(of dimension: String, in query: ReportQuery) async throws -> [String] {
        var q = query
        q.bucket = .total
        q.groupBy = [dimension]
        q.groupByAccount = false
        q.fillGaps = false
        q.sort = []
        q.metrics = []
        let result = try await run(q)
        return result.rows.map { $0.groups[0] }.sorted()
    }

    /// The query with every exclusion turned into an accepted-value filter: the values with
    /// usage in the range, minus the rejected ones (so stores only ever see `IN` filters).
    func resolvingExclusions(_ query: ReportQuery) async throws -> ReportQuery {
        guard !query.exclusions.isEmpty else { return query }
        var base = query
        base.exclusions = [:]
        var resolved = base
        for (dimension, rejected) in query.exclusions.sorted(by: { $0.key < $1.key }) {
            let rejectedSet = Set(rejected)
            resolved.filters[dimension] = try await distinctValues(of: dimension, in: base).filter { !rejectedSet.contains($0) }
        }
        return resolved
    }
}
