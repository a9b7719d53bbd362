import TallyCore
import TallyStore
import Testing

@testable import TallyClickHouse

/// RowBinary, literals, exact halves and layout assignment: the pure parts, no server.
@Suite("ClickHouse encoding")
struct EncodingTests {
    @Test func rowBinaryRoundTrip() throws {
        var w = RowBinaryWriter()
        let strings = ["", "a", "caf\u{E9}", "cafe\u{301}", String(repeating: "x", count: 300), "tab\tnl\n\u{0}"]
        for s in strings { w.string(s) }
        w.int64(.min)
        w.int64(-1)
        w.uint64(.max)
        w.uint32(202_601)
        w.uint16(513)
        w.uint8(7)
        var r = RowBinaryReader(w.bytes)
        for s in strings { #expect(Array(try r.string().utf8) == Array(s.utf8)) }
        #expect(try r.int64() == .min)
        #expect(try r.int64() == -1)
        #expect(try r.uint64() == .max)
        #expect(try r.uint16() == UInt16(truncatingIfNeeded: 202_601))
        #expect(r.atEnd == false)
    }

    @Test func rowBinaryLayoutIsClickHouses() {
        var w = RowBinaryWriter()
        w.uint8(1)
        w.string("x")
        w.int64(-2)
        // As `SELECT 1, 'x', toInt64(-2) FORMAT RowBinary` answers on 18.16.
        #expect(w.bytes == [0x01, 0x01, 0x78, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        var long = RowBinaryWriter()
        long.string(String(repeating: "a", count: 200))
        #expect(Array(long.bytes.prefix(2)) == [0xC8, 0x01])
    }

    @Test func truncatedAnswersThrow() {
        for bytes in [[0x05, 0x61], [0x01, 0x02, 0x03], [0x80, 0x80]] as [[UInt8]] {
            var r = RowBinaryReader(bytes)
            #expect(throws: RowBinaryError.self) {
                _ = try r.string()
                _ = try r.int64()
            }
        }
    }

    @Test(arguments: [
        ("plain", "'plain'"), ("o'neil", "'o\\'neil'"), ("x'); --", "'x\\'); --'"), ("back\\slash", "'back\\\\slash'"),
        ("nl\n", "'nl\\x0A'"), ("z\u{FC}rich", "'z\u{FC}rich'"), ("", "''"),
    ])
    func literals(_ input: String, _ expected: String) {
        #expect(literal(input) == expected)
    }

    @Test func percentEncoding() {
        #expect(percentEncoded("SELECT 1 & 'a=b'") == "SELECT%201%20%26%20%27a%3Db%27")
        #expect(percentEncoded("ü") == "%C3%BC")
    }

    @Test(arguments: [
        (Int64(0), Int64(0), Int64(0)), (-1, 4_294_967_291, -5), (2_147_483_647, 4_294_967_295, .max), (-2_147_483_648, 0, .min),
        (1, 3, 4_294_967_299),
    ] as [(Int64, Int64, Int64)])
    func halvesJoinExactly(_ hi: Int64, _ lo: Int64, _ expected: Int64) {
        #expect(joinHalves(hi: hi, lo: lo) == expected)
    }

    @Test func halvesOutsideTheRangeAreNil() {
        #expect(joinHalves(hi: 2_147_483_648, lo: 0) == nil)
        #expect(joinHalves(hi: 2_147_483_647, lo: 4_294_967_296) == nil)
        #expect(joinHalves(hi: -2_147_483_648, lo: -1) == nil)
        // Two halves of Int64.max / 2 + 1 each, summed separately: 2^63.
        let half = Int64.max / 2 + 1
        #expect(joinHalves(hi: 2 * (half >> 32), lo: 2 * (half & 0xFFFF_FFFF)) == nil)
    }

    @Test func layoutKeepsColumnsAndFillsGaps() throws {
        let first = try #require(ColumnLayout.assign(existing: [:], names: ["a", "b", "c"], capacity: 4))
        #expect(first.columns == [0, 1, 2])
        let reordered = try #require(ColumnLayout.assign(existing: ["a": 0, "b": 1, "c": 2], names: ["c", "x", "a"], capacity: 4))
        #expect(reordered.columns == [2, 3, 0])
        #expect(reordered.added.map(\.0) == ["x"])
        #expect(ColumnLayout.assign(existing: ["a": 0, "b": 1], names: ["y", "z", "w"], capacity: 4) == nil)
    }

    @Test func databaseNames() {
        for ok in ["tally", "t_1", "_x", "Tally2026"] { #expect(ClickHouseTables.isValidDatabase(ok), "\(ok)") }
        for bad in ["", "1abc", "a-b", "a.b", "a b", "tally`; DROP", "ü", String(repeating: "a", count: 65)] {
            #expect(!ClickHouseTables.isValidDatabase(bad), "\(bad)")
        }
    }

    @Test func monthPartitionsAreUTC() {
        #expect(monthPartition(1_767_225_600) == 202_601)
        #expect(monthPartition(1_767_225_599) == 202_512)
        #expect(monthPartition(-1) == 196_912)
        #expect(monthPartition(0) == 197_001)
    }

    @Test func stableHashIsFNV1a() {
        #expect(stableHash("") == 0xcbf2_9ce4_8422_2325)
        #expect(stableHash("a") == 0xaf63_dc4c_8601_ec8c)
        #expect(stableHash("caf\u{E9}") != stableHash("cafe\u{301}"))
    }

    @Test func exactStringsKeepSpellingsApart() {
        let nfc = ExactString("caf\u{E9}"), nfd = ExactString("cafe\u{301}")
        #expect(nfc != nfd)
        #expect(Set([nfc, nfd, ExactString("caf\u{E9}")]).count == 2)
        #expect(ExactString("zu\u{308}rich") < ExactString("zv"))
        #expect(ExactString("B") < ExactString("a"))
    }
}

/// The SQL builders as (sql, external tables) pairs, no server.
@Suite("ClickHouse queries")
struct QueryBuilderTests {
    let layout = ColumnLayout(dimensionColumns: [1, 0], metricColumns: [2, 0])
    let tables = ClickHouseTables(database: "db", cluster: nil)

    @Test func aggregateWithoutNegativesSumsRowsInHalves() throws {
        let q = StoreQuery(accounts: ["a", "o'neil"], product: "api", tier: .hour, from: 0, to: 7_200, groupByAccount: true, groupBy: [1], filters: [0: ["eu", "x'"]])
        let (sql, external) = try #require(ClickHouseQueries.aggregate(q, layout: layout, tables: tables, signed: false))
        #expect(sql == """
            SELECT bucket, account, d0, sum(toInt64(bitShiftRight(m2, 32))), sum(toInt64(bitAnd(m2, 4294967295))), \
            sum(toInt64(bitShiftRight(m0, 32))), sum(toInt64(bitAnd(m0, 4294967295))) FROM db.usage WHERE kind = 2 AND account GLOBAL IN accounts \
            AND product = 'api' AND bucket >= 0 AND bucket < 7200 AND d1 GLOBAL IN f0 GROUP BY bucket, account, d0 ORDER BY bucket, account, d0 FORMAT RowBinary
            """)
        #expect(external.map(\.name) == ["accounts", "f0"])
        var accounts = RowBinaryReader(external[0].rows.bytes)
        #expect(try [accounts.string(), accounts.string()] == ["a", "o'neil"])
        #expect(accounts.atEnd)
    }

    @Test func aggregateAfterNegativesSumsEachCellFirst() throws {
        let q = StoreQuery(accounts: ["a"], product: "api", tier: .day, from: -86_400, to: 86_400)
        let (sql, _) = try #require(ClickHouseQueries.aggregate(q, layout: layout, tables: ClickHouseTables(database: "db", cluster: "c"), signed: true))
        #expect(sql == """
            SELECT bucket, sum(toInt64(bitShiftRight(c2, 32))), sum(toInt64(bitAnd(c2, 4294967295))), sum(toInt64(bitShiftRight(c0, 32))), \
            sum(toInt64(bitAnd(c0, 4294967295))) FROM (SELECT bucket, account, d0, d1, d2, d3, d4, d5, d6, d7, sum(m2) AS c2, sum(m0) AS c0 \
            FROM db.usage WHERE kind = 3 AND account GLOBAL IN accounts AND product = 'api' AND bucket >= -86400 AND bucket < 86400 \
            GROUP BY bucket, account, d0, d1, d2, d3, d4, d5, d6, d7) GROUP BY bucket ORDER BY bucket FORMAT RowBinary
            """)
    }

    @Test func queriesThatMatchNothingAreNotSent() {
        for q in [
            StoreQuery(accounts: [], product: "api", tier: .day, from: 0, to: 86_400),
            StoreQuery(accounts: ["a"], product: "api", tier: .day, from: 86_400, to: 86_400),
            StoreQuery(accounts: ["a"], product: "api", tier: .day, from: 0, to: 86_400, filters: [1: []]),
        ] {
            #expect(ClickHouseQueries.aggregate(q, layout: layout, tables: tables, signed: false) == nil)
        }
    }

    @Test func clusterTablesAndSchema() {
        let c = ClickHouseTables(database: "db", cluster: "tally_test")
        #expect(c.usageLocal == "db.usage_local" && c.usage == "db.usage")
        #expect(c.distributedSchema[1].hasSuffix("ENGINE = Distributed('tally_test', db, usage_local, shard_key)"))
        #expect(tables.usageLocal == "db.usage" && tables.distributedSchema.isEmpty)
        #expect(tables.shardSchema[1].contains("ENGINE = SummingMergeTree((n, m0, m1, m2, m3, m4, m5, m6, m7)) PARTITION BY month ORDER BY (kind, account, product, bucket, d0, d1, d2, d3, d4, d5, d6, d7)"))
    }
}
