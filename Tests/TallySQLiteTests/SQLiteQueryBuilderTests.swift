import TallyStore
import Testing

@testable import TallySQLite

/// `SQLiteQueryBuilder.aggregate` as (sql, arguments) pairs, with no database.
@Suite("SQLiteQueryBuilder")
struct SQLiteQueryBuilderTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var query: StoreQuery
        var layout: SQLiteUsageStore.Layout
        var sql: String
        var arguments: [SQLArgument]
        var testDescription: String { name }
    }

    static let from: Int64 = 1_767_225_600
    static let to: Int64 = 1_767_312_000

    static let cases: [Case] = [
        Case(
            name: "one account, no grouping",
            query: StoreQuery(accounts: ["acme"], product: "api", tier: .quarterHour, from: from, to: to),
            layout: .init(dimensionColumns: [0, 1], metricColumns: [0, 1, 2]),
            sql: "SELECT a.bucket, SUM(a.m0), SUM(a.m1), SUM(a.m2) FROM series s JOIN agg_900 a ON a.series = s.id"
                + " WHERE s.account IN (SELECT id FROM accounts WHERE name IN (?)) AND s.product = ? AND a.bucket >= ? AND a.bucket < ?"
                + " GROUP BY a.bucket ORDER BY a.bucket",
            arguments: [.text("acme"), .text("api"), .int(from), .int(to)]),
        Case(
            name: "by account and dimensions, through the layout's columns",
            query: StoreQuery(accounts: ["a", "b"], product: "api", tier: .hour, from: from, to: to, groupByAccount: true, groupBy: [1, 0]),
            layout: .init(dimensionColumns: [3, 5], metricColumns: [2, 0]),
            sql: "SELECT a.bucket, c.name, s.d5, s.d3, SUM(a.m2), SUM(a.m0) FROM series s JOIN agg_3600 a ON a.series = s.id JOIN accounts c ON c.id = s.account"
                + " WHERE s.account IN (SELECT id FROM accounts WHERE name IN (?, ?)) AND s.product = ? AND a.bucket >= ? AND a.bucket < ?"
                + " GROUP BY a.bucket, c.name, s.d5, s.d3 ORDER BY a.bucket, c.name, s.d5, s.d3",
            arguments: [.text("a"), .text("b"), .text("api"), .int(from), .int(to)]),
        Case(
            name: "filters in dimension order, values bound",
            query: StoreQuery(accounts: ["acme"], product: "api", tier: .day, from: from, to: to, filters: [2: ["x"], 0: ["eu", "us"]]),
            layout: .init(dimensionColumns: [4, 1, 6], metricColumns: [0]),
            sql: "SELECT a.bucket, SUM(a.m0) FROM series s JOIN agg_86400 a ON a.series = s.id"
                + " WHERE s.account IN (SELECT id FROM accounts WHERE name IN (?)) AND s.product = ? AND s.d4 IN (?, ?) AND s.d6 IN (?)"
                + " AND a.bucket >= ? AND a.bucket < ? GROUP BY a.bucket ORDER BY a.bucket",
            arguments: [.text("acme"), .text("api"), .text("eu"), .text("us"), .text("x"), .int(from), .int(to)]),
        Case(
            name: "group by a filtered dimension",
            query: StoreQuery(accounts: ["acme"], product: "storage", tier: .day, from: 0, to: 86_400, groupBy: [0], filters: [0: ["hot"]]),
            layout: .init(dimensionColumns: [7], metricColumns: [1]),
            sql: "SELECT a.bucket, s.d7, SUM(a.m1) FROM series s JOIN agg_86400 a ON a.series = s.id"
                + " WHERE s.account IN (SELECT id FROM accounts WHERE name IN (?)) AND s.product = ? AND s.d7 IN (?) AND a.bucket >= ? AND a.bucket < ?"
                + " GROUP BY a.bucket, s.d7 ORDER BY a.bucket, s.d7",
            arguments: [.text("acme"), .text("storage"), .text("hot"), .int(0), .int(86_400)]),
        Case(
            name: "no accounts and an empty filter match nothing",
            query: StoreQuery(accounts: [], product: "api", tier: .hour, from: from, to: to, filters: [1: []]),
            layout: .init(dimensionColumns: [0, 1], metricColumns: [0]),
            sql: "SELECT a.bucket, SUM(a.m0) FROM series s JOIN agg_3600 a ON a.series = s.id"
                + " WHERE s.account IN (SELECT id FROM accounts WHERE name IN ()) AND s.product = ? AND s.d1 IN () AND a.bucket >= ? AND a.bucket < ?"
                + " GROUP BY a.bucket ORDER BY a.bucket",
            arguments: [.text("api"), .int(from), .int(to)]),
        Case(
            name: "hostile values stay arguments",
            query: StoreQuery(accounts: ["x'); DROP TABLE series; --"], product: "p'q", tier: .quarterHour, from: -900, to: 0, filters: [0: ["' OR 1=1 --"]]),
            layout: .init(dimensionColumns: [2], metricColumns: [0]),
            sql: "SELECT a.bucket, SUM(a.m0) FROM series s JOIN agg_900 a ON a.series = s.id"
                + " WHERE s.account IN (SELECT id FROM accounts WHERE name IN (?)) AND s.product = ? AND s.d2 IN (?) AND a.bucket >= ? AND a.bucket < ?"
                + " GROUP BY a.bucket ORDER BY a.bucket",
            arguments: [.text("x'); DROP TABLE series; --"), .text("p'q"), .text("' OR 1=1 --"), .int(-900), .int(0)]),
    ]

    @Test(arguments: cases)
    func aggregate(_ c: Case) {
        let (sql, arguments) = SQLiteQueryBuilder.aggregate(c.query, layout: c.layout)
        #expect(sql == c.sql)
        #expect(arguments == c.arguments)
    }

    @Test(arguments: cases)
    func everyPlaceholderHasOneArgument(_ c: Case) {
        let (sql, arguments) = SQLiteQueryBuilder.aggregate(c.query, layout: c.layout)
        #expect(sql.filter { $0 == "?" }.count == arguments.count)
        #expect(!sql.contains("'"), "no value is spliced into the SQL")
    }

    @Test func filterOrderDoesNotChangeTheStatement() {
        let layout = SQLiteUsageStore.Layout(dimensionColumns: [0, 1, 2], metricColumns: [0])
        let a = StoreQuery(accounts: ["x"], product: "p", tier: .day, from: 0, to: 1, filters: [0: ["a"], 1: ["b"], 2: ["c"]])
        var b = a
        b.filters = [2: ["c"], 1: ["b"], 0: ["a"]]
        let built = (0..<20).map { _ in SQLiteQueryBuilder.aggregate([a, b].randomElement()!, layout: layout) }
        #expect(Set(built.map(\.0)).count == 1)
        #expect(built.allSatisfy { $0.1 == built[0].1 })
    }
}
