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
    /// The cell blocks a store query reads: its accounts' blocks of one product and tier whose
    /// bucket starts in `[from, to)`, as (account name, bucket, cells). Filters and grouping
    /// apply to the cells (`CellFold`).
    static func aggregate(_ q: StoreQuery) -> (String, [SQLArgument]) {
        var args: [SQLArgument] = q.accounts.map { .text($0) }
        let accountParams = Array(repeating: "?", count: q.accounts.count).joined(separator: ", ")
        args += [.text(q.product), .int(q.tier.seconds), .int(q.from), .int(q.to)]
        let sql = "SELECT c.name, b.bucket, b.cells FROM accounts c JOIN blocks b ON b.account = c.id"
            + " WHERE c.name IN (\(accountParams)) AND b.product = ? AND b.tier = ? AND b.bucket >= ? AND b.bucket < ?"
        return (sql, args)
    }
}
