import Testing
import TallyCore
import TallyStore

@testable import TallyReports

/// `distinctValues` and `exclusions`, checked against sums computed straight from the events.
@Suite struct DistinctValuesTests {
    static let window = Fixture.windows[0]
    static let events = Fixture.events[0]

    static func query(_ accounts: [String] = Fixture.accounts) -> ReportQuery {
        var q = ReportQuery(accounts: accounts, product: "proxy", from: window.from, to: window.to)
        q.bucket = .total
        return q
    }

    /// Exact byte total of the events that pass a predicate (the oracle).
    static func bytes(_ keep: (UsageEvent) -> Bool) -> Int64 {
        events.filter { $0.product == "proxy" && keep($0) }.reduce(0) { $0 + $1.metrics[0] }
    }

    @Test func distinctValuesFollowAccountsAndFilters() async throws {
        let engine = Fixture.engine(try await Fixture.store(Self.events))
        let all = try await engine.distinctValues(of: "country", in: Self.query())
        #expect(all == Set(Self.events.filter { $0.product == "proxy" }.map { $0.dimensions[0] }).sorted())
        var https = Self.query(["a2"])
        https.filters = ["protocol": ["https"]]
        let expected = Set(Self.events.filter { $0.product == "proxy" && $0.account == "a2" && $0.dimensions[1] == "https" }.map { $0.dimensions[0] }).sorted()
        #expect(try await engine.distinctValues(of: "country", in: https) == expected)
        var empty = Self.query()
        empty.to = empty.from + 900
        empty.from -= 86400
        #expect(try await engine.distinctValues(of: "country", in: empty) == [])
    }

    @Test(arguments: [["us"], ["us", "de"], ["xx"], []])
    func exclusionsLeaveOutTheListedValues(_ rejected: [String]) async throws {
        let engine = Fixture.engine(try await Fixture.store(Self.events))
        var q = Self.query()
        q.exclusions = ["country": rejected]
        q.filters = ["protocol": ["http", "socks"]]
        let rows = try await engine.run(q).rows
        let expected = Self.bytes { !rejected.contains($0.dimensions[0]) && $0.dimensions[1] != "https" }
        #expect(rows.map { $0.values[0] } == [expected])
    }

    @Test func excludingEveryValueGivesNothingOrZeroFilledBuckets() async throws {
        let engine = Fixture.engine(try await Fixture.store(Self.events))
        var q = Self.query()
        q.exclusions = ["protocol": Fixture.protocols]
        #expect(try await engine.run(q).rows.isEmpty)
        q.bucket = .week
        q.fillGaps = true
        let filled = try await engine.run(q).rows
        #expect(!filled.isEmpty)
        #expect(filled.allSatisfy { $0.values.allSatisfy { $0 == 0 } })
    }

    @Test func exclusionsOfAnUnknownDimensionAreAProblem() async throws {
        var q = Self.query()
        q.exclusions = ["planet": ["mars"]]
        #expect(q.validate(catalog: Fixture.catalog).map(\.parameter) == ["exclude[planet]"])
    }
}
