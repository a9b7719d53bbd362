import TallyStore

/// A bound SQL argument.
enum SQLArgument: Equatable, Sendable {
    case int(Int64)
    case text(String)
}

extension Statement {
    /// Binds arguments to parameters 1, 2, ... in order.
    func bind(_ args: [SQLArgument]) {
        for (i, a) in args.enumerated() {
            switch a {
            case .int(let v): bind(Int32(i + 1), v)
            case .text(let v): bind(Int32(i + 1), v)
            }
        }
    }
}

/// Pure SQL builders, tested as (sql, arguments) pairs without a database.
enum SQLiteQueryBuilder {
    /// The aggregate read of a store query over its tier's table.
    static func aggregate(_ q: StoreQuery, layout: SQLiteUsageStore.Layout) -> (String, [SQLArgument]) {
        var args: [SQLArgument] = []
        var select = ["a.bucket"]
        var group = ["a.bucket"]
        if q.groupByAccount {
            select.append("c.name")
            group.append("c.name")
        }
        for g in q.groupBy {
            select.append("s.d\(layout.dimensionColumns[g])")
            group.append("s.d\(layout.dimensionColumns[g])")
        }
        select += layout.metricColumns.map { "SUM(a.m\($0))" }
        let accountParams = q.accounts.map { a -> String in
            args.append(.text(a))
            return "?"
        }
        var conditions = ["s.account IN (SELECT id FROM accounts WHERE name IN (\(accountParams.joined(separator: ", "))))"]
        args.append(.text(q.product))
        conditions.append("s.product = ?")
        for (dim, values) in q.filters.sorted(by: { $0.key < $1.key }) {
            let ps = values.map { v -> String in
                args.append(.text(v))
                return "?"
            }
            conditions.append("s.d\(layout.dimensionColumns[dim]) IN (\(ps.joined(separator: ", ")))")
        }
        args.append(.int(q.from))
        args.append(.int(q.to))
        conditions.append("a.bucket >= ? AND a.bucket < ?")
        let join = q.groupByAccount ? " JOIN accounts c ON c.id = s.account" : ""
        let sql = "SELECT \(select.joined(separator: ", ")) FROM series s JOIN agg_\(q.tier.seconds) a ON a.series = s.id\(join) WHERE \(conditions.joined(separator: " AND ")) GROUP BY \(group.joined(separator: ", ")) ORDER BY \(group.joined(separator: ", "))"
        return (sql, args)
    }
}
