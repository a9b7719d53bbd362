import TallyStore
import Testing

@testable import TallySQLite

/// `SQLiteQueryBuilder.aggregate` as (sql, arguments) pairs, with no database.
@Suite("SQLiteQueryBuilder")
struct SQLiteQueryBuilderTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var query: StoreQuery
        var sql: String
        var arguments: [SQLArgument]
        var testDescription: String { name }
    }

    static let from: Int64 = 1_767_225_600
    static let to: Int64 = 1_767_312_000
    static let select = "SELECT c.name, b.bucket, b.cells FROM accounts c JOIN blocks b ON b.account = c.id"

    static let cases: [Case] = [
        Case(
            name: "one account at the quarter-hour tier",
            query: StoreQuery(accounts: ["acme"], product: "api", tier: .quarterHour, from: from, to: to),
            sql: select + " WHERE c.name IN (?) AND b.product = ? AND b.tier = ? AND b.bucket >= ? AND b.bucket < ?",
            arguments: [.text("acme"), .text("api"), .int(900), .int(from), .int(to)]),
        Case(
            name: "grouping and filters do not change the blocks read",
            query: StoreQuery(accounts: ["a", "b"], product: "api", tier: .hour, from: from, to: to, groupByAccount: true, groupBy: [1, 0], filters: [0: ["eu"]]),
            sql: select + " WHERE c.name IN (?, ?) AND b.product = ? AND b.tier = ? AND b.bucket >= ? AND b.bucket < ?",
            arguments: [.text("a"), .text("b"), .text("api"), .int(3_600), .int(from), .int(to)]),
        Case(
            name: "no accounts match nothing",
            query: StoreQuery(accounts: [], product: "api", tier: .day, from: from, to: to),
            sql: select + " WHERE c.name IN () AND b.product = ? AND b.tier = ? AND b.bucket >= ? AND b.bucket < ?",
            arguments: [.text("api"), .int(86_400), .int(from), .int(to)]),
        Case(
            name: "hostile values stay arguments",
            query: StoreQuery(accounts: ["x'); DROP TABLE blocks; --"], product: "p'q", tier: .quarterHour, from: -900, to: 0, filters: [0: ["' OR 1=1 --"]]),
            sql: select + " WHERE c.name IN (?) AND b.product = ? AND b.tier = ? AND b.bucket >= ? AND b.bucket < ?",
            arguments: [.text("x'); DROP TABLE blocks; --"), .text("p'q"), .int(900), .int(-900), .int(0)]),
    ]

    @Test(arguments: cases)
    func aggregate(_ c: Case) {
        let (sql, arguments) = SQLiteQueryBuilder.aggregate(c.query)
        #expect(sql == c.sql)
        #expect(arguments == c.arguments)
    }

    @Test(arguments: cases)
    func everyPlaceholderHasOneArgument(_ c: Case) {
        let (sql, arguments) = SQLiteQueryBuilder.aggregate(c.query)
        #expect(sql.filter { $0 == "?" }.count == arguments.count)
        #expect(!sql.contains("'"), "no value is spliced into the SQL")
    }
}
